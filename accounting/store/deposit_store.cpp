#include "bmm/accounting/deposit_store.hpp"

#include "bmm/accounting/ledger_model.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/pg/transaction.hpp"
#include "store_sql.hpp"

#include <algorithm>
#include <cctype>

namespace bmm::accounting::deposit_store {

using store_sql::join;
using store_sql::read_amount;
using store_sql::run;

namespace {

result<std::string> normalise_txid(std::string_view txid) {
    std::string t(txid);
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const bool ok = t.size() == 66 && t.rfind("0x", 0) == 0 && std::all_of(t.begin() + 2, t.end(), [](char c) {
                        return std::isxdigit(static_cast<unsigned char>(c));
                    });
    if (!ok) {
        return error{join({"\"", txid.substr(0, 80),
                           "\" is not a token transfer id: 0x and 64 hex digits, as the block explorer shows it"})};
    }
    return t;
}

}  // namespace

result<deposit_report> book_bmm_deposit(pg::connection& db, std::string_view account, const amount& value,
                                        std::string_view txid, std::string_view by) {
    auto t = normalise_txid(txid);
    if (!t) {
        return error{t.error_message()};
    }
    if (value <= 0) {
        return error{"a deposit is a positive number of BMM base units (1 BMM = 10^18)"};
    }
    if (by.empty()) {
        return error{"say who books the deposit (--by NAME)"};
    }
    auto holder = holder_ledger_accounts(account);
    if (!holder) {
        return error{holder.error_message()};
    }
    deposit_report out;
    out.txid = *t;
    out.transfer_id = "bmm-deposit:" + *t;
    const std::string amount_text = to_decimal(value);
    return pg::in_transaction(db, [&]() -> result<deposit_report> {
        // One deposit at a time: the paid-out check below reads what the
        // others write.
        if (auto l = run(db, "locking bmm_deposits", "LOCK TABLE bmm_deposits IN SHARE ROW EXCLUSIVE MODE"); !l) {
            return error{l.error_message()};
        }
        auto known = run(db, "reading the account", "SELECT 1 FROM accounts WHERE name = $1", {std::string(account)});
        if (!known) {
            return error{known.error_message()};
        }
        if (known->rows() == 0) {
            return error{join({"no account \"", account, "\" (bmm-accountd account list shows them)"})};
        }
        auto before =
            run(db, "reading earlier deposits", "SELECT account, amount::text FROM bmm_deposits WHERE txid = $1", {*t});
        if (!before) {
            return error{before.error_message()};
        }
        if (before->rows() > 0) {
            if (before->get(0, 0) == account && before->get(0, 1) == amount_text) {
                return out;  // booked before, the same
            }
            return error{join({"token transfer ", *t, " was booked before as ", before->get(0, 1), " to ",
                               before->get(0, 0), "; one transfer is one deposit"})};
        }
        auto out_there = run(
            db, "reading BMM paid out",
            "SELECT coalesce(sum(CASE WHEN credit = $1 THEN amount ELSE -amount END), 0)::text FROM ledger_transfers "
            "WHERE currency = 'BMM' AND (credit = $1 OR debit = $1)",
            {paid_out_account("BMM")});
        if (!out_there) {
            return error{out_there.error_message()};
        }
        auto left = read_amount(*out_there, 0, 0, "BMM paid out");
        if (!left) {
            return error{left.error_message()};
        }
        if (value > *left) {
            return error{join({"only ", to_decimal(*left),
                               " BMM base units have left the pool through settled payouts and not come back; a "
                               "deposit of ",
                               amount_text, " cannot be real (check the amount: base units, 18 decimals)"})};
        }
        auto ins =
            run(db, "recording the deposit",
                "INSERT INTO bmm_deposits (txid, account, amount, booked_by, transfer_id) VALUES ($1, $2, $3, $4, $5)",
                {*t, std::string(account), amount_text, std::string(by), out.transfer_id});
        if (!ins) {
            return error{ins.error_message()};
        }
        const transfer tr{out.transfer_id, paid_out_account("BMM"),    holder->available, "BMM",
                          value,           transfer_kind::bmm_deposit, out.transfer_id};
        auto b = ledger_store::insert_transfers(db, std::span<const transfer>(&tr, 1));
        if (!b) {
            return error{b.error_message()};
        }
        out.booked = true;
        return out;
    });
}

}  // namespace bmm::accounting::deposit_store
