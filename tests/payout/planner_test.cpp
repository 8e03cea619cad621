// The planner's pure parts: dust thresholds by address type (Litecoin Core's
// GetDustThreshold at 30,000 litoshi/kvB) and the MWEB refusal's reason.
#include "bmm/payout/planner.hpp"

#include <gtest/gtest.h>

namespace bmm::payout {
namespace {

TEST(planner, dust_thresholds_by_address_type) {
    // scriptPubKey lengths: P2WPKH 22 (OP_0 <20>), P2PKH 25, P2SH 23, P2WSH and P2TR 34.
    EXPECT_EQ(dust_threshold(22, true), 2940);
    EXPECT_EQ(dust_threshold(25, false), 5460);
    EXPECT_EQ(dust_threshold(23, false), 5400);
    EXPECT_EQ(dust_threshold(34, true), 3300);
    // The spend size is what tells a witness program from the rest: 67 vs 148 bytes.
    EXPECT_EQ(dust_threshold(22, false) - dust_threshold(22, true), 30 * (148 - 67));
}

TEST(planner, mweb_refusal_names_the_reason) {
    const std::string why(k_mweb_refusal);
    EXPECT_NE(why.find("Litecoin Core 0.21.2 writes MWEB addresses into raw/PSBT transactions as an empty-script "
                       "output and allows one MWEB recipient per wallet transaction"),
              std::string::npos);
}

}  // namespace
}  // namespace bmm::payout
