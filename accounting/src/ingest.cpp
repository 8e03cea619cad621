#include "bmm/accounting/ingest.hpp"

#include "bmm/log.hpp"
#include "bmm/node/rpc.hpp"
#include "bmm/target.hpp"
#include "bmm/uint256.hpp"

#include <simdjson.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <map>
#include <thread>

namespace bmm::accounting {

// ---------------------------------------------------------------------------
// 1. Reading records
// ---------------------------------------------------------------------------

namespace {

constexpr std::int64_t k_day_ms = 86400000;

bool parse_int(std::string_view s, std::int64_t& out) {
    if (s.empty()) return false;
    auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Text PostgreSQL can store: UTF-8 without NUL bytes.
bool storable(std::string_view s) {
    if (s.find('\0') != std::string_view::npos) return false;
    return simdjson::validate_utf8(s.data(), s.size());
}

// "2026-11-24 18:45:44.123+00" for a time in ms since 1970.
void append_time(std::string& out, std::int64_t ms) {
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    out += buf;
}

std::string day_text(std::int64_t day) {
    const std::time_t secs = static_cast<std::time_t>(day * 86400);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    return buf;
}

// The record's fields as a JSON object (for ingest_errors), bytes that are not
// UTF-8 replaced so that the row itself can always be stored.
std::string fields_json(const field_list& fields) {
    auto clean = [](std::string_view s) {
        std::string o;
        for (char c : s) o += (static_cast<unsigned char>(c) >= 0x80 || c == '\0') ? '?' : c;
        return o;
    };
    std::string s = "{";
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i) s += ',';
        s += '"';
        s += node::json_escape(storable(fields[i].first) ? std::string(fields[i].first) : clean(fields[i].first));
        s += "\":\"";
        s += node::json_escape(storable(fields[i].second) ? std::string(fields[i].second) : clean(fields[i].second));
        s += '"';
    }
    s += '}';
    return s;
}

// Field lookup by name over the (short) field list.
struct fields_view {
    const field_list& f;
    const std::string_view* get(std::string_view k) const {
        for (const auto& [key, v] : f)
            if (key == k) return &v;
        return nullptr;
    }
};

}  // namespace

struct ingestor::batch {
    std::string copy;  // shares rows in COPY text format
    std::size_t share_rows = 0;
    std::vector<std::vector<std::optional<std::string>>> blocks, errors;
    std::vector<std::string> ack_ids;
    stream_id last;  // the highest id of the round
    bool any = false;
    std::set<std::int64_t> days;
    std::map<std::string, std::string> names;  // account name -> coin, of this round's shares
    std::vector<std::pair<std::string, std::pair<std::string, std::string>>> auto_accounts;  // name, (currency, address)
    std::size_t skipped = 0;                   // entries at or below the stored last id
};

const std::string& ingestor::work_of(const std::string& target_hex) {
    auto it = work_cache_.find(target_hex);
    if (it != work_cache_.end()) return it->second;
    if (work_cache_.size() > 100000) work_cache_.clear();
    const auto t = uint256::from_hex(target_hex);
    return work_cache_[target_hex] = work_from_target(*t).to_decimal();
}

