#include "bmm/accounting/block_store.hpp"

#include "store_sql.hpp"

#include "bmm/pg/transaction.hpp"
#include "bmm/record/stream_record.hpp"

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
        if (!ins) {
            return error{ins.error_message()};
        }
        auto same = run(db, "checking a block",
                        "SELECT coin = $2 AND height = $3::bigint AND reward = $4::numeric AND finder = $5 AND "
                        "found_at = $6::timestamptz AND found_epoch = $7::bigint AND epoch = $8::bigint "
                        "FROM blocks WHERE hash = $1",
                        p);
        if (!same) {
            return error{same.error_message()};
        }
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
    return book_block_fate(db, hash, status, {"immature"}, ts);
}

result<std::vector<block_row>> blocks_of_epoch(pg::connection& db, std::uint64_t k) {
    const std::string ks = std::to_string(k);
    auto b = run(db, join({"epoch ", ks, ": reading its blocks"}),
                 "SELECT hash, coin, height, reward::text, finder, found_at::text, found_epoch, epoch, "
                 "resolution IS NOT DISTINCT FROM 'finder' FROM blocks "
                 "WHERE epoch = $1::bigint AND status <> 'parked' AND resolution IS DISTINCT FROM 'orphan' "
                 "ORDER BY hash",
                 {ks});
    if (!b) {
        return error{b.error_message()};
    }
    std::vector<block_row> out;
    for (int i = 0; i < b->rows(); ++i) {
        block_row r;
        r.hash = b->text(i, 0);
        r.coin = b->text(i, 1);
        r.height = static_cast<std::uint64_t>(b->integer(i, 2));
        auto reward = store_sql::read_amount(*b, i, 3, "blocks.reward");
        if (!reward) {
            return error{reward.error_message()};
        }
        r.reward = std::move(*reward);
        r.finder = b->text(i, 4);
        r.found_at = b->text(i, 5);
        r.found_epoch = static_cast<std::uint64_t>(b->integer(i, 6));
        r.epoch = static_cast<std::uint64_t>(b->integer(i, 7));
        r.split_to_finder = b->text(i, 8) == "t";
        out.push_back(std::move(r));
    }
    return out;
}

result<bool> record_found(pg::connection& db, const stream_block& b) {
    auto r = db.exec(
        "INSERT INTO blocks_found (uid, stream_id, time, instance, coin, height, hash, account, worker, "
        "job, reward, accepted, answer) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) "
        "ON CONFLICT (uid) DO NOTHING",
        {b.uid, b.stream_id, b.time, b.instance, b.coin, b.height, b.hash, b.account, b.worker, b.job, b.reward,
         b.accepted, b.answer});
    if (!r) {
        return error{r.error_message()};
    }
    return r->affected() > 0;
}

result<std::vector<found_block>> new_pool_blocks(pg::connection& db, const std::string& coins) {
    auto r = run(db, "reading new blocks from blocks_found",
                 "SELECT DISTINCT ON (f.hash) f.hash, f.coin, f.height, f.reward, f.account, "
                 "(extract(epoch FROM f.time) * 1000)::bigint FROM blocks_found f "
                 "WHERE f.accepted AND f.coin = ANY($1::text[]) AND f.account <> '' "
                 "AND position(':' IN f.account) = 0 AND position(':' IN f.hash) = 0 "
                 "AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.hash = f.hash) ORDER BY f.hash, f.time",
                 {coins});
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<found_block> out;
    for (int i = 0; i < r->rows(); ++i) {
        out.push_back(
            {r->text(i, 0), r->text(i, 1), r->integer(i, 2), r->integer(i, 3), r->text(i, 4), r->integer(i, 5)});
    }
    return out;
}

