#include "bmm/accounting/block_store.hpp"

#include "store_sql.hpp"

#include "bmm/pg/transaction.hpp"

namespace bmm::accounting::block_store {

using ledger_store::book_report;
using ledger_store::insert_transfers;
using store_sql::join;
using store_sql::run;

result<bool> record_block(pg::connection& db, const block_row& b) {
    return pg::in_transaction(db, [&]() -> result<bool> {
        const std::vector<std::optional<std::string>> p{
            b.hash,   b.coin,     std::to_string(b.height),      to_decimal(b.reward),
            b.finder, b.found_at, std::to_string(b.found_epoch), std::to_string(b.epoch)};
        auto ins = run(db, join({"recording block ", b.hash}),
                       "INSERT INTO blocks (hash, coin, height, reward, finder, found_at, found_epoch, epoch) "
                       "VALUES ($1, $2, $3::bigint, $4::numeric, $5, $6::timestamptz, $7::bigint, $8::bigint) "
                       "ON CONFLICT (hash) DO NOTHING",
                       p);
        if (!ins) return error{ins.error_message()};
        auto same = run(db, "checking a block",
                        "SELECT coin = $2 AND height = $3::bigint AND reward = $4::numeric AND finder = $5 AND "
                        "found_at = $6::timestamptz AND found_epoch = $7::bigint AND epoch = $8::bigint "
                        "FROM blocks WHERE hash = $1",
                        p);
        if (!same) return error{same.error_message()};
        if (same->rows() != 1 || same->text(0, 0) != "t") {
            return error{join({"block ", b.hash, " is recorded already with other figures"})};
        }
        return true;
    });
}

result<book_report> book_block_status(pg::connection& db, std::string_view hash, std::string_view status,
                                      std::span<const transfer> ts) {
    if (status != "mature" && status != "orphaned") {
        return error{join({"block status must be mature or orphaned, not ", status})};
    }
    return pg::in_transaction(db, [&]() -> result<book_report> {
        const std::string h(hash);
        auto row = run(db, join({"locking block ", h}), "SELECT status FROM blocks WHERE hash = $1 FOR UPDATE", {h});
        if (!row) return error{row.error_message()};
        if (row->rows() != 1) return error{join({"block ", h, " is not in blocks; record it first"})};
        const std::string now = row->text(0, 0);
        if (now != "immature" && now != status) {
            return error{join({"block ", h, " is ", now, " already; it cannot become ", status})};
        }
        auto rep = insert_transfers(db, ts);
        if (!rep) return rep;
        auto upd = run(db, join({"setting block ", h, " ", status}),
                       "UPDATE blocks SET status = $2, status_at = now() WHERE hash = $1 AND status <> $2",
                       {h, std::string(status)});
        if (!upd) return error{upd.error_message()};
        return rep;
    });
}

result<std::vector<found_block>> new_pool_blocks(pg::connection& db, const std::string& coins) {
    auto r = run(db, "reading new blocks from blocks_found",
                 "SELECT DISTINCT ON (f.hash) f.hash, f.coin, f.height, f.reward, f.account, "
                 "(extract(epoch FROM f.time) * 1000)::bigint FROM blocks_found f "
                 "WHERE f.accepted AND f.coin = ANY($1::text[]) AND f.account <> '' "
                 "AND position(':' IN f.account) = 0 AND position(':' IN f.hash) = 0 "
                 "AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.hash = f.hash) ORDER BY f.hash, f.time",
                 {coins});
    if (!r) return error{r.error_message()};
    std::vector<found_block> out;
    for (int i = 0; i < r->rows(); ++i)
        out.push_back(
            {r->text(i, 0), r->text(i, 1), r->integer(i, 2), r->integer(i, 3), r->text(i, 4), r->integer(i, 5)});
    return out;
}

result<std::vector<std::pair<std::string, std::string>>> immature_of_closed_epochs(pg::connection& db) {
    auto r = run(db, "reading immature blocks",
                 "SELECT b.hash, b.coin FROM blocks b JOIN epochs e ON e.k = b.epoch "
                 "WHERE b.status = 'immature' AND e.closed_at IS NOT NULL ORDER BY b.found_at, b.hash");
    if (!r) return error{r.error_message()};
    std::vector<std::pair<std::string, std::string>> out;
    for (int i = 0; i < r->rows(); ++i) out.emplace_back(r->text(i, 0), r->text(i, 1));
    return out;
}

}  // namespace bmm::accounting::block_store