void ingestor::add_entry(batch& b, const stream_entry_view& e) {
    b.ack_ids.emplace_back(e.id_text);
    if (!b.any || b.last < e.id) b.last = e.id;
    b.any = true;
    if (e.id <= last_) {  // stored by an earlier transaction, not yet acknowledged
        ++b.skipped;
        return;
    }
    if (e.deleted) {
        log::warn("ingest", "{} entry {} was deleted from the stream before it was stored; nothing to store",
                  redis_.describe(), e.id_text);
        return;
    }
    const fields_view f{e.fields};
    std::string why;
    auto bad = [&](std::string reason) {
        b.errors.push_back({redis_.stream(), std::string(e.id_text), fields_json(e.fields), std::move(reason)});
    };
    const std::string_view* type = f.get("type");
    if (!type) return bad("no type field");
    for (const auto& [k, v] : e.fields)
        if (!storable(k) || !storable(v)) return bad("field " + std::string(k.substr(0, 40)) + " is not UTF-8 text");

    auto need = [&](const char* k) -> std::string_view {
        const std::string_view* v = f.get(k);
        if (!v && why.empty()) why = std::string("no ") + k + " field";
        return v ? *v : std::string_view();
    };
    if (*type == "share") {
        const std::string_view uid = need("uid"), instance = need("instance"), coin = need("coin"),
                               algorithm = need("algorithm"), account = need("account"), worker = need("worker"),
                               ip = need("ip"), job = need("job"), height = need("height"),
                               difficulty = need("difficulty"), target = need("target"), accepted = need("accepted"),
                               code = need("code"), reason = need("reason"), block = need("block"),
                               time_ms = need("time_ms");
        const std::string_view* hash = f.get("hash");
        if (!why.empty()) return bad(why);
        std::int64_t ms = 0, inst = 0, h = 0, c = 0;
        if (uid.empty()) return bad("empty uid");
        if (!parse_int(time_ms, ms) || ms <= 0) return bad("time_ms is not a positive integer");
        if (!parse_int(instance, inst)) return bad("instance is not an integer");
        if (!parse_int(height, h)) return bad("height is not an integer");
        if (!parse_int(code, c)) return bad("code is not an integer");
        if (accepted != "0" && accepted != "1") return bad("accepted is not 0 or 1");
        if (block != "0" && block != "1") return bad("block is not 0 or 1");
        const std::string diff(difficulty);
        char* end = nullptr;
        const double d = std::strtod(diff.c_str(), &end);
        if (diff.empty() || *end != '\0' || !(d >= 0)) return bad("difficulty is not a number");
        if (!target.empty() && (target.size() != 64 || !uint256::from_hex(target)))
            return bad("target is not 64 hex digits");
        if (accepted == "1" && target.empty()) return bad("an accepted share without a target");
        if (account.empty()) return bad("empty account");
        static const std::string zero = "0";
        const std::string& work = accepted == "1" ? work_of(std::string(target)) : zero;
        std::string& o = b.copy;
        append_time(o, ms);
        o += '\t';
        copy_escape(o, uid);
        o += '\t';
        o.append(e.id_text);
        o += '\t';
        o += std::to_string(inst);
        for (std::string_view v : {coin, algorithm, account, worker, ip, job}) {
            o += '\t';
            copy_escape(o, v);
        }
        o += '\t';
        o += std::to_string(h);
        o += '\t';
        o += diff;
        o += '\t';
        o.append(target);
        o += accepted == "1" ? "\tt\t" : "\tf\t";
        o += std::to_string(c);
        o += '\t';
        copy_escape(o, reason);
        o += block == "1" ? "\tt\t" : "\tf\t";
        if (hash) copy_escape(o, *hash);
        o += '\t';
        o += work;
        o += '\n';
        ++b.share_rows;
        b.days.insert(ms / k_day_ms);
        if (!known_accounts_.count(std::string(account))) b.names.emplace(account, coin);
    } else if (*type == "block") {
        const std::string_view uid = need("uid"), instance = need("instance"), coin = need("coin"),
                               height = need("height"), hash = need("hash"), account = need("account"),
                               worker = need("worker"), job = need("job"), reward = need("reward"),
                               accepted = need("accepted"), answer = need("answer"), time_ms = need("time_ms");
        if (!why.empty()) return bad(why);
        std::int64_t ms = 0, inst = 0, h = 0, rw = 0;
        if (uid.empty()) return bad("empty uid");
        if (!parse_int(time_ms, ms) || ms <= 0) return bad("time_ms is not a positive integer");
        if (!parse_int(instance, inst)) return bad("instance is not an integer");
        if (!parse_int(height, h)) return bad("height is not an integer");
        if (!parse_int(reward, rw) || rw < 0) return bad("reward is not a non-negative integer");
        if (accepted != "0" && accepted != "1") return bad("accepted is not 0 or 1");
        std::string t;
        append_time(t, ms);
        b.blocks.push_back({std::string(uid), std::string(e.id_text), t, std::to_string(inst), std::string(coin),
                            std::to_string(h), std::string(hash), std::string(account), std::string(worker),
                            std::string(job), std::to_string(rw), accepted == "1" ? "t" : "f", std::string(answer)});
    } else {
        bad("unknown record type \"" + std::string(type->substr(0, 40)) + "\"");
    }
}

// ---------------------------------------------------------------------------
// 2. Storing a round
// ---------------------------------------------------------------------------