result<std::vector<unconfirmed_block>> unconfirmed_pool_blocks(pg::connection& db, const std::string& coins) {
    // restarted: a share stored from a later boot of the instance that wrote
    // the block's last record, so that process is gone and its answer to
    // submitblock never comes (uid = <instance>:<boot>:<seq>, boot in ms).
    // Asked only while the tracker still waits for the answer (the last
    // 70 s), so the scan of shares stays short.
    auto r = run(db, "reading unconfirmed blocks from blocks_found",
                 "WITH u AS (SELECT f.hash, min(f.coin) AS coin, min(f.height) AS height, min(f.reward) AS reward, "
                 "min(f.account) AS account, min(f.time) AS first_time, bool_or(f.answer <> $2) AS answered, "
                 "max(f.time) AS last_time, "
                 "(array_agg(f.answer ORDER BY f.time DESC, f.uid COLLATE \"C\" DESC))[1] AS answer, "
                 "(array_agg(f.uid ORDER BY f.time DESC, f.uid COLLATE \"C\" DESC))[1] AS last_uid "
                 "FROM blocks_found f "
                 "WHERE f.coin = ANY($1::text[]) AND f.account <> '' AND position(':' IN f.account) = 0 "
                 "AND position(':' IN f.hash) = 0 AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.hash = f.hash) "
                 "GROUP BY f.hash HAVING NOT bool_or(f.accepted)) "
                 "SELECT u.hash, u.coin, u.height, u.reward, u.account, "
                 "(extract(epoch FROM u.first_time) * 1000)::bigint, u.answered, "
                 "(extract(epoch FROM u.last_time) * 1000)::bigint, u.answer, "
                 "NOT u.answered AND u.last_time > now() - interval '70 seconds' AND u.last_uid ~ '^\\d+:\\d+:\\d+$' "
                 "AND EXISTS (SELECT 1 FROM shares s WHERE s.time >= u.last_time "
                 "AND s.instance = split_part(u.last_uid, ':', 1)::integer AND s.uid ~ '^\\d+:\\d+:\\d+$' "
                 "AND split_part(s.uid, ':', 2)::numeric > split_part(u.last_uid, ':', 2)::numeric) "
                 "FROM u ORDER BY u.first_time, u.hash",
                 {coins, std::string(record::k_block_answer_pending)});
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<unconfirmed_block> out;
    for (int i = 0; i < r->rows(); ++i) {
        unconfirmed_block u;
        u.block = {r->text(i, 0), r->text(i, 1), r->integer(i, 2), r->integer(i, 3), r->text(i, 4), r->integer(i, 5)};
        u.answered = r->text(i, 6) == "t";
        u.last_ms = r->integer(i, 7);
        u.answer = r->text(i, 8);
        u.restarted = r->text(i, 9) == "t";
        out.push_back(std::move(u));
    }
    return out;
}

result<std::vector<std::pair<std::string, std::string>>> immature_of_closed_epochs(pg::connection& db) {
    auto r = run(db, "reading immature blocks",
                 "SELECT b.hash, b.coin FROM blocks b JOIN epochs e ON e.k = b.epoch "
                 "WHERE b.status = 'immature' AND e.closed_at IS NOT NULL ORDER BY b.found_at, b.hash");
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<std::pair<std::string, std::string>> out;
    for (int i = 0; i < r->rows(); ++i) {
        out.emplace_back(r->text(i, 0), r->text(i, 1));
    }
    return out;
}

result<std::vector<followed_block>> followed_blocks(pg::connection& db, std::string_view coin,
                                                    std::int64_t settled_below) {
    auto r = run(
        db, join({"reading the ", coin, " blocks to follow"}),
        "SELECT b.hash, b.coin, b.height, b.status, b.orphan_readings, coalesce(b.orphan_reading_height, -1), "
        "coalesce((extract(epoch FROM b.unknown_since) * 1000)::bigint, -1) "
        "FROM blocks b JOIN epochs e ON e.k = b.epoch "
        "WHERE e.closed_at IS NOT NULL AND b.coin = $1 AND (b.status = 'immature' OR "
        "(b.status IN ('mature', 'orphaned') AND b.height >= $2::bigint AND b.resolution IS DISTINCT FROM 'orphan')) "
        "ORDER BY b.found_at, b.hash",
        {std::string(coin), std::to_string(settled_below)});
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<followed_block> out;
    for (int i = 0; i < r->rows(); ++i) {
        followed_block f;
        f.hash = r->text(i, 0);
        f.coin = r->text(i, 1);
        f.height = r->integer(i, 2);
        f.status = r->text(i, 3);
        f.orphan_readings = static_cast<int>(r->integer(i, 4));
        f.orphan_reading_height = r->integer(i, 5);
        f.unknown_since_ms = r->integer(i, 6);
        out.push_back(std::move(f));
    }
    return out;
}

result<bool> set_block_readings(pg::connection& db, std::string_view hash, int orphan_readings,
                                std::int64_t orphan_reading_height, std::int64_t unknown_since_ms) {
    auto r = run(db, join({"recording the node's readings of block ", hash}),
                 "UPDATE blocks SET orphan_readings = $2::integer, "
                 "orphan_reading_height = nullif($3::bigint, -1), "
                 "unknown_since = CASE WHEN $4::bigint < 0 THEN NULL ELSE to_timestamp($4::bigint / 1000.0) END "
                 "WHERE hash = $1",
                 {std::string(hash), std::to_string(orphan_readings), std::to_string(orphan_reading_height),
                  std::to_string(unknown_since_ms)});
    if (!r) {
        return error{r.error_message()};
    }
    return r->affected() > 0;
}

