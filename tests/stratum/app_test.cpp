// node_label: the node's RPC URL as the metrics show it, host and port only,
// never the credentials or the path.

#include "bmm/stratum/app.hpp"

#include <gtest/gtest.h>

namespace bmm::stratum {
namespace {

TEST(node_label, keeps_host_and_port) {
    EXPECT_EQ(node_label("http://127.0.0.1:19332"), "127.0.0.1:19332");
    EXPECT_EQ(node_label("http://node.example:9332/"), "node.example:9332");
}

TEST(node_label, drops_credentials) {
    EXPECT_EQ(node_label("http://user:secret@127.0.0.1:19332"), "127.0.0.1:19332");
    // A password holding '@' still leaves nothing of itself in the label.
    EXPECT_EQ(node_label("http://user:p@ss@node:9332/wallet/x"), "node:9332");
}

TEST(node_label, drops_the_path) { EXPECT_EQ(node_label("https://node:9332/wallet/pool"), "node:9332"); }

TEST(node_label, takes_a_url_without_scheme) {
    EXPECT_EQ(node_label("node:9332"), "node:9332");
    EXPECT_EQ(node_label("rpc@node:9332/x"), "node:9332");
}

}  // namespace
}  // namespace bmm::stratum