namespace {

// The shares of the staging table that are new, and their rollups, in one
// statement. Returns the number of shares inserted. A uid twice in one round
// is caught by DO NOTHING too (it skips rows that conflict with rows the same
// statement inserted). Rollup rows are written in key order, so that two
// consumers of one group lock them in the same order and never deadlock.
constexpr const char* k_insert_shares = R"sql(
WITH ins AS (
    INSERT INTO shares
    SELECT * FROM shares_stage
    ON CONFLICT (uid, time) DO NOTHING
    RETURNING coin, account, worker, time, accepted, code, block, work
), agg AS (
    SELECT coin, account, worker, date_trunc('minute', time) AS minute,
           count(*) FILTER (WHERE accepted) AS accepted,
           count(*) FILTER (WHERE NOT accepted) AS rejected,
           count(*) FILTER (WHERE NOT accepted AND code NOT IN (21, 22, 23, 24, 25)) AS rejected_other,
           count(*) FILTER (WHERE NOT accepted AND code = 21) AS rejected_stale,
           count(*) FILTER (WHERE NOT accepted AND code = 22) AS rejected_duplicate,
           count(*) FILTER (WHERE NOT accepted AND code = 23) AS rejected_low_difficulty,
           count(*) FILTER (WHERE NOT accepted AND code = 24) AS rejected_unauthorized,
           count(*) FILTER (WHERE NOT accepted AND code = 25) AS rejected_not_subscribed,
           count(*) FILTER (WHERE block) AS blocks,
           sum(work) AS work
    FROM ins GROUP BY 1, 2, 3, 4
), up AS (
    INSERT INTO share_minutes AS m
    SELECT * FROM agg ORDER BY coin, account, worker, minute
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
    RETURNING 1
)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM up)
)sql";

}  // namespace

ingestor::ingestor(accountd_config cfg)
    : cfg_(std::move(cfg)),
      redis_(cfg_.redis.host, cfg_.redis.port, cfg_.redis.stream, cfg_.redis.group, cfg_.redis.consumer),
      validator_(cfg_.node) {}

void ingestor::disconnect() {
    redis_.disconnect();
    db_ = pg_connection();
}

result<bool> ingestor::connect() {
    if (!db_.is_open() || !db_.healthy()) {
        auto c = pg_connection::open(cfg_.postgres);
        if (!c) return error{c.error_message()};
        db_ = std::move(*c);
        if (auto r = db_.exec("CREATE TEMP TABLE shares_stage (LIKE shares) ON COMMIT DELETE ROWS"); !r)
            return error{r.error_message() + " (has `bmm-accountd migrate` run?)"};
        auto st = db_.exec("SELECT last_ms, last_seq FROM stream_state WHERE stream = $1 AND grp = $2 AND consumer = $3",
                           {cfg_.redis.stream, cfg_.redis.group, cfg_.redis.consumer});
        if (!st) return error{st.error_message()};
        last_ = st->rows() ? stream_id{static_cast<std::uint64_t>(st->integer(0, 0)),
                                       static_cast<std::uint64_t>(st->integer(0, 1))}
                           : stream_id{};
        days_ready_.clear();
        ahead_checked_day_ = -1;
        reading_pending_ = true;
        pending_from_ = "0";
    }
    if (!redis_.connected()) {
        if (auto r = redis_.connect(); !r) return r;
        reading_pending_ = true;
        pending_from_ = "0";
    }
    return true;
}

result<bool> ingestor::ensure_partitions_ahead() {
    const std::int64_t today =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count() /
        k_day_ms;
    if (today == ahead_checked_day_) return true;
    for (std::int64_t d = today; d <= today + cfg_.ingest.partition_days_ahead; ++d) {
        if (days_ready_.count(d)) continue;
        if (auto r = db_.exec("SELECT bmm_ensure_share_partition($1::date)", {day_text(d)}); !r) return error{r.error_message()};
        days_ready_.insert(d);
    }
    ahead_checked_day_ = today;
    return true;
}