result<book_report> book_block_fate(pg::connection& db, std::string_view hash, std::string_view to,
                                    std::initializer_list<std::string_view> from, std::span<const transfer> ts) {
    return pg::in_transaction(db, [&]() -> result<book_report> {
        const std::string h(hash);
        auto row = run(db, join({"locking block ", h}), "SELECT status FROM blocks WHERE hash = $1 FOR UPDATE", {h});
        if (!row) {
            return error{row.error_message()};
        }
        if (row->rows() != 1) {
            return error{join({"block ", h, " is not in blocks; record it first"})};
        }
        const std::string now = row->text(0, 0);
        bool allowed = now == to;
        for (auto f : from) {
            allowed = allowed || now == f;
        }
        if (!allowed) {
            return error{join({"block ", h, " is ", now, " already; it cannot become ", to})};
        }
        auto rep = insert_transfers(db, ts);
        if (!rep) {
            return rep;
        }
        auto upd = run(db, join({"setting block ", h, " ", to}),
                       "UPDATE blocks SET status = $2, status_at = now(), orphan_readings = 0, "
                       "orphan_reading_height = NULL, unknown_since = NULL WHERE hash = $1 AND status <> $2",
                       {h, std::string(to)});
        if (!upd) {
            return error{upd.error_message()};
        }
        return rep;
    });
}

result<bool> park_block(pg::connection& db, std::string_view hash, std::string_view reason) {
    auto r = run(db, join({"parking block ", hash}),
                 "UPDATE blocks SET status = 'parked', status_at = now(), parked_reason = $2 "
                 "WHERE hash = $1 AND status = 'immature' AND NOT EXISTS "
                 "(SELECT 1 FROM ledger_transfers t WHERE t.reference = 'block:' || $1)",
                 {std::string(hash), std::string(reason)});
    if (!r) {
        return error{r.error_message()};
    }
    return r->affected() > 0;
}

result<std::vector<parked_block>> parked_blocks(pg::connection& db) {
    auto r = run(db, "reading the parked blocks",
                 "SELECT hash, coin, height, finder, found_at::text, coalesce(parked_reason, '') FROM blocks "
                 "WHERE status = 'parked' ORDER BY found_at, hash");
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<parked_block> out;
    for (int i = 0; i < r->rows(); ++i) {
        out.push_back({r->text(i, 0), r->text(i, 1), r->integer(i, 2), r->text(i, 3), r->text(i, 4), r->text(i, 5)});
    }
    return out;
}

result<std::string> resolve_parked_block(pg::connection& db, std::string_view hash, std::string_view finder) {
    return pg::in_transaction(db, [&]() -> result<std::string> {
        const std::string h(hash);
        auto row = run(db, join({"locking block ", h}), "SELECT status FROM blocks WHERE hash = $1 FOR UPDATE", {h});
        if (!row) {
            return error{row.error_message()};
        }
        if (row->rows() != 1) {
            return error{join({"block ", h, " is not in blocks (bmm-accountd block list shows the parked ones)"})};
        }
        if (row->text(0, 0) != "parked") {
            return error{join({"block ", h, " is ", row->text(0, 0), ", not parked: nothing to resolve"})};
        }
        if (finder.empty()) {
            auto upd = run(db, join({"resolving block ", h, " as an orphan"}),
                           "UPDATE blocks SET status = 'orphaned', status_at = now(), resolution = 'orphan' "
                           "WHERE hash = $1",
                           {h});
            if (!upd) {
                return error{upd.error_message()};
            }
            return std::string("orphaned: nothing is booked for it");
        }
        auto upd = run(db, join({"resolving block ", h, " with finder ", finder}),
                       "UPDATE blocks SET status = 'immature', status_at = now(), resolution = 'finder', finder = $2, "
                       "epoch = greatest(found_epoch, coalesce((SELECT min(k) FROM epochs WHERE closed_at IS NULL), "
                       "(SELECT max(k) + 1 FROM epochs), 0)) WHERE hash = $1 RETURNING epoch",
                       {h, std::string(finder)});
        if (!upd) {
            return error{upd.error_message()};
        }
        return join({"its miners' part goes to ", finder, " at the close of epoch ", upd->text(0, 0)});
    });
}

}  // namespace bmm::accounting::block_store
