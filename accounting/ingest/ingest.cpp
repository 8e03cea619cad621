#include "bmm/accounting/ingest.hpp"
#include "bmm/accounting/block_store.hpp"
#include "bmm/accounting/epoch_store.hpp"
#include "bmm/accounting/process_counters.hpp"
#include "bmm/accounting/share_store.hpp"
#include "bmm/accounting/wallet_binding.hpp"

#include "bmm/log.hpp"
#include "bmm/node/rpc.hpp"
#include "bmm/pg/retry.hpp"
#include "bmm/pg/text.hpp"
#include "bmm/pg/transaction.hpp"
#include "bmm/record/stream_record.hpp"
#include "bmm/target.hpp"
#include "bmm/uint256.hpp"

#include <simdjson.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace bmm::accounting {

using pg::append_timestamp;
using pg::copy_escape;
using pg::timestamp_text;

// ---------------------------------------------------------------------------
// 1. Reading records
// ---------------------------------------------------------------------------

namespace {

constexpr std::int64_t k_day_ms = 86400000;

// This consumer's row of `stream` in stream_state.
share_store::consumer consumer_of(const accountd_config& cfg, const std::string& stream) {
    return {stream, cfg.redis.group, cfg.redis.consumer};
}

double ms_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Says which accounts of kind user a round made (at most ten names, then how
// many more), and what their owners do next to be paid.
void log_user_accounts(const std::vector<std::string>& names, std::uint64_t made) {
    if (made == 0) {
        return;
    }
    std::string listed;
    for (std::size_t i = 0; i < names.size() && i < 10; ++i) {
        listed += i ? ", " : "";
        listed += names[i];
    }
    if (names.size() > 10) {
        listed += " and " + std::to_string(names.size() - 10) + " more";
    }
    log::info("ingest",
              "{} account(s) made from their first shares: {}; a payout needs a wallet: bmm-accountd account bind "
              "NAME LTC ADDRESS",
              made, listed);
}

// A checked integer field, as COPY text.
void append_int(std::string& o, std::int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    o.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

// The record's fields as a JSON object (for ingest_errors), bytes that are not
// UTF-8 replaced so that the row itself can always be stored.
std::string fields_json(const field_list& fields) {
    auto clean = [](std::string_view s) {
        std::string o;
        for (char c : s) {
            o += (static_cast<unsigned char>(c) >= 0x80 || c == '\0') ? '?' : c;
        }
        return o;
    };
    std::string s = "{";
    for (std::size_t i = 0; i < fields.size(); ++i) {
        if (i) {
            s += ',';
        }
        s += '"';
        s +=
            node::json_escape(record::is_text(fields[i].first) ? std::string(fields[i].first) : clean(fields[i].first));
        s += "\":\"";
        s += node::json_escape(record::is_text(fields[i].second) ? std::string(fields[i].second)
                                                                 : clean(fields[i].second));
        s += '"';
    }
    s += '}';
    return s;
}

}  // namespace

// One share row of a round: where its COPY line is, and what the rollups need.
struct share_meta {
    std::size_t begin = 0, end = 0;  // its line in batch::copy
    std::string uid;
    std::string key;  // coin \t account \t worker (COPY-escaped), the rollup key without the minute
    std::int64_t ms = 0, minute_ms = 0;
    bool accepted = false, block = false;
    int code = 0;
    uint256 work;
};

// A rejected share that is not a block: counted in share_minutes, never a row
// of shares (sql/0026; issue 13, item 5). Its uid <instance>:<boot>:<seq>
// makes the count exactly once (bmm_count_records()).
struct counted_meta {
    std::string key;  // as share_meta::key
    std::int64_t minute_ms = 0, ms = 0, stream_ms = 0;
    std::int64_t instance = 0, boot = 0, seq = 0;
    int code = 0;
};

namespace {

// The numbers of a uid <instance>:<boot>:<seq> (digits, each below 10^18);
// false for any other uid (such a record is stored as a row, as before).
bool parse_record_uid(std::string_view uid, std::int64_t& instance, std::int64_t& boot, std::int64_t& seq) {
    std::int64_t* parts[3] = {&instance, &boot, &seq};
    std::size_t at = 0;
    for (int i = 0; i < 3; ++i) {
        const std::size_t end = i < 2 ? uid.find(':', at) : uid.size();
        if (end == std::string_view::npos || end == at || end - at > 18) {
            return false;
        }
        const auto r = std::from_chars(uid.data() + at, uid.data() + end, *parts[i]);
        if (r.ec != std::errc() || r.ptr != uid.data() + end) {
            return false;
        }
        at = end + 1;
    }
    return true;
}

}  // namespace

struct ingestor::batch {
    lane* from = nullptr;  // the stream the round was read from
    std::string copy;      // shares rows in COPY text format
    std::vector<share_meta> rows;
    std::vector<counted_meta> counted;     // rejected shares counted only (no row)
    std::unordered_set<std::string> uids;  // of this round, to drop repeats within it
    std::size_t share_rows = 0;
    std::size_t repeats = 0;  // shares skipped as repeats (within the round or already stored)
    std::int64_t min_ms = 0, max_ms = 0;
    std::vector<block_store::stream_block> blocks;
    std::vector<share_store::ingest_error> errors;
    std::vector<std::string> ack_ids;
    stream_id last;  // the highest id of the round
    bool any = false;
    std::set<std::int64_t> days;
    std::map<std::string, std::string, std::less<>> names;  // account name -> coin, of this round's shares
    std::vector<std::pair<std::string, std::pair<std::string, std::string>>>
        auto_accounts;                       // name, (currency, address)
    std::vector<std::string> user_accounts;  // new names that are not payout addresses (kind user)
    // Per name, the first claim digest its shares carried this round (stored
    // for the accounts made in this round's transaction: wallet_binding.hpp).
    std::map<std::string, std::string, std::less<>> claims;
    std::size_t skipped = 0;  // entries at or below the stored last id
    // Taken over with XAUTOCLAIM from the pending list (another consumer's,
    // gone for good, or ours): not in this consumer's id order, so they are
    // not checked against, and do not advance, the stored last id; repeats
    // among them are found by uid like any other repeat.
    bool claimed = false;
    // Set in store(): shares in [late_from_ms, late_before_ms) are of closed epochs.
    std::int64_t late_from_ms = 0, late_before_ms = 0;
    double read_ms = 0;
    double dedupe_ms = 0, copy_ms = 0, rollup_ms = 0, commit_ms = 0;  // parts of store(), for the debug log
};

// Work and its decimal text per target; miners keep one target for many
// shares, so the 256-bit division and the decimal conversion run rarely.
const std::pair<uint256, std::string>& ingestor::work_of(work_cache& cache, std::string_view target_hex) {
    auto it = cache.find(target_hex);
    if (it != cache.end()) {
        return it->second;
    }
    if (cache.size() > 100000) {
        cache.clear();
    }
    const uint256 w = work_from_target(*uint256::from_hex(target_hex));
    return cache[std::string(target_hex)] = {w, w.to_decimal()};
}

void ingestor::add_entry(batch& b, const stream_entry_view& e, const stream_id& stored_upto) {
    b.ack_ids.emplace_back(e.id_text);
    if (!b.any || b.last < e.id) {
        b.last = e.id;
    }
    b.any = true;
    if (!b.claimed && e.id <= stored_upto) {  // stored by an earlier transaction, not yet acknowledged
        ++b.skipped;
        return;
    }
    if (e.deleted) {
        log::warn("ingest", "{} entry {} was deleted from the stream before it was stored; nothing to store",
                  b.from->reader.describe(), e.id_text);
        return;
    }
    // What a record is, and which versions this build reads, is defined once
    // (bmm/record/stream_record.hpp); a refusal names what is wrong.
    auto decoded = record::decode(e.fields);
    if (!decoded) {
        b.errors.push_back(
            {b.from->reader.stream(), std::string(e.id_text), fields_json(e.fields), decoded.error_message()});
        return;
    }
    if (const auto* blk = std::get_if<record::block_view>(&decoded->body)) {
        std::string t;
        append_timestamp(t, blk->time_ms);
        b.blocks.push_back({std::string(blk->uid), std::string(e.id_text), std::move(t), std::to_string(blk->instance),
                            std::string(blk->coin), std::to_string(blk->height), std::string(blk->hash),
                            std::string(blk->account), std::string(blk->worker), std::string(blk->job),
                            std::to_string(blk->reward), blk->accepted ? "t" : "f", std::string(blk->answer)});
        return;
    }
    const auto& s = std::get<record::share_view>(decoded->body);
    if (!b.uids.insert(std::string(s.uid)).second) {  // the same record twice in one round
        ++b.repeats;
        return;
    }
    if (b.names.find(s.account) == b.names.end()) {
        b.names.emplace(s.account, s.coin);
    }
    if (s.claim && b.claims.find(s.account) == b.claims.end()) {
        b.claims.emplace(s.account, *s.claim);
    }
    if (counted_meta c; !s.accepted && !s.block && parse_record_uid(s.uid, c.instance, c.boot, c.seq)) {
        c.ms = s.time_ms;
        c.minute_ms = s.time_ms / 60000 * 60000;
        c.stream_ms = static_cast<std::int64_t>(e.id.ms);
        c.code = static_cast<int>(s.code);
        copy_escape(c.key, s.coin);
        c.key += '\t';
        copy_escape(c.key, s.account);
        c.key += '\t';
        copy_escape(c.key, s.worker);
        b.counted.push_back(std::move(c));
        return;
    }
    if (b.copy.empty()) {
        b.copy.reserve(static_cast<std::size_t>(cfg_.ingest.batch_size) * 320);
    }
    share_meta m;
    m.begin = b.copy.size();
    m.uid = std::string(s.uid);
    m.ms = s.time_ms;
    m.minute_ms = s.time_ms / 60000 * 60000;
    m.accepted = s.accepted;
    m.block = s.block;
    m.code = static_cast<int>(s.code);
    const std::string* work_text = nullptr;
    if (m.accepted) {
        const auto& w = work_of(b.from->work, s.target);
        m.work = w.first;
        work_text = &w.second;
    }
    std::string& o = b.copy;
    append_timestamp(o, s.time_ms);
    o += '\t';
    copy_escape(o, s.uid);
    o += '\t';
    o.append(e.id_text);
    o += '\t';
    append_int(o, s.instance);
    for (std::string_view v : {s.coin, s.algorithm, s.account, s.worker, s.ip, s.job}) {
        o += '\t';
        copy_escape(o, v);
    }
    o += '\t';
    append_int(o, s.height);
    o += '\t';
    o.append(s.difficulty_text);  // checked: a number, stored as sent (no round trip through binary)
    o += '\t';
    o.append(s.target);
    o += s.accepted ? "\tt\t" : "\tf\t";
    append_int(o, s.code);
    o += '\t';
    copy_escape(o, s.reason);
    o += s.block ? "\tt\t" : "\tf\t";
    if (s.hash) {
        copy_escape(o, *s.hash);
    }
    o += '\t';
    if (work_text) {
        o += *work_text;
    } else {
        o += '0';
    }
    o += '\t';
    if (s.network_target) {
        o += work_of(b.from->work, *s.network_target).second;
    } else {
        o += "\\N";
    }
    o += '\t';
    if (s.reward) {
        append_int(o, *s.reward);
    } else {
        o += "\\N";
    }
    o += '\t';
    if (s.block_hash) {
        o.append(*s.block_hash);  // checked hex digits: as sent
    } else {
        o += "\\N";
    }
    o += "\t\\N\n";  // late_epoch: set in store() when its epoch has closed
    m.end = o.size();
    copy_escape(m.key, s.coin);
    m.key += '\t';
    copy_escape(m.key, s.account);
    m.key += '\t';
    copy_escape(m.key, s.worker);
    b.rows.push_back(std::move(m));
    if (b.share_rows == 0 || s.time_ms < b.min_ms) {
        b.min_ms = s.time_ms;
    }
    if (b.share_rows == 0 || s.time_ms > b.max_ms) {
        b.max_ms = s.time_ms;
    }
    ++b.share_rows;
    b.days.insert(s.time_ms / k_day_ms);
}

// ---------------------------------------------------------------------------
// 2. Storing a round
// ---------------------------------------------------------------------------

ingestor::lane::lane(const accountd_config& cfg, const std::string& stream)
    : reader(cfg.redis, stream, cfg.redis.group, cfg.redis.consumer),
      acker(cfg.redis, stream, cfg.redis.group, cfg.redis.consumer) {
    reader.set_wait(cfg.redis.wait);
    // A read waits at most block_ms for entries, then WAIT at most
    // wait_timeout_ms: a primary silent for 5 s longer is taken for gone (a
    // host cut off from the network) and looked up again through Sentinel.
    reader.set_io_timeout(cfg.ingest.block_ms + (cfg.redis.wait.replicas > 0 ? cfg.redis.wait.timeout_ms : 0) + 5000);
}

ingestor::ingestor(accountd_config cfg) : cfg_(std::move(cfg)), validator_(cfg_) {
    for (const auto& stream : cfg_.redis.all_streams()) {
        lanes_.push_back(std::make_unique<lane>(cfg_, stream));
    }
}

void ingestor::disconnect() {
    for (auto& l : lanes_) {
        l->reader.disconnect();
        l->acker.disconnect();
    }
    db_ = pg::connection();
}

result<bool> ingestor::connect() {
    disconnect();
    auto c = pg::connection::open(cfg_.postgres);
    if (!c) {
        return error{c.error_message()};
    }
    db_ = std::move(*c);
    if (auto r = share_store::prepare_ingest_session(db_); !r) {
        return r;
    }
    for (auto& l : lanes_) {
        auto st = share_store::load_position(db_, consumer_of(cfg_, l->reader.stream()));
        if (!st) {
            return error{st.error_message() + " (has `bmm-accountd migrate` run?)"};
        }
        l->last = *st ? stream_id{(*st)->ms, (*st)->seq} : stream_id{};
    }
    days_ready_.clear();
    ahead_checked_day_ = -1;
    for (auto& l : lanes_) {
        if (auto r = l->reader.connect(); !r) {
            return r;
        }
        if (auto r = l->acker.connect(); !r) {
            return r;
        }
    }
    return true;
}

result<bool> ingestor::ensure_partitions_ahead() {
    const std::int64_t today =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count() /
        k_day_ms;
    if (today == ahead_checked_day_ && (keep_held_.empty() || std::chrono::steady_clock::now() < keep_recheck_)) {
        return true;
    }
    for (std::int64_t d = today; d <= today + cfg_.ingest.partition_days_ahead; ++d) {
        if (days_ready_.count(d)) {
            continue;
        }
        if (auto r = share_store::ensure_day(db_, d); !r) {
            return r;
        }
        days_ready_.insert(d);
    }
    if (cfg_.ingest.keep_days > 0) {
        std::int64_t cutoff = today - cfg_.ingest.keep_days;
        // Never drop a day an open epoch, a late share counted in one, or the
        // pplns window of a block not yet split still reads (issue 13, item
        // 11): the cutoff is held back to the day of the oldest such share,
        // logged, and looked at again every minute until it is released.
        std::string held;
        if (cfg_.epochs.enabled) {
            auto k = epoch_store::first_open_epoch(db_);
            if (!k) {
                return error{k.error_message()};
            }
            std::vector<std::pair<std::string, std::uint64_t>> pplns;
            for (const auto& [coin, cs] : cfg_.coins) {
                if (cs.rules.scheme == payout_scheme::pplns) {
                    pplns.emplace_back(coin, cs.rules.pplns_n_ppm);
                }
            }
            const std::int64_t open_start_ms =
                (cfg_.epochs.genesis + static_cast<std::int64_t>(*k) * cfg_.epochs.length_seconds) * 1000;
            auto need = share_store::shares_needed_before(db_, cutoff * k_day_ms, *k, open_start_ms, pplns);
            if (!need) {
                return error{"[ingest] keep_days: " + need.error_message()};
            }
            if (*need) {
                const std::int64_t day = (*need)->from_ms >= 0 ? (*need)->from_ms / k_day_ms : -1;
                held = "[ingest] keep_days = " + std::to_string(cfg_.ingest.keep_days) +
                       " would drop the shares before " + timestamp_text(cutoff * k_day_ms) + "; kept from " +
                       timestamp_text(std::max<std::int64_t>(day, 0) * k_day_ms) + " on, because " + (*need)->why;
                cutoff = std::min(cutoff, day);
            }
        }
        if (held != keep_held_ && !held.empty()) {
            log::warn("ingest", "{}", held);
        } else if (held.empty() && !keep_held_.empty()) {
            log::info("ingest", "[ingest] keep_days = {} is no longer held back", cfg_.ingest.keep_days);
        }
        keep_held_ = held;
        keep_recheck_ = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        if (cutoff > 0) {
            auto r = share_store::drop_days_before(db_, cutoff);
            if (!r) {
                return error{r.error_message()};
            }
            for (const auto& name : *r) {
                log::info("ingest", "dropped {} (older than [ingest] keep_days = {})", name, cfg_.ingest.keep_days);
            }
        }
    }
    ahead_checked_day_ = today;
    return true;
}

// Sorts the round's new share names (not known to be accounts) into the
// accounts store() makes with the shares: a payout address (with [ingest]
// auto_accounts) becomes an account of kind address with that wallet bound,
// any other name the ledger can credit an account of kind user. A name the
// node could not be asked about waits for a later round, so that an address
// is not made a plain account while the node is away.
result<bool> ingestor::resolve_accounts(batch& b) {
    for (auto it = b.names.begin(); it != b.names.end();) {
        it = known_accounts_.count(it->first) || !is_user_ledger_name(it->first) ? b.names.erase(it) : ++it;
    }
    if (b.names.empty()) {
        return true;
    }
    pg::text_array names;
    for (const auto& [name, coin] : b.names) {
        names.add(name);
    }
    auto r = existing_accounts(db_, names.str());
    if (!r) {
        return error{r.error_message()};
    }
    for (auto& name : *r) {
        b.names.erase(name);
        known_accounts_.insert(std::move(name));
    }
    static log::rate_limiter limiter(5, std::chrono::seconds(60));
    for (const auto& [name, coin] : b.names) {
        if (!cfg_.ingest.auto_accounts || not_addresses_.count(name)) {
            b.user_accounts.push_back(name);
            continue;
        }
        auto c = validator_.classify(name);
        if (!c) {
            unsigned long dropped = 0;
            if (limiter.allow(&dropped)) {
                log::warn("ingest", "{}; the shares are stored, the account is made later ({} similar suppressed)",
                          c.error_message(), dropped);
            }
            continue;
        }
        if (!*c) {
            if (not_addresses_.size() > 100000) {
                not_addresses_.clear();
            }
            not_addresses_.insert(name);
            b.user_accounts.push_back(name);
            continue;
        }
        b.auto_accounts.push_back({name, **c});
    }
    return true;
}

result<bool> ingestor::store(batch& b) {
    for (std::int64_t d : b.days) {
        if (days_ready_.count(d)) {
            continue;
        }
        if (auto r = share_store::ensure_day(db_, d); !r) {
            return r;
        }
        days_ready_.insert(d);
    }
    if (auto r = resolve_accounts(b); !r) {
        return r;
    }
    auto tx = pg::transaction::begin(db_);
    if (!tx) {
        return error{tx.error_message()};
    }
    auto fail = [&](const std::string& m) -> result<bool> {
        tx->rollback();
        return error{m};
    };
    std::uint64_t inserted = 0, late = 0;
    std::int64_t late_epoch = 0;
    if (b.share_rows || !b.counted.empty()) {
        // The shared side of the epoch close lock (due_epochs.hpp): no
        // close is between reading its shares and committing while this
        // transaction stores shares, so a share either is read by its
        // epoch's close or sees that epoch closed here and is stored late.
        // The closed epochs span [genesis, first open).
        auto closed = epoch_store::lock_closed_span(db_);
        if (!closed) {
            return fail(closed.error_message());
        }
        late_epoch = static_cast<std::int64_t>(closed->first_open);
        if (b.min_ms < closed->end_ms) {
            b.late_before_ms = closed->end_ms;
            b.late_from_ms = closed->start_ms;  // before genesis a share counts nowhere
        }
        // Records stored before (bmm-stratum sent them again, or a round read
        // again after a crash between COMMIT and XACK) are rare: the round's
        // rows are copied as they are, and the (uid, time) key refuses the
        // COPY if any was stored before. Then, back at the savepoint, those
        // are found by uid within the round's time span and left out. A
        // concurrent consumer storing the same uid in between makes the second
        // COPY fail too, and the round is read and tried again.
        share_store::minute_sums minutes;
        // Rejected shares counted only (sql/0026): per instance run, in
        // (instance, boot) order and before anything else is written (the
        // lock bmm_count_records() takes), only the numbers not counted
        // before are counted: a repeat (sent again, read again after a crash
        // between COMMIT and XACK, taken over) adds nothing.
        if (!b.counted.empty()) {
            auto t_count = std::chrono::steady_clock::now();
            std::map<std::pair<std::int64_t, std::int64_t>, std::vector<const counted_meta*>> runs;
            for (const auto& c : b.counted) {
                runs[{c.instance, c.boot}].push_back(&c);
            }
            for (const auto& [run, recs] : runs) {
                std::string seqs = "{", times = "{", stream_ms = "{";
                for (const counted_meta* c : recs) {
                    if (seqs.size() > 1) {
                        seqs += ',';
                        times += ',';
                        stream_ms += ',';
                    }
                    seqs += std::to_string(c->seq);
                    times += '"';
                    append_timestamp(times, c->ms);
                    times += '"';
                    stream_ms += std::to_string(c->stream_ms);
                }
                seqs += '}';
                times += '}';
                stream_ms += '}';
                auto fresh = share_store::count_records(db_, run.first, run.second, seqs, times, stream_ms);
                if (!fresh) {
                    return fail(fresh.error_message());
                }
                for (const counted_meta* c : recs) {
                    if (!fresh->count(c->seq)) {
                        continue;
                    }
                    share_store::minute_sum& x = minutes[{c->key, c->minute_ms}];
                    ++x.rejected;
                    ++x.by_code[c->code >= 21 && c->code <= 25 ? c->code - 20 : 0];
                    ++inserted;
                }
            }
            b.dedupe_ms += ms_since(t_count);
        }
        std::unordered_set<std::string> stored;
        auto t_copy = std::chrono::steady_clock::now();
        auto copied = b.copy.empty() ? result<bool>(true) : share_store::copy_round(db_, b.copy);
        if (!copied) {
            return fail(copied.error_message());
        }
        if (!*copied) {
            b.copy_ms = ms_since(t_copy);
            auto t_dedupe = std::chrono::steady_clock::now();
            std::vector<const std::string*> uids;
            uids.reserve(b.rows.size());
            for (const auto& m : b.rows) {
                uids.push_back(&m.uid);
            }
            auto found = share_store::stored_uids(db_, pg::text_array_of(uids), b.min_ms, b.max_ms);
            if (!found) {
                return fail(found.error_message());
            }
            stored = std::move(*found);
            std::string kept;
            kept.reserve(b.copy.size());
            for (const auto& m : b.rows) {
                if (!stored.count(m.uid)) {
                    kept.append(b.copy, m.begin, m.end - m.begin);
                }
            }
            b.dedupe_ms = ms_since(t_dedupe);
            t_copy = std::chrono::steady_clock::now();
            if (!kept.empty()) {
                if (auto r2 = share_store::copy_shares(db_, kept); !r2) {
                    return fail(r2.error_message());
                }
            }
        }
        b.copy_ms += ms_since(t_copy);
        for (const auto& m : b.rows) {
            if (stored.count(m.uid)) {
                continue;
            }
            share_store::minute_sum& x = minutes[{m.key, m.minute_ms}];
            if (m.accepted) {
                ++x.accepted;
                x.add_work(m.work);
            } else {
                ++x.rejected;
                ++x.by_code[m.code >= 21 && m.code <= 25 ? m.code - 20 : 0];
            }
            if (m.block) {
                ++x.blocks;
            }
            ++inserted;
        }
        if (b.late_before_ms) {
            // Shares of closed epochs count in the first open one (sql/0014).
            std::vector<const std::string*> late_uids;
            for (const auto& m : b.rows) {
                if (m.ms >= b.late_from_ms && m.ms < b.late_before_ms && !stored.count(m.uid)) {
                    late_uids.push_back(&m.uid);
                }
            }
            if (!late_uids.empty()) {
                auto u = share_store::mark_late(db_, static_cast<std::uint64_t>(late_epoch), b.min_ms, b.late_before_ms,
                                                pg::text_array_of(late_uids));
                if (!u) {
                    return fail(u.error_message());
                }
                late = *u;
            }
        }
        if (inserted) {
            auto t_rollup = std::chrono::steady_clock::now();
            if (auto r = share_store::add_minutes(db_, minutes); !r) {
                return fail(r.error_message());
            }
            b.rollup_ms = ms_since(t_rollup);
        }
    }
    std::uint64_t blocks = 0;
    for (const auto& blk : b.blocks) {
        auto r = block_store::record_found(db_, blk);
        if (!r) {
            return fail(r.error_message());
        }
        blocks += *r ? 1 : 0;
    }
    for (const auto& e : b.errors) {
        if (auto r = share_store::record_ingest_error(db_, e); !r) {
            return fail(r.error_message());
        }
    }
    std::uint64_t made = 0, users_made = 0;
    if (!b.user_accounts.empty()) {
        auto r = create_user_accounts(db_, pg::text_array_of(b.user_accounts));
        if (!r) {
            return fail(r.error_message());
        }
        users_made = *r;
        made += users_made;
        std::vector<std::pair<std::string, std::string>> claims;
        for (const auto& name : b.user_accounts) {
            if (auto it = b.claims.find(name); it != b.claims.end()) {
                claims.emplace_back(name, it->second);
            }
        }
        if (!claims.empty()) {
            if (auto c = store_claims(db_, claims); !c) {
                return fail(c.error_message());
            }
        }
    }
    for (const auto& [name, wallet] : b.auto_accounts) {
        auto r = create_address_account(db_, name, wallet.first, wallet.second);
        if (!r) {
            return fail(r.error_message());
        }
        made += *r ? 1 : 0;
    }
    if (b.any && !b.claimed && b.from->last < b.last) {
        auto r = share_store::save_position(db_, consumer_of(cfg_, b.from->reader.stream()), {b.last.ms, b.last.seq},
                                            b.ack_ids.size() - b.skipped);
        if (!r) {
            return fail(r.error_message());
        }
    }
    auto t_commit = std::chrono::steady_clock::now();
    if (auto r = tx->commit(); !r) {
        // The outcome is unknown (the connection may have died after the
        // server committed): reconnect and reload the stored last id.
        db_ = pg::connection();
        return error{r.error_message()};
    }
    b.commit_ms = ms_since(t_commit);
    if (!b.claimed && b.from->last < b.last) {
        b.from->last = b.last;
    }
    for (const auto& [name, w] : b.auto_accounts) {
        known_accounts_.insert(name);
        log::info("ingest", "account {} made from its username ({} wallet {} at 100 %)", name, w.first, w.second);
    }
    log_user_accounts(b.user_accounts, users_made);
    for (auto& name : b.user_accounts) {
        known_accounts_.insert(std::move(name));
    }
    stats_.shares += inserted;
    stats_.duplicates +=
        (b.share_rows + b.counted.size() - inserted) + b.repeats + (b.blocks.size() - blocks) + b.skipped;
    stats_.blocks += blocks;
    stats_.bad += b.errors.size();
    stats_.accounts += made;
    ++stats_.batches;
    if (published_) {
        published_->publish(stats_);
    }
    if (!b.errors.empty()) {
        log::warn("ingest", "{} unreadable record(s) kept in table ingest_errors (first: {} {})", b.errors.size(),
                  b.errors[0].stream_id, b.errors[0].error);
    }
    for (const auto& blk : b.blocks) {
        log::info("ingest", "block {} at height {} by {} stored", blk.hash, blk.height, blk.account);
    }
    if (late) {
        log::warn("ingest",
                  "{} shares arrived after their epoch had closed (the oldest from {}); they count in epoch {}, "
                  "the first one open. If bmm-stratum was cut off from Redis for longer than [epochs] close_grace_ms, "
                  "a longer grace keeps shares in their own epoch",
                  late, timestamp_text(b.min_ms), late_epoch);
    }
    return true;
}

// ---------------------------------------------------------------------------
// 3. Rounds and the loop
// ---------------------------------------------------------------------------

// The reader threads of a session, one per stream: each reads rounds of its
// stream with XREADGROUP on its own connection (this consumer's pending
// entries first, then new ones) and hands them to the storing thread through
// its stream's queue of at most two, so that Redis and PostgreSQL work at the
// same time. The storing thread takes the streams' rounds in turn. Reading
// ahead is safe: an entry read and not stored stays pending and is read again
// by the next session.
struct ingestor::session {
    struct lane_queue {
        std::deque<std::unique_ptr<batch>> queue;
        bool storing = false;   // a round of the stream is being stored and acknowledged
        stream_id stored_upto;  // the stream's stream_state last id (at the start, then after each round)
    };
    std::mutex mu;
    std::condition_variable cv;
    std::deque<lane_queue> lanes;  // one per stream (a deque: the queues are not moved)
    std::size_t next = 0;          // the stream whose round is taken first (round robin)
    bool stop = false;
};

void ingestor::read_rounds(session& s, std::size_t k) {
    lane& l = *lanes_[k];
    session::lane_queue& q = s.lanes[k];
    stream_id stored_upto;
    {
        std::lock_guard lock(s.mu);
        stored_upto = q.stored_upto;
    }
    bool pending = true;
    std::string from = "0";
    // [ingest] claim_idle_ms: entries pending that long on any consumer are
    // taken over (a consumer that is gone would otherwise hold them, and
    // every epoch close after them, for ever). One XAUTOCLAIM per round while
    // a scan of the pending list is under way, then a new scan after
    // claim_idle_ms / 2.
    const auto claim_every = std::chrono::milliseconds(std::max(500, cfg_.ingest.claim_idle_ms / 2));
    auto next_claim = std::chrono::steady_clock::now() + claim_every;
    std::string claim_cursor = "0-0";
    auto backoff = std::chrono::milliseconds(100);
    for (;;) {
        {
            std::unique_lock lock(s.mu);
            s.cv.wait(lock, [&] { return s.stop || q.queue.size() < 2; });
            if (s.stop) {
                return;
            }
        }
        auto b = std::make_unique<batch>();
        b->from = &l;
        const auto t0 = std::chrono::steady_clock::now();
        result<std::size_t> n = std::size_t{0};
        if (!pending && cfg_.ingest.claim_idle_ms > 0 && t0 >= next_claim) {
            b->claimed = true;
            n = l.reader.claim(cfg_.ingest.claim_idle_ms, claim_cursor, cfg_.ingest.batch_size,
                               [&](const stream_entry_view& e) { add_entry(*b, e, stored_upto); });
            if (n && claim_cursor == "0-0") {
                next_claim = t0 + claim_every;  // scanned through
            }
            if (n && *n > 0) {
                log::warn("ingest",
                          "took over {} entries pending for over {} ms in group {} of {} (a consumer that "
                          "stopped or stalls); storing them (repeats are found by uid)",
                          *n, cfg_.ingest.claim_idle_ms, l.reader.group(), l.reader.stream());
            }
            if (n && *n == 0) {
                continue;
            }
        } else if (l.reader.connected()) {
            n = l.reader.read(pending ? from : ">", cfg_.ingest.batch_size, pending ? 0 : cfg_.ingest.block_ms,
                              [&](const stream_entry_view& e) { add_entry(*b, e, stored_upto); });
        } else {
            n = error{l.reader.describe() + ": not connected"};
        }
        if (!n) {
            // This stream alone: once every round read from it is stored and
            // acknowledged, connect again (the group is made again if it went)
            // and start over from its pending entries; the other streams go on.
            log::error("ingest", "{}; reading this stream again in {} ms (the other streams go on)", n.error_message(),
                       backoff.count());
            l.reader.disconnect();
            std::unique_lock lock(s.mu);
            s.cv.wait_for(lock, backoff, [&] { return s.stop; });
            s.cv.wait(lock, [&] { return s.stop || (q.queue.empty() && !q.storing); });
            if (s.stop) {
                return;
            }
            stored_upto = q.stored_upto;
            lock.unlock();
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
            if (auto c = l.reader.connect(); !c) {
                log::error("ingest", "{}", c.error_message());
                continue;  // not connected: the next turn waits again
            }
            log::info("ingest", "{} read again from this consumer's pending entries (stored up to {})",
                      l.reader.describe(), stored_upto.to_string());
            pending = true;
            from = "0";
            continue;
        }
        backoff = std::chrono::milliseconds(100);
        if (*n == 0) {
            pending = false;  // the pending entries are done (or nothing new came): read new ones
            continue;
        }
        if (pending && !b->claimed) {
            from = b->last.to_string();
        }
        b->read_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        {
            std::lock_guard lock(s.mu);
            q.queue.push_back(std::move(b));
        }
        s.cv.notify_all();
    }
}

result<bool> ingestor::run_session(const std::atomic<bool>& stop, bool& failing) {
    if (auto c = connect(); !c) {
        return c;
    }
    if (auto a = ensure_partitions_ahead(); !a) {
        return a;
    }
    if (failing) {
        std::string at;
        for (const auto& l : lanes_) {
            at += (at.empty() ? "" : ", ") + l->reader.stream() + " " + l->last.to_string();
        }
        log::info("ingest", "connected again; ingest resumed from stream id(s) {}", at);
    }
    failing = false;
    session s;
    s.lanes.resize(lanes_.size());
    for (std::size_t k = 0; k < lanes_.size(); ++k) {
        s.lanes[k].stored_upto = lanes_[k]->last;
    }
    std::vector<std::thread> readers;
    struct joiner {
        session& s;
        std::vector<std::thread>& t;
        ~joiner() {
            {
                std::lock_guard lock(s.mu);
                s.stop = true;
            }
            s.cv.notify_all();
            for (auto& r : t) {
                r.join();
            }
        }
    } join_at_exit{s, readers};
    for (std::size_t k = 0; k < lanes_.size(); ++k) {
        readers.emplace_back([this, &s, k] { read_rounds(s, k); });
    }

    auto last_report = std::chrono::steady_clock::now();
    auto last_trim = last_report - std::chrono::seconds(10);
    ingest_stats reported = stats_;
    while (!stop.load()) {
        if (cfg_.ingest.stream_keep_seconds >= 0 &&
            std::chrono::steady_clock::now() - last_trim >= std::chrono::seconds(10)) {
            last_trim = std::chrono::steady_clock::now();
            for (auto& l : lanes_) {
                if (l->acker.connected()) {
                    trim_stream(*l);
                }
            }
        }
        std::unique_ptr<batch> b;
        std::size_t k = 0;
        {
            // The next stream, after the one taken last, that has a round ready.
            const auto ready = [&] {
                for (std::size_t i = 0; i < s.lanes.size(); ++i) {
                    const std::size_t j = (s.next + i) % s.lanes.size();
                    if (!s.lanes[j].queue.empty()) {
                        k = j;
                        return true;
                    }
                }
                return false;
            };
            std::unique_lock lock(s.mu);
            if (!s.cv.wait_for(lock, std::chrono::milliseconds(200), ready)) {
                continue;
            }
            b = std::move(s.lanes[k].queue.front());
            s.lanes[k].queue.pop_front();
            s.lanes[k].storing = true;
            s.next = (k + 1) % s.lanes.size();
        }
        s.cv.notify_all();
        if (auto a = ensure_partitions_ahead(); !a) {
            return a;
        }
        lane& l = *b->from;
        const auto t1 = std::chrono::steady_clock::now();
        if (auto r = store(*b); !r) {
            return r;
        }
        log::debug("ingest",
                   "round of {} entries of {}: read {:.1f} ms, stored in {:.1f} ms (dedupe {:.1f}, COPY {:.1f}, "
                   "rollups {:.1f}, commit {:.1f})",
                   b->ack_ids.size(), l.reader.stream(), b->read_ms, ms_since(t1), b->dedupe_ms, b->copy_ms,
                   b->rollup_ms, b->commit_ms);
        if (auto a = l.acker.ack(b->ack_ids, cfg_.ingest.delete_acked); !a) {
            return error{a.error_message() + " (the entries are stored; they are acknowledged after the reconnect)"};
        }
        {
            std::lock_guard lock(s.mu);
            s.lanes[k].storing = false;
            s.lanes[k].stored_upto = l.last;
        }
        s.cv.notify_all();
        stats_.entries += b->ack_ids.size();
        acked_.fetch_add(b->ack_ids.size());
        const auto now = std::chrono::steady_clock::now();
        if (now - last_report >= std::chrono::seconds(10)) {
            const double secs = std::chrono::duration<double>(now - last_report).count();
            std::string at;
            for (const auto& x : lanes_) {
                at += (at.empty() ? "" : ", ") + (lanes_.size() > 1 ? x->reader.stream() + " " : "") +
                      x->last.to_string();
            }
            log::info("ingest", "{} entries ({:.0f}/s), {} shares, {} duplicates, {} blocks, {} unreadable; last id {}",
                      stats_.entries - reported.entries, static_cast<double>(stats_.entries - reported.entries) / secs,
                      stats_.shares - reported.shares, stats_.duplicates - reported.duplicates,
                      stats_.blocks - reported.blocks, stats_.bad - reported.bad, at);
            reported = stats_;
            last_report = now;
        }
    }
    return true;
}

void ingestor::trim_stream(lane& l) {
    const auto now_ms = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    auto r = l.acker.trim_acknowledged(now_ms, static_cast<std::uint64_t>(cfg_.ingest.stream_keep_seconds) * 1000);
    if (!r) {
        log::warn("ingest", "cannot trim the stream: {}; acknowledged entries stay until the next try (in 10 s)",
                  r.error_message());
    } else if (*r > 0) {
        log::debug("ingest", "trimmed {} entries every consumer group has acknowledged from {}", *r, l.acker.stream());
    }
}

int ingestor::run(const std::atomic<bool>& stop) {
    std::string streams;
    for (const auto& l : lanes_) {
        streams += (streams.empty() ? "" : ", ") + l->reader.describe();
    }
    log::info("ingest", "reading {} as {}/{} into PostgreSQL {}", streams, cfg_.redis.group, cfg_.redis.consumer,
              cfg_.postgres.describe());
    auto backoff = std::chrono::milliseconds(100);
    bool failing = false;
    // PostgreSQL went away or turned read-only (a failover): the session is
    // over; the next one connects to the new primary ([postgres] hosts) and
    // reads this consumer's pending entries again from the start (the stored
    // ones are found by stream_state and by uid: nothing is stored twice).
    pg::failover_retry failover(
        "storing the ingest's round",
        {std::chrono::milliseconds(100), std::chrono::milliseconds(1000), std::chrono::milliseconds(0)});
    while (!stop.load()) {
        const std::uint64_t before = acked_.load();
        const std::uint64_t failovers = pg::failovers_seen();
        auto r = run_session(stop, failing);
        const bool by_failover = !r && pg::failovers_seen() != failovers;
        disconnect();
        if (r) {
            break;
        }
        if (acked_.load() != before) {
            backoff = std::chrono::milliseconds(100);
            failover.succeeded();
        }
        failing = true;
        if (by_failover) {
            failover.again(true, r.error_message(), &stop);
            continue;
        }
        log::error("ingest", "{}; retrying in {} ms", r.error_message(), backoff.count());
        const auto until = std::chrono::steady_clock::now() + backoff;
        while (!stop.load() && std::chrono::steady_clock::now() < until) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
    log::info("ingest", "stopping: {} entries, {} shares, {} duplicates skipped, {} blocks in this run", stats_.entries,
              stats_.shares, stats_.duplicates, stats_.blocks);
    return 0;
}

}  // namespace bmm::accounting
