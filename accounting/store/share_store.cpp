#include "bmm/accounting/share_store.hpp"

#include "store_sql.hpp"

#include "bmm/pg/text.hpp"

#include <cstdio>
#include <ctime>
#include <tuple>

namespace bmm::accounting::share_store {

using store_sql::join;
using store_sql::read_amount;
using store_sql::run;

namespace {

// "2026-11-24": a UTC day (since 1970) as PostgreSQL reads a date.
std::string day_text(std::int64_t day) {
    const std::time_t secs = static_cast<std::time_t>(day * 86400);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    return buf;
}

// A statement whose error is PostgreSQL's message unchanged (the ingest's
// steps: the caller says what failed around it).
result<pg::row_set> plain(pg::connection& db, std::string_view sql,
                          const std::vector<std::optional<std::string>>& params = {}) {
    auto r = params.empty() ? db.exec(sql) : db.exec(sql, params);
    if (!r) {
        return error{r.error_message()};
    }
    return r;
}

// Rollup rows of a round are upserted from a staging table, in key order, so
// that two consumers of one group lock them in the same order and never
// deadlock. Work arrives as low 256 bits plus a count of 2^256 carries.
constexpr const char* k_upsert_minutes = R"sql(
INSERT INTO share_minutes AS m
SELECT coin, account, worker, minute, accepted, rejected, rejected_other, rejected_stale, rejected_duplicate,
       rejected_low_difficulty, rejected_unauthorized, rejected_not_subscribed, blocks,
       work_low + work_carry * 115792089237316195423570985008687907853269984665640564039457584007913129639936
FROM minutes_stage ORDER BY coin, account, worker, minute
ON CONFLICT (coin, account, worker, minute) DO UPDATE SET
    accepted = m.accepted + EXCLUDED.accepted,
    rejected = m.rejected + EXCLUDED.rejected,
    rejected_other = m.rejected_other + EXCLUDED.rejected_other,
    rejected_stale = m.rejected_stale + EXCLUDED.rejected_stale,
    rejected_duplicate = m.rejected_duplicate + EXCLUDED.rejected_duplicate,
    rejected_low_difficulty = m.rejected_low_difficulty + EXCLUDED.rejected_low_difficulty,
    rejected_unauthorized = m.rejected_unauthorized + EXCLUDED.rejected_unauthorized,
    rejected_not_subscribed = m.rejected_not_subscribed + EXCLUDED.rejected_not_subscribed,
    blocks = m.blocks + EXCLUDED.blocks,
    work = m.work + EXCLUDED.work
)sql";

// The epoch's shares (epoch_shares), as a WHERE clause on shares with
// $1 from, $2 to, $3 coins, $4 k.
constexpr const char* k_epoch_shares_where =
    "WHERE accepted AND ((time >= $1::timestamptz AND time < $2::timestamptz AND late_epoch IS NULL) "
    "OR late_epoch = $4::bigint) "
    "AND coin = ANY($3::text[]) AND account <> '' AND position(':' IN account) = 0 ";

std::vector<std::optional<std::string>> epoch_params(const epoch_shares& s) {
    return {pg::timestamp_text(s.from_ms), pg::timestamp_text(s.to_ms), s.coins, std::to_string(s.k)};
}

}  // namespace

// ---------------------------------------------------------------------------
// The ingest
// ---------------------------------------------------------------------------

result<bool> prepare_ingest_session(pg::connection& db) {
    auto r = plain(db,
                   "CREATE TEMP TABLE minutes_stage (coin text, account text, worker text, "
                   "minute timestamptz, accepted bigint, rejected bigint, rejected_other bigint, "
                   "rejected_stale bigint, rejected_duplicate bigint, rejected_low_difficulty bigint, "
                   "rejected_unauthorized bigint, rejected_not_subscribed bigint, blocks bigint, "
                   "work_low numeric, work_carry bigint) ON COMMIT DELETE ROWS");
    if (!r) {
        return error{r.error_message()};
    }
    return true;
}