result<bool> ingestor::resolve_accounts(batch& b) {
    if (b.names.empty()) return true;
    std::string arr = "{";
    bool first = true;
    for (const auto& [name, coin] : b.names) {
        if (!first) arr += ',';
        first = false;
        arr += '"';
        for (char c : name) {
            if (c == '"' || c == '\\') arr += '\\';
            arr += c;
        }
        arr += '"';
    }
    arr += '}';
    auto r = db_.exec("SELECT name FROM accounts WHERE name = ANY($1::text[])", {arr});
    if (!r) return error{r.error_message()};
    for (int i = 0; i < r->rows(); ++i) {
        known_accounts_.insert(r->text(i, 0));
        b.names.erase(r->text(i, 0));
    }
    if (!cfg_.ingest.auto_accounts) return true;
    static log::rate_limiter limiter(5, std::chrono::seconds(60));
    for (const auto& [name, coin] : b.names) {
        if (not_addresses_.count(name)) continue;
        auto c = validator_.classify(name);
        if (!c) {
            unsigned long dropped = 0;
            if (limiter.allow(&dropped))
                log::warn("ingest", "{}; the shares are stored, the account is made later ({} similar suppressed)",
                          c.error_message(), dropped);
            continue;
        }
        if (!*c) {
            if (not_addresses_.size() > 100000) not_addresses_.clear();
            not_addresses_.insert(name);
            continue;
        }
        b.auto_accounts.push_back({name, **c});
    }
    return true;
}

result<bool> ingestor::store(batch& b) {
    for (std::int64_t d : b.days) {
        if (days_ready_.count(d)) continue;
        if (auto r = db_.exec("SELECT bmm_ensure_share_partition($1::date)", {day_text(d)}); !r) return error{r.error_message()};
        days_ready_.insert(d);
    }
    if (auto r = resolve_accounts(b); !r) return r;
    if (auto r = db_.exec("BEGIN"); !r) return error{r.error_message()};
    auto fail = [&](const std::string& m) -> result<bool> {
        (void)db_.exec("ROLLBACK");
        return error{m};
    };
    std::uint64_t inserted = 0;
    if (b.share_rows) {
        if (auto r = db_.copy_in("COPY shares_stage FROM STDIN", b.copy); !r) return fail(r.error_message());
        auto r = db_.exec(k_insert_shares);
        if (!r) return fail(r.error_message());
        inserted = static_cast<std::uint64_t>(r->integer(0, 0));
    }
    std::uint64_t blocks = 0;
    for (const auto& blk : b.blocks) {
        auto r = db_.exec("INSERT INTO blocks_found (uid, stream_id, time, instance, coin, height, hash, account, worker, "
                          "job, reward, accepted, answer) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) "
                          "ON CONFLICT (uid) DO NOTHING",
                          blk);
        if (!r) return fail(r.error_message());
        blocks += static_cast<std::uint64_t>(r->affected());
    }
    for (const auto& e : b.errors) {
        auto r = db_.exec("INSERT INTO ingest_errors (stream, stream_id, fields, error) VALUES ($1, $2, $3::jsonb, $4) "
                          "ON CONFLICT DO NOTHING",
                          e);
        if (!r) return fail(r.error_message());
    }
    std::uint64_t made = 0;
    for (const auto& [name, wallet] : b.auto_accounts) {
        auto r = db_.exec("WITH a AS (INSERT INTO accounts (name, kind) VALUES ($1, 'address') "
                          "ON CONFLICT (name) DO NOTHING RETURNING name) "
                          "INSERT INTO wallets (account, currency, address, share_ppm) SELECT name, $2, $3, 1000000 FROM a",
                          {name, wallet.first, wallet.second});
        if (!r) return fail(r.error_message());
        made += static_cast<std::uint64_t>(r->affected());
    }
    if (b.any && last_ < b.last) {
        auto r = db_.exec("INSERT INTO stream_state (stream, grp, consumer, last_ms, last_seq, entries) "
                          "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (stream, grp, consumer) DO UPDATE SET "
                          "last_ms = EXCLUDED.last_ms, last_seq = EXCLUDED.last_seq, "
                          "entries = stream_state.entries + EXCLUDED.entries, updated_at = now()",
                          {cfg_.redis.stream, cfg_.redis.group, cfg_.redis.consumer, std::to_string(b.last.ms),
                           std::to_string(b.last.seq), std::to_string(b.ack_ids.size() - b.skipped)});
        if (!r) return fail(r.error_message());
    }
    if (auto r = db_.exec("COMMIT"); !r) {
        // The outcome is unknown (the connection may have died after the
        // server committed): reconnect and reload the stored last id.
        db_ = pg_connection();
        return error{r.error_message()};
    }
    if (last_ < b.last) last_ = b.last;
    for (const auto& [name, w] : b.auto_accounts) {
        known_accounts_.insert(name);
        log::info("ingest", "account {} made from its username ({} wallet {} at 100 %)", name, w.first, w.second);
    }
    stats_.shares += inserted;
    stats_.duplicates += (b.share_rows - inserted) + (b.blocks.size() - blocks) + b.skipped;
    stats_.blocks += blocks;
    stats_.bad += b.errors.size();
    stats_.accounts += made;
    ++stats_.batches;
    if (!b.errors.empty())
        log::warn("ingest", "{} unreadable record(s) kept in table ingest_errors (first: {} {})", b.errors.size(),
                  *b.errors[0][1], *b.errors[0][3]);
    for (std::size_t i = 0; i < b.blocks.size(); ++i)
        log::info("ingest", "block {} at height {} by {} stored", *b.blocks[i][6], *b.blocks[i][5], *b.blocks[i][7]);
    return true;
}

