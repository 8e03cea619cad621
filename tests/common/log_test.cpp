// The log's file mode: lines appended to the file, and reopen() (what a
// SIGHUP handler calls after logrotate moved the file) sending the next lines
// to a new file at the same path, from a signal handler too.
#include "bmm/log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace bmm::log {
namespace {

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void on_hangup(int) { reopen(); }

TEST(log, file_then_reopen_after_rotation_including_from_a_signal_handler) {
    char tmpl[] = "/tmp/bmm-log-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    const std::string path = dir + "/bmm.log";

    std::string why;
    EXPECT_FALSE(to_file(dir + "/no/such/folder/x.log", &why));
    EXPECT_NE(why.find("cannot open log file"), std::string::npos) << why;

    ASSERT_TRUE(to_file(path, &why)) << why;
    info("test", "line one");
    std::filesystem::rename(path, path + ".1");
    info("test", "line two goes to the moved file until reopen");
    reopen();
    info("test", "line three");
    std::filesystem::rename(path, path + ".2");
    std::signal(SIGHUP, on_hangup);
    ASSERT_EQ(std::raise(SIGHUP), 0);
    info("test", "line four");

    const std::string first = slurp(path + ".1");
    const std::string second = slurp(path + ".2");
    const std::string third = slurp(path);
    EXPECT_NE(first.find("info  test: line one\n"), std::string::npos) << first;
    EXPECT_NE(first.find("line two"), std::string::npos) << first;
    EXPECT_EQ(first.find("line three"), std::string::npos) << first;
    EXPECT_NE(second.find("line three"), std::string::npos) << second;
    EXPECT_EQ(second.find("line four"), std::string::npos) << second;
    EXPECT_NE(third.find("line four"), std::string::npos) << third;
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bmm::log