result<std::optional<stream_position>> load_position(pg::connection& db, const consumer& c) {
    auto st = plain(db, "SELECT last_ms, last_seq FROM stream_state WHERE stream = $1 AND grp = $2 AND consumer = $3",
                    {c.stream, c.group, c.name});
    if (!st) {
        return error{st.error_message()};
    }
    if (st->rows() == 0) {
        return std::optional<stream_position>();
    }
    return std::optional<stream_position>(
        stream_position{static_cast<std::uint64_t>(st->integer(0, 0)), static_cast<std::uint64_t>(st->integer(0, 1))});
}

result<bool> save_position(pg::connection& db, const consumer& c, stream_position last, std::uint64_t entries) {
    auto r =
        plain(db,
              "INSERT INTO stream_state (stream, grp, consumer, last_ms, last_seq, entries) "
              "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (stream, grp, consumer) DO UPDATE SET "
              "last_ms = EXCLUDED.last_ms, last_seq = EXCLUDED.last_seq, "
              "entries = stream_state.entries + EXCLUDED.entries, updated_at = now()",
              {c.stream, c.group, c.name, std::to_string(last.ms), std::to_string(last.seq), std::to_string(entries)});
    if (!r) {
        return error{r.error_message()};
    }
    return true;
}

result<std::int64_t> group_stored_ms(pg::connection& db, std::string_view stream, std::string_view group) {
    auto r = run(db, "reading stream_state",
                 "SELECT coalesce(max(last_ms), 0) FROM stream_state WHERE stream = $1 AND grp = $2",
                 {std::string(stream), std::string(group)});
    if (!r) {
        return error{r.error_message()};
    }
    return static_cast<std::int64_t>(r->integer(0, 0));
}

result<bool> ensure_day(pg::connection& db, std::int64_t day) {
    if (auto r = plain(db, "SELECT bmm_ensure_share_partition($1::date)", {day_text(day)}); !r) {
        return error{r.error_message()};
    }
    return true;
}

result<std::vector<std::string>> drop_days_before(pg::connection& db, std::int64_t day) {
    auto r = plain(db, "SELECT bmm_drop_share_partitions_before($1::date)", {day_text(day)});
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<std::string> dropped;
    for (int i = 0; i < r->rows(); ++i) {
        dropped.push_back(r->text(i, 0));
    }
    return dropped;
}

