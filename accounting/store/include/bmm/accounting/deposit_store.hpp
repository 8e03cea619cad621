#pragma once
// BMM deposits (sql/0019_bmm_deposits.sql): BMM bought outside the pool as the
// ERC-20 token and sent to it, booked to an account once per token transfer.

#include "bmm/accounting/amount.hpp"
#include "bmm/pg/connection.hpp"
#include "bmm/result.hpp"

#include <string>
#include <string_view>

namespace bmm::accounting::deposit_store {

struct deposit_report {
    bool booked = false;      // false: this txid was booked before, identically
    std::string transfer_id;  // bmm-deposit:<txid>
    std::string txid;         // lower case
};

// Books `value` BMM base units to `account` (alice, foundation:ecosystem) for
// the token transfer `txid` (0x + 64 hex digits), recorded as booked by `by`;
// one transaction. The same txid again with the same account and amount books
// nothing; with anything else it is refused. Refused too, changing nothing: an
// unknown account, a malformed txid, an amount <= 0, or more BMM than has left
// the pool through settled payouts and not come back (system:paid-out:BMM).
result<deposit_report> book_bmm_deposit(pg::connection& db, std::string_view account, const amount& value,
                                        std::string_view txid, std::string_view by);

}  // namespace bmm::accounting::deposit_store
