#include "bmm/accounting/due_epochs.hpp"

#include "bmm/accounting/block_store.hpp"
#include "bmm/accounting/epoch_store.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/accounting/share_store.hpp"
#include "bmm/log.hpp"
#include "bmm/pg/locks.hpp"
#include "bmm/pg/text.hpp"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace bmm::accounting {

std::int64_t epoch_start_ms(const epoch_settings& e, std::uint64_t k) {
    return (e.genesis + static_cast<std::int64_t>(k) * e.length_seconds) * 1000;
}

std::int64_t epoch_of_ms(const epoch_settings& e, std::int64_t ms) {
    const std::int64_t since = ms - e.genesis * 1000;
    if (since < 0) {
        return -1;
    }
    return since / (e.length_seconds * 1000);
}

namespace {

// Fault points for tests (env BMM_ACCOUNTD_FAULT): kill -9 in the middle of
// an epoch's close, with its input read and its result computed but not
// booked (kill-before-epoch-booked), or right after its booking committed
// (kill-after-epoch-booked). Unset in production: none applies.
void epoch_fault_point(std::string_view where) {
    const char* env = std::getenv("BMM_ACCOUNTD_FAULT");
    if (env == nullptr || std::string_view(env).find(where) == std::string_view::npos) {
        return;
    }
    log::warn("epochs", "fault point {} (BMM_ACCOUNTD_FAULT, for tests only): kill -9", where);
    ::kill(::getpid(), SIGKILL);
}

result<amount> numeric(std::string_view text, const char* what) {
    auto a = parse_amount(text);
    if (!a) {
        return error{std::string("PostgreSQL: ") + what + ": " + a.error_message()};
    }
    return a;
}

// The pplns window of a block (ACCOUNTING.md): the coin's accepted shares
// from the block-finding share (inclusive when accepted) back in time, oldest
// first, enough to cover floor(n_ppm x network_work / 10^6) of work (older
// ones would count nothing). The finding share is the share whose block_hash
// is the block's (sql/0013); its network_work is the block's. Shares are read
// newest first in time slices that double from a minute to a day, so that
// the BRIN index on time bounds each read, down to the oldest kept day.
// Returns why the block cannot be split (it is then parked), or "" when it can.
result<std::string> gather_pplns_window(pg::connection& db, block_input& bi, std::uint64_t n_ppm) {
    const std::string what = "block " + bi.hash + " (pplns): ";
    auto f = share_store::find_block_share(db, bi.hash, bi.coin);
    if (!f) {
        return error{what + "finding its share: " + f.error_message()};
    }
    if (!*f) {
        return std::string{
            what +
            "no share with this block_hash in shares (were its day's shares dropped? or was the "
            "finding share a version 1 stream record, which may lack block_hash; version 2 always carries "
            "it); it cannot be split"};
    }
    if (!(*f)->network_work) {
        return std::string{what +
                           "its share has no network_work (a version 1 stream record without network_target: "
                           "version 2 always carries it); it cannot be split by pplns"};
    }
    auto nw = numeric(*(*f)->network_work, "shares.network_work");
    if (!nw) {
        return error{nw.error_message()};
    }
    bi.network_work = *nw;
    auto oldest = share_store::oldest_kept_day_ms(db);
    if (!oldest) {
        return error{what + "reading the oldest day of shares: " + oldest.error_message()};
    }
    const amount window = bi.network_work * n_ppm / 1000000;
    const std::int64_t found_ms = (*f)->ms, floor_ms = *oldest;
    const std::string& found_uid = (*f)->uid;
    std::vector<pplns_share> newest_first;
    std::map<std::string, amount, std::less<>> parsed;  // work text -> work
    amount covered = 0;
    std::string bad_work;  // a work text that is not a number
    // Takes a share of a slice into the window until it is covered.
    const auto take = [&](std::string_view account, std::string_view work) {
        if (covered >= window) {
            return false;
        }
        // Miners keep a difficulty for many shares: each work text is parsed once.
        auto it = parsed.find(work);
        if (it == parsed.end()) {
            auto w = numeric(work, "shares.work");
            if (!w) {
                bad_work = w.error_message();
                return false;
            }
            it = parsed.emplace(std::string(work), std::move(*w)).first;
        }
        covered += it->second;
        newest_first.push_back({std::string(account), it->second});
        return true;
    };
    // Slices [lo, end): the newest ends at the finding share (inclusive).
    std::int64_t end_ms = found_ms;
    for (std::int64_t span_s = 60; covered < window; span_s = std::min<std::int64_t>(span_s * 2, 86400)) {
        const bool newest = end_ms == found_ms;
        const std::int64_t lo_ms = end_ms - span_s * 1000;
        auto r = share_store::window_slice(db, bi.coin, lo_ms, end_ms,
                                           newest ? std::optional<std::string_view>(found_uid) : std::nullopt, take);
        if (!r) {
            return error{what + "reading its window: " + r.error_message()};
        }
        if (!bad_work.empty()) {
            return error{bad_work};
        }
        if (lo_ms < floor_ms) {
            break;  // nothing older is kept: all of it counts
        }
        end_ms = lo_ms;
    }
    bi.pplns_shares.assign(newest_first.rbegin(), newest_first.rend());
    return std::string();
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
    const share_store::epoch_shares shares{k, epoch_start_ms(cfg.epochs, k), epoch_start_ms(cfg.epochs, k + 1), coins};
    auto w = share_store::work_by_account(db, shares);
    if (!w) {
        return error{w.error_message()};
    }
    in.work = std::move(*w);

    if (k > 0) {
        auto prev = epoch_store::load_epoch(db, k - 1);
        if (!prev) {
            return error{prev.error_message()};
        }
        if (!prev->closed) {
            return error{"epoch " + ks + " cannot close before epoch " + std::to_string(k - 1)};
        }
        in.carried_emission = prev->emission_carried;
        auto s = epoch_store::streaks(db, k - 1);
        if (!s) {
            return error{"epoch " + ks + ": " + s.error_message()};
        }
        in.previous_streaks = std::move(*s);
    }

    // pps: accepted work per (account, coin, network work, expected reward).
    const std::string pps_coins = coins_array_literal(cfg, payout_scheme::pps);
    if (pps_coins != "{}") {
        auto p =
            share_store::pps_groups(db, share_store::epoch_shares{shares.k, shares.from_ms, shares.to_ms, pps_coins});
        if (!p) {
            return error{p.error_message()};
        }
        for (auto& g : *p) {
            if (!g.network_work || !g.reward) {
                log::warn("epochs",
                          "epoch {}: {} has accepted {} work {} without network target or reward (version "
                          "1 stream records: version 2 always carries both); pps credits it nothing",
                          k, g.account, g.coin, to_decimal(g.work));
                continue;
            }
            pps_work pw;
            pw.user = std::move(g.account);
            pw.coin = std::move(g.coin);
            pw.network_work = std::move(*g.network_work);
            pw.expected_reward = std::move(*g.reward);
            pw.work = std::move(g.work);
            in.pps.push_back(std::move(pw));
        }
    }

    auto blocks = block_store::blocks_of_epoch(db, k);
    if (!blocks) {
        return error{blocks.error_message()};
    }
    for (auto& row : *blocks) {
        block_input bi;
        bi.hash = std::move(row.hash);
        bi.coin = std::move(row.coin);
        bi.height = row.height;
        bi.reward = std::move(row.reward);
        bi.finder = std::move(row.finder);
        bi.found_epoch = row.found_epoch;
        bi.split_to_finder = row.split_to_finder;
        if (bi.found_epoch != k) {
            // A block booked after its found epoch closed: the PP of that epoch.
            auto pp = epoch_store::pp_of(db, bi.found_epoch);
            if (!pp) {
                return error{"epoch " + ks + ": " + pp.error_message()};
            }
            bi.found_epoch_pp = std::move(*pp);
        }
        if (auto cs = cfg.coins.find(bi.coin);
            !bi.split_to_finder && cs != cfg.coins.end() && cs->second.rules.scheme == payout_scheme::pplns) {
            auto g = gather_pplns_window(db, bi, cs->second.rules.pplns_n_ppm);
            if (!g) {
                return error{"epoch " + ks + ": " + g.error_message()};
            }
            if (!g->empty()) {
                // Cannot be split: parked for the operator; the epoch closes without it.
                auto p = block_store::park_block(db, bi.hash, *g);
                if (!p) {
                    return error{"epoch " + ks + ": " + p.error_message()};
                }
                log::error("blocks",
                           "{} block {} PARKED at the close of epoch {}: {}. Its reward is not booked until an "
                           "operator runs `bmm-accountd block resolve {} --as orphan` or `... --finder NAME`",
                           bi.coin, bi.hash, k, *g, bi.hash);
                continue;
            }
        }
        in.blocks.push_back(std::move(bi));
    }

    auto h = ledger_store::load_bmm_holdings(db);
    if (!h) {
        return error{h.error_message()};
    }
    in.bmm_holdings = std::move(*h);
    return in;
}

result<close_report> close_due_epochs(pg::connection& db, const accountd_config& cfg, std::int64_t now_ms,
                                      const std::function<result<bool>(std::int64_t)>& stored_through,
                                      const std::function<result<bool>()>& record_blocks, std::uint64_t max_epochs) {
    close_report rep;
    auto n = epoch_store::first_open_epoch(db);
    if (!n) {
        return error{n.error_message()};
    }
    rep.next = *n;
    while (rep.closed < max_epochs) {
        const std::uint64_t k = rep.next;
        const std::int64_t start = epoch_start_ms(cfg.epochs, k), end = epoch_start_ms(cfg.epochs, k + 1);
        const std::int64_t due = end + cfg.epochs.close_grace_ms;
        if (now_ms < due) {
            break;
        }
        auto stored = stored_through(due);
        if (!stored) {
            return error{"epoch " + std::to_string(k) + ": " + stored.error_message()};
        }
        if (!*stored) {
            break;  // shares up to its end may still be on their way
        }
        if (auto e = epoch_store::ensure_epoch(db, k, pg::timestamp_text(start), pg::timestamp_text(end)); !e) {
            return error{e.error_message()};
        }
        if (auto r = record_blocks(); !r) {
            return error{r.error_message()};
        }
        // From reading the epoch's shares to committing its close, no share
        // is stored (the ingest takes this lock shared): a share stored before
        // is read here, one stored after sees the epoch closed and is late.
        auto close_lock = pg::advisory_lock::take(db, pg::k_epoch_close_lock);
        if (!close_lock) {
            return error{"epoch " + std::to_string(k) + ": " + close_lock.error_message()};
        }
        auto in = gather_epoch_input(db, cfg, k);
        if (!in) {
            return error{in.error_message()};
        }
        auto out = close_epoch(*in);
        if (!out) {
            return error{"epoch " + std::to_string(k) + ": " + out.error_message()};
        }
        epoch_fault_point("kill-before-epoch-booked");
        auto booked = epoch_store::book_epoch_close(db, *out);
        if (!booked) {
            return error{booked.error_message()};
        }
        epoch_fault_point("kill-after-epoch-booked");
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