result<std::optional<needed_shares>> shares_needed_before(
    pg::connection& db, std::int64_t cutoff_ms, std::uint64_t first_open, std::int64_t open_start_ms,
    const std::vector<std::pair<std::string, std::uint64_t>>& pplns) {
    std::optional<needed_shares> need;
    const auto keep = [&](std::int64_t ms, std::string why) {
        if (ms < cutoff_ms && (!need || ms < need->from_ms)) {
            need = needed_shares{ms, std::move(why)};
        }
    };
    keep(open_start_ms, "epoch " + std::to_string(first_open) + " (from " + pg::timestamp_text(open_start_ms) +
                            ") is not closed yet and counts its shares at its close");
    auto late = plain(db,
                      "SELECT (extract(epoch FROM min(time)) * 1000)::bigint FROM shares "
                      "WHERE time < $1::timestamptz AND late_epoch >= $2::bigint",
                      {pg::timestamp_text(cutoff_ms), std::to_string(first_open)});
    if (!late) {
        return error{"reading the late shares of the open epochs: " + late.error_message()};
    }
    if (!late->is_null(0, 0)) {
        keep(late->integer(0, 0), "shares stored late count in open epoch " + std::to_string(first_open) +
                                      " or later (shares.late_epoch) and are read at its close");
    }
    auto oldest = oldest_kept_day_ms(db);
    if (!oldest) {
        return error{"reading the oldest day of shares: " + oldest.error_message()};
    }
    for (const auto& [coin, n_ppm] : pplns) {
        auto blocks = plain(db,
                            "SELECT hash FROM blocks WHERE coin = $1 AND epoch >= $2::bigint AND status <> 'parked' "
                            "AND resolution IS NULL ORDER BY found_at",
                            {coin, std::to_string(first_open)});
        if (!blocks) {
            return error{"reading the blocks not yet split: " + blocks.error_message()};
        }
        for (int i = 0; i < blocks->rows(); ++i) {
            const std::string hash = blocks->text(i, 0);
            auto f = find_block_share(db, hash, coin);
            if (!f) {
                return error{"finding the share of block " + hash + ": " + f.error_message()};
            }
            if (!*f || !(*f)->network_work) {
                continue;  // it cannot be split by pplns (it is parked at the close): no window to keep
            }
            const std::string why = coin + " block " + hash + " (pplns, not split until epoch " +
                                    std::to_string(first_open) + " or later closes) needs its window of " +
                                    std::to_string(n_ppm) + " ppm of network work back from its share at " +
                                    pg::timestamp_text((*f)->ms);
            if ((*f)->ms < cutoff_ms) {
                keep(*oldest, why);
                continue;
            }
            auto covered = plain(db,
                                 "SELECT coalesce(sum(work), 0) >= div($4::numeric * $5::numeric, 1000000) FROM shares "
                                 "WHERE accepted AND coin = $1 AND account <> '' AND position(':' IN account) = 0 "
                                 "AND time >= $2::timestamptz AND time <= $3::timestamptz "
                                 "AND (time, uid COLLATE \"C\") <= ($3::timestamptz, $6 COLLATE \"C\")",
                                 {coin, pg::timestamp_text(cutoff_ms), pg::timestamp_text((*f)->ms),
                                  *(*f)->network_work, std::to_string(n_ppm), (*f)->uid});
            if (!covered) {
                return error{"summing the window of block " + hash + ": " + covered.error_message()};
            }
            if (covered->text(0, 0) != "t") {
                keep(*oldest, why);
            }
        }
    }
    return need;
}

result<bool> copy_round(pg::connection& db, std::string_view rows) {
    if (auto r = plain(db, "SAVEPOINT round_shares"); !r) {
        return error{r.error_message()};
    }
    if (auto r = db.copy_in("COPY shares FROM STDIN", rows); !r) {
        if (db.last_sqlstate() != "23505") {
            return error{r.error_message()};  // not a unique violation
        }
        if (auto rb = plain(db, "ROLLBACK TO SAVEPOINT round_shares"); !rb) {
            return error{rb.error_message()};
        }
        return false;
    }
    return true;
}

result<bool> copy_shares(pg::connection& db, std::string_view rows) {
    if (auto r = db.copy_in("COPY shares FROM STDIN", rows); !r) {
        return error{r.error_message()};
    }
    return true;
}

result<std::unordered_set<std::string>> stored_uids(pg::connection& db, const std::string& uids, std::int64_t from_ms,
                                                    std::int64_t to_ms) {
    auto found = plain(db, "SELECT uid FROM shares WHERE time >= $2 AND time <= $3 AND uid = ANY($1::text[])",
                       {uids, pg::timestamp_text(from_ms), pg::timestamp_text(to_ms)});
    if (!found) {
        return error{found.error_message()};
    }
    std::unordered_set<std::string> stored;
    for (int i = 0; i < found->rows(); ++i) {
        stored.insert(found->text(i, 0));
    }
    return stored;
}

result<std::uint64_t> mark_late(pg::connection& db, std::uint64_t epoch, std::int64_t from_ms, std::int64_t before_ms,
                                const std::string& uids) {
    auto u = plain(db,
                   "UPDATE shares SET late_epoch = $1::bigint WHERE time >= $2::timestamptz "
                   "AND time < $3::timestamptz AND uid = ANY($4::text[])",
                   {std::to_string(epoch), pg::timestamp_text(from_ms), pg::timestamp_text(before_ms), uids});
    if (!u) {
        return error{u.error_message()};
    }
    return static_cast<std::uint64_t>(u->affected());
}

