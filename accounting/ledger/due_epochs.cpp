#include "bmm/accounting/due_epochs.hpp"

#include "bmm/accounting/epoch_store.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/log.hpp"
#include "bmm/pg/locks.hpp"
#include "bmm/pg/text.hpp"

namespace bmm::accounting {

std::int64_t epoch_start_ms(const epoch_settings& e, std::uint64_t k) {
    return (e.genesis + static_cast<std::int64_t>(k) * e.length_seconds) * 1000;
}

std::int64_t epoch_of_ms(const epoch_settings& e, std::int64_t ms) {
    const std::int64_t since = ms - e.genesis * 1000;
    if (since < 0) return -1;
    return since / (e.length_seconds * 1000);
}

namespace {

result<amount> numeric(const pg::row_set& r, int row, int col, const char* what) {
    auto a = parse_amount(r.get(row, col));
    if (!a) return error{std::string("PostgreSQL: ") + what + ": " + a.error_message()};
    return a;
}

// The pplns window of a block (ACCOUNTING.md): the coin's accepted shares
// from the block-finding share (inclusive when accepted) back in time, oldest
// first, enough to cover floor(n_ppm x network_work / 10^6) of work (older
// ones would count nothing). The finding share is the share whose block_hash
// is the block's (sql/0013); its network_work is the block's. Shares are read
// newest first in time slices that double from a minute to a day, so that
// the BRIN index on time bounds each read, down to the oldest kept day.
result<bool> gather_pplns_window(pg::connection& db, block_input& bi, std::uint64_t n_ppm) {
    const std::string what = "block " + bi.hash + " (pplns): ";
    auto f = db.exec(
        "SELECT (extract(epoch FROM s.time) * 1000)::bigint, s.uid, s.network_work::text FROM shares s "
        "WHERE s.block_hash = $1 AND s.coin = $2 ORDER BY s.time, s.uid COLLATE \"C\" LIMIT 1",
        {bi.hash, bi.coin});
    if (!f) return error{what + "finding its share: " + f.error_message()};
    if (f->rows() == 0)
        return error{what +
                     "no share with this block_hash in shares (were its day's shares dropped? or was the "
                     "finding share a version 1 stream record, which may lack block_hash; version 2 always carries "
                     "it); it cannot be split"};
    if (f->text(0, 2).empty())
        return error{what +
                     "its share has no network_work (a version 1 stream record without network_target: "
                     "version 2 always carries it); it cannot be split by pplns"};
    auto nw = numeric(*f, 0, 2, "shares.network_work");
    if (!nw) return error{nw.error_message()};
    bi.network_work = *nw;
    auto oldest = db.exec(
        "SELECT (extract(epoch FROM coalesce(min(to_date(substr(c.relname, 8), 'YYYYMMDD')), "
        "current_date)::timestamp AT TIME ZONE 'UTC') * 1000)::bigint "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'shares'::regclass AND c.relname ~ '^shares_[0-9]{8}$'");
    if (!oldest) return error{what + "reading the oldest day of shares: " + oldest.error_message()};
    const amount window = bi.network_work * n_ppm / 1000000;
    const std::int64_t found_ms = f->integer(0, 0), floor_ms = oldest->integer(0, 0);
    const std::string found_uid = f->text(0, 1);
    std::vector<pplns_share> newest_first;
    std::map<std::string, amount, std::less<>> parsed;  // work text -> work
    amount covered = 0;
    // Slices [lo, end): the newest ends at the finding share (inclusive).
    std::int64_t end_ms = found_ms;
    for (std::int64_t span_s = 60; covered < window; span_s = std::min<std::int64_t>(span_s * 2, 86400)) {
        const bool newest = end_ms == found_ms;
        const std::int64_t lo_ms = end_ms - span_s * 1000;
        auto r = db.exec(
            std::string("SELECT account, work::text FROM shares WHERE accepted AND coin = $1 "
                        "AND account <> '' AND position(':' IN account) = 0 AND time >= $2::timestamptz "
                        "AND ") +
                (newest ? "time <= $3::timestamptz AND (time, uid COLLATE \"C\") <= ($3::timestamptz, $4 COLLATE \"C\")"
                        : "time < $3::timestamptz") +
                " ORDER BY time DESC, uid COLLATE \"C\" DESC",
            newest ? std::vector<std::optional<std::string>>{bi.coin, pg::timestamp_text(lo_ms),
                                                             pg::timestamp_text(end_ms), found_uid}
                   : std::vector<std::optional<std::string>>{bi.coin, pg::timestamp_text(lo_ms),
                                                             pg::timestamp_text(end_ms)});
        if (!r) return error{what + "reading its window: " + r.error_message()};
        for (int i = 0; i < r->rows() && covered < window; ++i) {
            // Miners keep a difficulty for many shares: each work text is parsed once.
            auto it = parsed.find(r->get(i, 1));
            if (it == parsed.end()) {
                auto w = numeric(*r, i, 1, "shares.work");
                if (!w) return error{w.error_message()};
                it = parsed.emplace(r->text(i, 1), std::move(*w)).first;
            }
            covered += it->second;
            newest_first.push_back({r->text(i, 0), it->second});
        }
        if (lo_ms < floor_ms) break;  // nothing older is kept: all of it counts
        end_ms = lo_ms;
    }
    bi.pplns_shares.assign(newest_first.rbegin(), newest_first.rend());
    return true;
}

}  // namespace

result<epoch_close_input> gather_epoch_input(pg::connection& db, const accountd_config& cfg, std::uint64_t k) {
    epoch_close_input in;
    in.k = k;
    in.config = rules_of(cfg);
    const std::string ks = std::to_string(k);
    const std::string coins = coins_array_literal(cfg);

    // Accepted work per account and coin, summed exactly by PostgreSQL.
    // The epoch's shares stored in time, and the late ones counted in it (sql/0014).
    auto w = db.exec(
        "SELECT account, coin, sum(work)::text FROM shares "
        "WHERE accepted AND ((time >= $1::timestamptz AND time < $2::timestamptz AND late_epoch IS NULL) "
        "OR late_epoch = $4::bigint) "
        "AND coin = ANY($3::text[]) AND account <> '' AND position(':' IN account) = 0 "
        "GROUP BY account, coin HAVING sum(work) > 0",
        {pg::timestamp_text(epoch_start_ms(cfg.epochs, k)), pg::timestamp_text(epoch_start_ms(cfg.epochs, k + 1)),
         coins, ks});
    if (!w) return error{"epoch " + ks + ": reading the shares' work: " + w.error_message()};
    for (int i = 0; i < w->rows(); ++i) {
        auto a = numeric(*w, i, 2, "shares.work");
        if (!a) return error{a.error_message()};
        in.work[w->text(i, 0)][w->text(i, 1)] = std::move(*a);
    }

    if (k > 0) {
        auto prev = epoch_store::load_epoch(db, k - 1);
        if (!prev) return error{prev.error_message()};
        if (!prev->closed) return error{"epoch " + ks + " cannot close before epoch " + std::to_string(k - 1)};
        in.carried_emission = prev->emission_carried;
        auto s = epoch_store::streaks(db, k - 1);
        if (!s) return error{"epoch " + ks + ": " + s.error_message()};
        in.previous_streaks = std::move(*s);
    }

    // pps: accepted work per (account, coin, network work, expected reward).
    const std::string pps_coins = coins_array_literal(cfg, payout_scheme::pps);
    if (pps_coins != "{}") {
        auto p = db.exec(
            "SELECT account, coin, network_work::text, reward::text, sum(work)::text, "
            "bool_or(network_work IS NULL OR reward IS NULL) FROM shares "
            "WHERE accepted AND ((time >= $1::timestamptz AND time < $2::timestamptz "
            "AND late_epoch IS NULL) OR late_epoch = $4::bigint) "
            "AND coin = ANY($3::text[]) AND account <> '' AND position(':' IN account) = 0 "
            "GROUP BY account, coin, network_work, reward HAVING sum(work) > 0 ORDER BY 1, 2, 3, 4",
            {pg::timestamp_text(epoch_start_ms(cfg.epochs, k)), pg::timestamp_text(epoch_start_ms(cfg.epochs, k + 1)),
             pps_coins, ks});
        if (!p) return error{"epoch " + ks + ": reading the pps shares: " + p.error_message()};
        for (int i = 0; i < p->rows(); ++i) {
            if (p->text(i, 2).empty() || p->text(i, 3).empty()) {
                log::warn("epochs",
                          "epoch {}: {} has accepted {} work {} without network target or reward (version "
                          "1 stream records: version 2 always carries both); pps credits it nothing",
                          k, p->text(i, 0), p->text(i, 1), p->text(i, 4));
                continue;
            }
            pps_work pw;
            pw.user = p->text(i, 0);
            pw.coin = p->text(i, 1);
            auto nw = numeric(*p, i, 2, "shares.network_work");
            auto rw = numeric(*p, i, 3, "shares.reward");
            auto sw = numeric(*p, i, 4, "shares.work");
            if (!nw || !rw || !sw)
                return error{!nw ? nw.error_message() : !rw ? rw.error_message() : sw.error_message()};
            pw.network_work = std::move(*nw);
            pw.expected_reward = std::move(*rw);
            pw.work = std::move(*sw);
            in.pps.push_back(std::move(pw));
        }
    }

    auto b = db.exec(
        "SELECT hash, coin, height, reward::text, finder, found_epoch FROM blocks "
        "WHERE epoch = $1::bigint ORDER BY hash",
        {ks});
    if (!b) return error{"epoch " + ks + ": reading its blocks: " + b.error_message()};
    for (int i = 0; i < b->rows(); ++i) {
        block_input bi;
        bi.hash = b->text(i, 0);
        bi.coin = b->text(i, 1);
        bi.height = static_cast<std::uint64_t>(b->integer(i, 2));
        auto r = numeric(*b, i, 3, "blocks.reward");
        if (!r) return error{r.error_message()};
        bi.reward = std::move(*r);
        bi.finder = b->text(i, 4);
        bi.found_epoch = static_cast<std::uint64_t>(b->integer(i, 5));
        if (bi.found_epoch != k) {
            // A block booked after its found epoch closed: the PP of that epoch.
            auto pp = epoch_store::pp_of(db, bi.found_epoch);
            if (!pp) return error{"epoch " + ks + ": " + pp.error_message()};
            bi.found_epoch_pp = std::move(*pp);
        }
        if (auto cs = cfg.coins.find(bi.coin); cs != cfg.coins.end() && cs->second.rules.scheme == payout_scheme::pplns)
            if (auto g = gather_pplns_window(db, bi, cs->second.rules.pplns_n_ppm); !g)
                return error{"epoch " + ks + ": " + g.error_message()};
        in.blocks.push_back(std::move(bi));
    }

    auto h = ledger_store::load_bmm_holdings(db);
    if (!h) return error{h.error_message()};
    in.bmm_holdings = std::move(*h);
    return in;
}

result<close_report> close_due_epochs(pg::connection& db, const accountd_config& cfg, std::int64_t now_ms,
                                      const std::function<result<bool>(std::int64_t)>& stored_through,
                                      const std::function<result<bool>()>& record_blocks, std::uint64_t max_epochs) {
    close_report rep;
    auto n = epoch_store::first_open_epoch(db);
    if (!n) return error{n.error_message()};
    rep.next = *n;
    while (rep.closed < max_epochs) {
        const std::uint64_t k = rep.next;
        const std::int64_t start = epoch_start_ms(cfg.epochs, k), end = epoch_start_ms(cfg.epochs, k + 1);
        const std::int64_t due = end + cfg.epochs.close_grace_ms;
        if (now_ms < due) break;
        auto stored = stored_through(due);
        if (!stored) return error{"epoch " + std::to_string(k) + ": " + stored.error_message()};
        if (!*stored) break;  // shares up to its end may still be on their way
        if (auto e = epoch_store::ensure_epoch(db, k, pg::timestamp_text(start), pg::timestamp_text(end)); !e)
            return error{e.error_message()};
        if (auto r = record_blocks(); !r) return error{r.error_message()};
        // From reading the epoch's shares to committing its close, no share
        // is stored (the ingest takes this lock shared): a share stored before
        // is read here, one stored after sees the epoch closed and is late.
        auto close_lock = pg::advisory_lock::take(db, pg::k_epoch_close_lock);
        if (!close_lock) return error{"epoch " + std::to_string(k) + ": " + close_lock.error_message()};
        auto in = gather_epoch_input(db, cfg, k);
        if (!in) return error{in.error_message()};
        auto out = close_epoch(*in);
        if (!out) return error{"epoch " + std::to_string(k) + ": " + out.error_message()};
        auto booked = epoch_store::book_epoch_close(db, *out);
        if (!booked) return error{booked.error_message()};
        log::info("epochs",
                  "epoch {} closed: {} accounts, {} blocks, emission {} paid {} carried {}, {} transfers booked", k,
                  out->accounts.size(), in->blocks.size(), to_decimal(out->emission), to_decimal(out->emission_paid),
                  to_decimal(out->carried_emission), booked->booked);
        ++rep.closed;
        ++rep.next;
    }
    return rep;
}

}  // namespace bmm::accounting