// ---------------------------------------------------------------------------
// 3. Rounds and the loop
// ---------------------------------------------------------------------------

result<std::size_t> ingestor::step(int block_ms) {
    if (auto c = connect(); !c) return error{c.error_message()};
    if (auto a = ensure_partitions_ahead(); !a) return error{a.error_message()};
    batch b;
    bool pending = reading_pending_;
    auto read = [&] {
        return redis_.read(pending ? pending_from_ : ">", cfg_.ingest.batch_size, pending ? 0 : block_ms,
                           [&](const stream_entry_view& e) { add_entry(b, e); });
    };
    const auto t0 = std::chrono::steady_clock::now();
    auto n = read();
    if (n && *n == 0 && pending) {
        reading_pending_ = pending = false;  // the pending entries are done: on to new ones
        n = read();
    }
    if (!n) return error{n.error_message()};
    if (*n == 0) return std::size_t{0};
    if (pending) pending_from_ = b.last.to_string();
    const auto t1 = std::chrono::steady_clock::now();
    if (auto s = store(b); !s) return error{s.error_message()};
    log::debug("ingest", "round of {} entries: read {:.1f} ms, stored in {:.1f} ms", *n,
               std::chrono::duration<double, std::milli>(t1 - t0).count(),
               std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count());
    if (auto a = redis_.ack(b.ack_ids, cfg_.ingest.delete_acked); !a)
        return error{a.error_message() + " (the entries are stored; they are acknowledged after the reconnect)"};
    stats_.entries += b.ack_ids.size();
    return *n;
}

int ingestor::run(const std::atomic<bool>& stop) {
    log::info("ingest", "reading {} as {}/{} into PostgreSQL {}", redis_.describe(), cfg_.redis.group,
              cfg_.redis.consumer, cfg_.postgres.describe());
    auto backoff = std::chrono::milliseconds(100);
    auto last_report = std::chrono::steady_clock::now();
    ingest_stats reported = stats_;
    bool failing = false;
    while (!stop.load()) {
        auto r = step(cfg_.ingest.block_ms);
        if (!r) {
            log::error("ingest", "{}; retrying in {} ms", r.error_message(), backoff.count());
            disconnect();
            failing = true;
            const auto until = std::chrono::steady_clock::now() + backoff;
            while (!stop.load() && std::chrono::steady_clock::now() < until)
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
            continue;
        }
        if (failing) log::info("ingest", "connected again; ingest resumed");
        failing = false;
        backoff = std::chrono::milliseconds(100);
        const auto now = std::chrono::steady_clock::now();
        if (now - last_report >= std::chrono::seconds(10)) {
            const double secs = std::chrono::duration<double>(now - last_report).count();
            log::info("ingest", "{} entries ({:.0f}/s), {} shares, {} duplicates, {} blocks, {} unreadable; last id {}",
                      stats_.entries - reported.entries,
                      static_cast<double>(stats_.entries - reported.entries) / secs, stats_.shares - reported.shares,
                      stats_.duplicates - reported.duplicates, stats_.blocks - reported.blocks,
                      stats_.bad - reported.bad, last_.to_string());
            reported = stats_;
            last_report = now;
        }
    }
    log::info("ingest", "stopping: {} entries, {} shares, {} duplicates skipped, {} blocks in this run", stats_.entries,
              stats_.shares, stats_.duplicates, stats_.blocks);
    disconnect();
    return 0;
}

}  // namespace bmm::accounting