result<std::unordered_set<std::int64_t>> count_records(pg::connection& db, std::int64_t instance, std::int64_t boot,
                                                       const std::string& seqs, const std::string& times,
                                                       const std::string& stream_ms) {
    auto r = plain(db,
                   "SELECT unnest(bmm_count_records($1::bigint, $2::bigint, $3::bigint[], $4::timestamptz[], "
                   "$5::bigint[]))",
                   {std::to_string(instance), std::to_string(boot), seqs, times, stream_ms});
    if (!r) {
        return error{r.error_message()};
    }
    std::unordered_set<std::int64_t> fresh;
    fresh.reserve(static_cast<std::size_t>(r->rows()));
    for (int i = 0; i < r->rows(); ++i) {
        fresh.insert(r->integer(i, 0));
    }
    return fresh;
}

result<bool> add_minutes(pg::connection& db, const minute_sums& sums) {
    if (sums.empty()) {
        return true;
    }
    std::string rows;
    for (const auto& [key, x] : sums) {
        rows += key.first;
        rows += '\t';
        pg::append_timestamp(rows, key.second);
        for (std::int64_t v : {x.accepted, x.rejected, x.by_code[0], x.by_code[1], x.by_code[2], x.by_code[3],
                               x.by_code[4], x.by_code[5], x.blocks}) {
            rows += '\t';
            rows += std::to_string(v);
        }
        rows += '\t';
        rows += x.work_low.to_decimal();
        rows += '\t';
        rows += std::to_string(x.work_carry);
        rows += '\n';
    }
    if (auto r = db.copy_in("COPY minutes_stage FROM STDIN", rows); !r) {
        return error{r.error_message()};
    }
    if (auto r = plain(db, k_upsert_minutes); !r) {
        return error{r.error_message()};
    }
    return true;
}

result<bool> record_ingest_error(pg::connection& db, const ingest_error& e) {
    auto r = plain(db,
                   "INSERT INTO ingest_errors (stream, stream_id, fields, error) VALUES ($1, $2, $3::jsonb, $4) "
                   "ON CONFLICT DO NOTHING",
                   {e.stream, e.stream_id, e.fields_json, e.error});
    if (!r) {
        return error{r.error_message()};
    }
    return true;
}

// ---------------------------------------------------------------------------
// The epoch closer
// ---------------------------------------------------------------------------

result<std::map<std::string, std::map<std::string, amount>>> work_by_account(pg::connection& db,
                                                                             const epoch_shares& s) {
    auto w = run(db, join({"epoch ", std::to_string(s.k), ": reading the shares' work"}),
                 std::string("SELECT account, coin, sum(work)::text FROM shares ") + k_epoch_shares_where +
                     "GROUP BY account, coin HAVING sum(work) > 0",
                 epoch_params(s));
    if (!w) {
        return error{w.error_message()};
    }
    std::map<std::string, std::map<std::string, amount>> out;
    for (int i = 0; i < w->rows(); ++i) {
        auto a = read_amount(*w, i, 2, "shares.work");
        if (!a) {
            return error{a.error_message()};
        }
        out[w->text(i, 0)][w->text(i, 1)] = std::move(*a);
    }
    return out;
}

result<std::vector<pps_group>> pps_groups(pg::connection& db, const epoch_shares& s) {
    auto p = run(db, join({"epoch ", std::to_string(s.k), ": reading the pps shares"}),
                 std::string("SELECT account, coin, network_work::text, reward::text, sum(work)::text, "
                             "bool_or(network_work IS NULL OR reward IS NULL) FROM shares ") +
                     k_epoch_shares_where +
                     "GROUP BY account, coin, network_work, reward HAVING sum(work) > 0 ORDER BY 1, 2, 3, 4",
                 epoch_params(s));
    if (!p) {
        return error{p.error_message()};
    }
    std::vector<pps_group> out;
    out.reserve(static_cast<std::size_t>(p->rows()));
    for (int i = 0; i < p->rows(); ++i) {
        pps_group g;
        g.account = p->text(i, 0);
        g.coin = p->text(i, 1);
        for (auto [col, field, what] :
             {std::tuple{2, &g.network_work, "shares.network_work"}, std::tuple{3, &g.reward, "shares.reward"}}) {
            if (p->is_null(i, col)) {
                continue;
            }
            auto v = read_amount(*p, i, col, what);
            if (!v) {
                return error{v.error_message()};
            }
            *field = std::move(*v);
        }
        auto w = read_amount(*p, i, 4, "shares.work");
        if (!w) {
            return error{w.error_message()};
        }
        g.work = std::move(*w);
        out.push_back(std::move(g));
    }
    return out;
}

result<std::optional<finding_share>> find_block_share(pg::connection& db, std::string_view hash,
                                                      std::string_view coin) {
    auto f = plain(db,
                   "SELECT (extract(epoch FROM s.time) * 1000)::bigint, s.uid, s.network_work::text FROM shares s "
                   "WHERE s.block_hash = $1 AND s.coin = $2 ORDER BY s.time, s.uid COLLATE \"C\" LIMIT 1",
                   {std::string(hash), std::string(coin)});
    if (!f) {
        return error{f.error_message()};
    }
    if (f->rows() == 0) {
        return std::optional<finding_share>();
    }
    finding_share s;
    s.ms = f->integer(0, 0);
    s.uid = f->text(0, 1);
    if (!f->is_null(0, 2)) {
        s.network_work = f->text(0, 2);
    }
    return std::optional<finding_share>(std::move(s));
}

result<std::int64_t> oldest_kept_day_ms(pg::connection& db) {
    auto oldest = plain(db,
                        "SELECT (extract(epoch FROM coalesce(min(to_date(substr(c.relname, 8), 'YYYYMMDD')), "
                        "current_date)::timestamp AT TIME ZONE 'UTC') * 1000)::bigint "
                        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                        "WHERE i.inhparent = 'shares'::regclass AND c.relname ~ '^shares_[0-9]{8}$'");
    if (!oldest) {
        return error{oldest.error_message()};
    }
    return static_cast<std::int64_t>(oldest->integer(0, 0));
}

result<bool> window_slice(pg::connection& db, std::string_view coin, std::int64_t lo_ms, std::int64_t end_ms,
                          std::optional<std::string_view> through_uid,
                          const std::function<bool(std::string_view account, std::string_view work)>& row) {
    std::vector<std::optional<std::string>> params{std::string(coin), pg::timestamp_text(lo_ms),
                                                   pg::timestamp_text(end_ms)};
    if (through_uid) {
        params.emplace_back(std::string(*through_uid));
    }
    auto r =
        plain(db,
              std::string("SELECT account, work::text FROM shares WHERE accepted AND coin = $1 "
                          "AND account <> '' AND position(':' IN account) = 0 AND time >= $2::timestamptz AND ") +
                  (through_uid
                       ? "time <= $3::timestamptz AND (time, uid COLLATE \"C\") <= ($3::timestamptz, $4 COLLATE \"C\")"
                       : "time < $3::timestamptz") +
                  " ORDER BY time DESC, uid COLLATE \"C\" DESC",
              params);
    if (!r) {
        return error{r.error_message()};
    }
    for (int i = 0; i < r->rows(); ++i) {
        if (!row(r->get(i, 0), r->get(i, 1))) {
            break;
        }
    }
    return true;
}

}  // namespace bmm::accounting::share_store
