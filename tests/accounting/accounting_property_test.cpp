// Property tests of the money rules (RapidCheck): random share streams,
// blocks (some booked an epoch late), maturities, orphans and epoch
// sequences go through the library (bmm_accounting_rules, Boost cpp_int)
// and through an independent reference model written here, plainly, on GMP
// integers. After every epoch:
//   - every split adds up to the whole (each block's transfers sum to its
//     reward; the emission paid plus carried equals E(k) plus carried in);
//   - no unit is created or lost (the coinbase sources equal the rewards of
//     the blocks not orphaned; BMM issued equals premine plus emission paid);
//   - the ledger's invariants hold;
//   - the reference model agrees with the library to the base unit, on every
//     balance and on every account's DPP, streak, e and PP;
//   - closing the same epoch again yields the same transfers and books nothing.
#include "bmm/accounting/epoch_close.hpp"

#include <gmpxx.h>
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

namespace acc = bmm::accounting;
using bmm::uint256;

// ---------------------------------------------------------------------------
// The scenario: what happens, independent of how it is accounted.

const std::vector<std::string> user_pool{"a", "b", "c", "B", "zz", "\xc3\xa9"};
const std::vector<std::string> coin_names{"LTC", "BTC"};

struct share {
    std::string user;
    std::size_t coin;
    uint256 target;
};

struct block_event {
    std::string hash;
    std::size_t coin;
    std::uint64_t reward;
    std::size_t finder_share;  // index into the coin's share stream (all epochs so far)
    std::uint64_t found_epoch;
    uint256 network_target;
};

struct coin_setup {
    std::uint32_t fee_ppm;
    std::uint32_t holders_ppm;
    acc::payout_scheme scheme;
    std::uint64_t weight_ppm;
    std::uint64_t pplns_n_ppm;
};

struct setup {
    std::vector<coin_setup> coins;
    std::uint32_t e_step_bp;
    std::uint32_t e_max_bp;
    std::uint64_t min_epoch_dpp_bits;  // min_epoch_dpp = 2^bits - 1 (0 -> 0)
    std::uint64_t halving_period;
};

uint256 random_target() {
    // Targets from 1 to 2^256 - 1 with every magnitude: a random 256-bit
    // number shifted right by a random amount.
    std::array<unsigned char, 32> bytes{};
    for (auto& b : bytes) b = *rc::gen::arbitrary<unsigned char>();
    uint256 t = uint256::from_le_bytes(bytes) >> *rc::gen::inRange(0u, 256u);
    return t.is_zero() ? uint256(1) : t;
}

// ---------------------------------------------------------------------------
// The reference model: GMP integers, maps and loops, written from
// ACCOUNTING.md without looking at the library's code paths.

namespace ref {

struct bytewise_less {
    bool operator()(const std::string& x, const std::string& y) const {
        const std::size_t n = std::min(x.size(), y.size());
        const int c = std::memcmp(x.data(), y.data(), n);  // unsigned bytes
        return c != 0 ? c < 0 : x.size() < y.size();
    }
};
using weights = std::map<std::string, mpz_class, bytewise_less>;
using key = std::pair<std::string, std::string>;  // (account, currency)

mpz_class big(const acc::amount& a) { return mpz_class(acc::to_decimal(a), 10); }
mpz_class big(const uint256& v) { return mpz_class(v.to_hex(), 16); }

mpz_class work_of(const uint256& target) {
    mpz_class two256 = mpz_class(1) << 256;
    return two256 / (big(target) + 1);
}

// floor(A W_i / S) each, then one unit at a time to the largest remainder
// not yet topped up, the first name winning ties.
weights split(const mpz_class& total, const weights& w) {
    mpz_class sum = 0;
    for (const auto& [n, v] : w) sum += v;
    weights out;
    if (sum == 0) return out;
    weights rem;
    mpz_class given = 0;
    for (const auto& [n, v] : w) {
        if (v == 0) continue;
        mpz_class p = total * v;
        out[n] = p / sum;  // both non-negative: truncation is floor
        rem[n] = p % sum;
        given += out[n];
    }
    std::set<std::string> topped;
    for (mpz_class left = total - given; left > 0; --left) {
        const std::string* best = nullptr;
        for (const auto& [n, r] : rem) {
            if (topped.count(n)) continue;
            if (!best || r > rem[*best]) best = &n;  // strict: the earlier name keeps a tie
        }
        out[*best] += 1;
        topped.insert(*best);
    }
    return out;
}

struct account_state {
    mpz_class dpp, pp;
    std::uint32_t streak = 0, e = 0;
};

struct model {
    setup s;
    std::map<key, mpz_class> bal;  // (account, currency) -> balance
    std::map<std::string, std::uint32_t> streak;
    std::map<std::uint64_t, weights> pp_of_epoch;
    mpz_class carried = 0;
    // Per booked block: what it put in which immature account, and its coin.
    std::map<std::string, std::pair<std::string, std::map<std::string, mpz_class>>> pending;

    void move(const std::string& from, const std::string& to, const std::string& cur, const mpz_class& v) {
        if (v == 0) return;
        bal[{from, cur}] -= v;
        bal[{to, cur}] += v;
    }

    static std::string immature(const std::string& account) {
        if (account.rfind("user:", 0) == 0) {
            return account.substr(0, account.size() - std::strlen(":available")) + ":immature";
        }
        return account + ":immature";
    }

    void genesis() {
        mpz_class unit;
        mpz_ui_pow_ui(unit.get_mpz_t(), 10, 18);
        move("system:genesis:BMM", "foundation:airdrop", "BMM", 27800000 * unit);
        move("system:genesis:BMM", "foundation:developers", "BMM", 27800000 * unit);
        move("system:genesis:BMM", "foundation:ecosystem", "BMM", 83400000 * unit);
    }

    mpz_class emission(std::uint64_t k) const {
        mpz_class unit;
        mpz_ui_pow_ui(unit.get_mpz_t(), 10, 18);
        mpz_class e0 = mpz_class(1251000000) * unit / (2 * mpz_class(std::to_string(s.halving_period)));
        std::uint64_t halvings = k / s.halving_period;
        for (std::uint64_t i = 0; i < halvings && e0 > 0; ++i) e0 /= 2;
        return e0;
    }

    struct pps_key {
        std::string user;
        std::size_t coin;
        std::string nw, expected;
        bool operator<(const pps_key& o) const {
            return std::tie(user, coin, nw, expected) < std::tie(o.user, o.coin, o.nw, o.expected);
        }
    };

    // One epoch: returns the per-account figures for comparison.
    std::map<std::string, account_state> close(std::uint64_t k, const std::vector<share>& shares,
                                               const std::vector<std::vector<share>>& stream,
                                               const std::vector<block_event>& blocks,
                                               const std::vector<std::pair<mpz_class, mpz_class>>& pps_params) {
        std::map<std::string, account_state> acct;
        for (const auto& sh : shares)
            acct[sh.user].dpp += work_of(sh.target) * mpz_class(std::to_string(s.coins[sh.coin].weight_ppm));
        for (const auto& [u, st] : streak) {
            if (st > 0) acct[u];
        }
        mpz_class min_dpp = (mpz_class(1) << static_cast<unsigned>(s.min_epoch_dpp_bits)) - 1;
        weights pp;
        for (auto& [u, a] : acct) {
            bool counts = a.dpp > 0 && a.dpp >= min_dpp;
            a.streak = counts ? streak[u] + 1 : 0;
            if (a.streak == 0) {
                a.e = 0;
            } else {
                std::uint64_t e = 10000 + std::uint64_t{s.e_step_bp} * (a.streak - 1);
                a.e = static_cast<std::uint32_t>(e < s.e_max_bp ? e : s.e_max_bp);
            }
            a.pp = a.dpp * a.e;
            if (a.pp > 0) pp[u] = a.pp;
        }
        pp_of_epoch[k] = pp;

        // BMM holders before the emission.
        weights holders;
        for (const auto& [kk, v] : bal) {
            const auto& [account, cur] = kk;
            if (cur != "BMM" || v <= 0) continue;
            bool user_avail = account.rfind("user:", 0) == 0 && account.size() > 15 &&
                              account.compare(account.size() - 10, 10, ":available") == 0;
            bool foundation = account.rfind("foundation:", 0) == 0 && account.find(':', 11) == std::string::npos;
            // Keyed by holder name (docs/accounting.md: ties go to the account name that sorts
            // first): user:<n>:available as <n>, foundation:<x> as itself.
            if (user_avail) {
                holders[account.substr(5, account.size() - 15)] = v;
            }
            if (foundation) {
                holders[account] = v;
            }
        }

        std::vector<mpz_class> miners_part;
        for (const auto& b : blocks) {
            const coin_setup& c = s.coins[b.coin];
            const std::string& coin = coin_names[b.coin];
            mpz_class r(std::to_string(b.reward));
            mpz_class fee = r * c.fee_ppm / 1000000;
            mpz_class div = r * c.holders_ppm / 1000000;
            miners_part.push_back(r - fee - div);
            // Plain references, not a structured binding: the lambda below captures it.
            auto& entry = pending[b.hash];
            auto& credited = entry.second;
            entry.first = coin;
            auto credit = [&](const std::string& to, const mpz_class& v) {
                move("system:coinbase:" + coin, to, coin, v);
                if (v > 0) credited[to] += v;
            };
            credit("pool:fees:" + coin + ":immature", fee);
            weights d = split(div, holders);
            if (d.empty()) credit("pool:undistributed:" + coin + ":immature", div);
            for (const auto& [h, v] : d) {
                credit(h.find(':') == std::string::npos ? "user:" + h + ":immature" : immature(h), v);
            }
        }

        mpz_class due = emission(k) + carried;
        weights e = split(due, pp);
        if (e.empty()) {
            carried = due;
        } else {
            carried = 0;
            for (const auto& [u, v] : e) move("system:emission:BMM", "user:" + u + ":available", "BMM", v);
        }

        for (std::size_t i = 0; i < blocks.size(); ++i) {
            const auto& b = blocks[i];
            const coin_setup& c = s.coins[b.coin];
            const std::string& coin = coin_names[b.coin];
            auto& credited = pending[b.hash].second;
            auto credit = [&](const std::string& to, const mpz_class& v) {
                move("system:coinbase:" + coin, to, coin, v);
                if (v > 0) credited[to] += v;
            };
            weights w;
            switch (c.scheme) {
                case acc::payout_scheme::pp:
                    w = pp_of_epoch[b.found_epoch];
                    break;
                case acc::payout_scheme::solo:
                    w[stream[b.coin][b.finder_share].user] = 1;
                    break;
                case acc::payout_scheme::pps:
                    credit("pool:pps:" + coin + ":immature", miners_part[i]);
                    continue;
                case acc::payout_scheme::pplns: {
                    mpz_class window = work_of(b.network_target) * mpz_class(std::to_string(c.pplns_n_ppm)) / 1000000;
                    mpz_class taken = 0;
                    for (std::size_t j = b.finder_share + 1; j-- > 0 && taken < window;) {
                        mpz_class wj = work_of(stream[b.coin][j].target);
                        mpz_class inside = window - taken < wj ? mpz_class(window - taken) : wj;
                        if (inside > 0) w[stream[b.coin][j].user] += inside;
                        taken += inside;
                    }
                    break;
                }
            }
            weights m = split(miners_part[i], w);
            if (m.empty()) credit("pool:undistributed:" + coin + ":immature", miners_part[i]);
            for (const auto& [u, v] : m) credit("user:" + u + ":immature", v);
        }

        // PPS: group the epoch's shares on pps coins, floor per group.
        std::map<pps_key, mpz_class> groups;
        for (std::size_t i = 0; i < shares.size(); ++i) {
            const auto& sh = shares[i];
            if (s.coins[sh.coin].scheme != acc::payout_scheme::pps) continue;
            const auto& [nw, expected] = pps_params[i % pps_params.size()];
            groups[{sh.user, sh.coin, nw.get_str(), expected.get_str()}] += work_of(sh.target);
        }
        for (const auto& [g, w] : groups) {
            const coin_setup& c = s.coins[g.coin];
            mpz_class expected(g.expected), nw(g.nw);
            mpz_class m = expected - expected * c.fee_ppm / 1000000 - expected * c.holders_ppm / 1000000;
            move("pool:pps:" + coin_names[g.coin], "user:" + g.user + ":available", coin_names[g.coin], w * m / nw);
        }
        for (const auto& [u, a] : acct) streak[u] = a.streak;
        return acct;
    }

    void mature(const std::string& hash) {
        auto& [coin, credited] = pending.at(hash);
        for (const auto& [imm, v] : credited) {
            std::string avail = imm.substr(0, imm.size() - std::strlen(":immature"));
            if (avail.rfind("user:", 0) == 0) avail += ":available";
            move(imm, avail, coin, v);
        }
        pending.erase(hash);
    }
    void orphan(const std::string& hash) {
        auto& [coin, credited] = pending.at(hash);
        for (const auto& [imm, v] : credited) move(imm, "system:coinbase:" + coin, coin, v);
        pending.erase(hash);
    }
};

}  // namespace ref

std::map<ref::key, std::string> nonzero(const acc::ledger& l) {
    std::map<ref::key, std::string> out;
    for (const auto& [k, v] : l.balances()) {
        if (v != 0) out[k] = acc::to_decimal(v);
    }
    return out;
}
std::map<ref::key, std::string> nonzero(const ref::model& m) {
    std::map<ref::key, std::string> out;
    for (const auto& [k, v] : m.bal) {
        if (v != 0) out[k] = v.get_str();
    }
    return out;
}

acc::amount lib_amount(std::uint64_t v) { return acc::amount(v); }

RC_GTEST_PROP(accounting_property, library_and_reference_agree_and_invariants_hold, ()) {
    // ---- configuration ----
    setup s;
    for (std::size_t c = 0; c < coin_names.size(); ++c) {
        coin_setup cs;
        cs.fee_ppm = *rc::gen::inRange(0u, 100001u);
        cs.holders_ppm = *rc::gen::inRange(0u, 1000001u - cs.fee_ppm);
        cs.scheme = *rc::gen::element(acc::payout_scheme::pp, acc::payout_scheme::pplns, acc::payout_scheme::pps,
                                      acc::payout_scheme::solo);
        cs.weight_ppm = *rc::gen::element<std::uint64_t>(1, 1000000, 250000, 3000000000ULL);
        cs.pplns_n_ppm = *rc::gen::inRange<std::uint64_t>(1, 5000001);
        s.coins.push_back(cs);
    }
    s.e_step_bp = *rc::gen::inRange(0u, 2000u);
    s.e_max_bp = *rc::gen::inRange(0u, 30000u);
    s.min_epoch_dpp_bits = *rc::gen::element<std::uint64_t>(0, 1, 200, 270);
    s.halving_period = *rc::gen::inRange<std::uint64_t>(1, 6);

    acc::accounting_config cfg;
    for (std::size_t c = 0; c < coin_names.size(); ++c) {
        const auto& cs = s.coins[c];
        cfg.coins[coin_names[c]] =
            acc::coin_rules{cs.fee_ppm, cs.holders_ppm, cs.scheme, cs.weight_ppm, cs.pplns_n_ppm};
    }
    cfg.persistence.e_step_bp = s.e_step_bp;
    cfg.persistence.e_max_bp = s.e_max_bp;
    cfg.persistence.min_epoch_dpp = (acc::amount(1) << static_cast<unsigned>(s.min_epoch_dpp_bits)) - 1;
    cfg.halving_period = s.halving_period;

    acc::ledger lib;
    RC_ASSERT(lib.apply_all(acc::genesis_transfers()).ok());
    ref::model model;
    model.s = s;
    model.genesis();

    std::map<std::string, std::uint32_t> streaks;
    std::map<std::uint64_t, std::map<std::string, acc::amount>> pp_history;
    acc::amount carried = 0;
    acc::amount emission_paid_total = 0;
    std::vector<std::vector<share>> stream(coin_names.size());
    std::vector<block_event> late;     // found in the previous epoch, booked in this one
    std::vector<std::string> pending;  // booked, neither mature nor orphaned
    std::map<std::string, std::pair<std::string, std::uint64_t>> live;  // hash -> (coin, reward), not orphaned
    int block_counter = 0;

    const std::uint64_t epochs = *rc::gen::inRange<std::uint64_t>(1, 9);
    // Start at genesis, or just before a halving boundary (with the emission
    // scheduled before it carried in, as if nobody had mined yet).
    const std::uint64_t first_epoch = *rc::gen::element<std::uint64_t>(0, 1, 3 * s.halving_period - 1);
    carried = acc::cumulative_emission(first_epoch, s.halving_period);
    model.carried = ref::big(carried);

    for (std::uint64_t k = first_epoch; k < first_epoch + epochs; ++k) {
        // ---- what happened in epoch k ----
        std::vector<share> shares;
        const int n_shares = *rc::gen::inRange(0, 25);
        for (int i = 0; i < n_shares; ++i) {
            shares.push_back(share{*rc::gen::elementOf(user_pool), *rc::gen::inRange<std::size_t>(0, coin_names.size()),
                                   random_target()});
        }
        for (const auto& sh : shares) stream[sh.coin].push_back(sh);
        // PPS: each share gets one of a few (network work, expected reward) pairs.
        std::vector<std::pair<acc::amount, std::uint64_t>> pps_params;
        const int n_params = *rc::gen::inRange(1, 4);
        for (int i = 0; i < n_params; ++i) {
            pps_params.emplace_back(acc::share_work(random_target()), *rc::gen::arbitrary<std::uint64_t>());
        }
        std::vector<block_event> booked = late;
        late.clear();
        const int n_blocks = *rc::gen::inRange(0, 4);
        for (int i = 0; i < n_blocks; ++i) {
            const auto coin = *rc::gen::inRange<std::size_t>(0, coin_names.size());
            if (stream[coin].empty()) continue;
            block_event b;
            b.hash = "h" + std::to_string(block_counter++);
            b.coin = coin;
            b.reward =
                *rc::gen::oneOf(rc::gen::inRange<std::uint64_t>(1, 30), rc::gen::inRange<std::uint64_t>(1, 1ULL << 63));
            b.finder_share = *rc::gen::inRange<std::size_t>(0, stream[coin].size());
            b.found_epoch = k;
            // Mostly a network target near the stream's share targets, so that
            // the PPLNS window ends inside the stream.
            if (*rc::gen::inRange(0, 3) == 0) {
                b.network_target = random_target();
            } else {
                const uint256 t = (*rc::gen::elementOf(stream[coin])).target >> *rc::gen::inRange(0u, 5u);
                b.network_target = t.is_zero() ? uint256(1) : t;
            }
            if (*rc::gen::inRange(0, 4) == 0) {
                late.push_back(b);
            } else {
                booked.push_back(b);
            }
        }

        // ---- the library ----
        acc::epoch_close_input in;
        in.k = k;
        in.config = cfg;
        for (const auto& sh : shares) in.work[sh.user][coin_names[sh.coin]] += acc::share_work(sh.target);
        in.previous_streaks = streaks;
        in.bmm_holdings = lib.bmm_holdings();
        for (const auto& b : booked) {
            acc::block_input bi;
            bi.hash = b.hash;
            bi.coin = coin_names[b.coin];
            bi.reward = lib_amount(b.reward);
            bi.finder = stream[b.coin][b.finder_share].user;
            bi.found_epoch = b.found_epoch;
            if (b.found_epoch != k) bi.found_epoch_pp = pp_history[b.found_epoch];
            for (std::size_t j = 0; j <= b.finder_share; ++j) {
                bi.pplns_shares.push_back({stream[b.coin][j].user, acc::share_work(stream[b.coin][j].target)});
            }
            bi.network_work = acc::share_work(b.network_target);
            in.blocks.push_back(std::move(bi));
        }
        for (std::size_t i = 0; i < shares.size(); ++i) {
            const auto& sh = shares[i];
            if (s.coins[sh.coin].scheme != acc::payout_scheme::pps) continue;
            const auto& [nw, expected] = pps_params[i % pps_params.size()];
            in.pps.push_back({sh.user, coin_names[sh.coin], acc::share_work(sh.target), nw, lib_amount(expected)});
        }
        in.carried_emission = carried;

        auto out = acc::close_epoch(in);
        RC_ASSERT(out.ok());
        auto applied = lib.apply_all(out->transfers);
        RC_ASSERT(applied.ok());
        RC_ASSERT(*applied == out->transfers.size());

        // Every split adds up to the whole.
        for (const auto& b : booked) {
            acc::amount sum = 0;
            for (const auto& t : out->transfers) {
                if (t.reference == "block:" + b.hash) sum += t.value;
            }
            RC_ASSERT(sum == lib_amount(b.reward));
            live[b.hash] = {coin_names[b.coin], b.reward};
            pending.push_back(b.hash);
        }
        acc::amount emitted = 0;
        for (const auto& t : out->transfers) {
            if (t.kind == acc::transfer_kind::emission) emitted += t.value;
        }
        RC_ASSERT(emitted == out->emission_paid);
        RC_ASSERT(out->emission == acc::epoch_emission(k, s.halving_period));
        RC_ASSERT(out->emission_paid + out->carried_emission == out->emission + carried);
        emission_paid_total += out->emission_paid;

        // Closing the same epoch again books nothing new.
        auto again = acc::close_epoch(in);
        RC_ASSERT(again.ok());
        RC_ASSERT(again->transfers == out->transfers);
        RC_ASSERT(*lib.apply_all(again->transfers) == 0u);

        // ---- the reference model ----
        std::vector<std::pair<mpz_class, mpz_class>> ref_params;
        for (const auto& [nw, expected] : pps_params) {
            ref_params.emplace_back(ref::big(nw), mpz_class(std::to_string(expected)));
        }
        auto ref_accounts = model.close(k, shares, stream, booked, ref_params);
        RC_ASSERT(ref_accounts.size() == out->accounts.size());
        for (const auto& [u, a] : out->accounts) {
            const auto it = ref_accounts.find(u);
            RC_ASSERT(it != ref_accounts.end());
            RC_ASSERT(ref::big(a.dpp) == it->second.dpp);
            RC_ASSERT(ref::big(a.pp) == it->second.pp);
            RC_ASSERT(a.streak == it->second.streak);
            RC_ASSERT(a.e_bp == it->second.e);
        }
        RC_ASSERT(ref::big(out->carried_emission) == model.carried);

        // ---- maturity and orphans of booked blocks ----
        std::vector<std::string> still;
        for (const auto& hash : pending) {
            const int fate = *rc::gen::inRange(0, 3);
            if (fate == 0) {
                still.push_back(hash);
                continue;
            }
            auto ts = fate == 1 ? acc::block_maturity_transfers(hash, lib.transfers())
                                : acc::block_orphan_transfers(hash, lib.transfers());
            RC_ASSERT(ts.ok());
            RC_ASSERT(lib.apply_all(*ts).ok());
            if (fate == 1) {
                model.mature(hash);
            } else {
                model.orphan(hash);
                live.erase(hash);
            }
            // Asking twice gives the same ids: nothing new.
            auto repeat = fate == 1 ? acc::block_maturity_transfers(hash, lib.transfers())
                                    : acc::block_orphan_transfers(hash, lib.transfers());
            RC_ASSERT(repeat.ok());
            RC_ASSERT(*lib.apply_all(*repeat) == 0u);
        }
        pending = still;

        // ---- invariants, conservation, agreement ----
        const auto problems = lib.check_invariants();
        RC_ASSERT(problems.empty());
        std::map<std::string, acc::amount> rewards;
        for (const auto& [hash, cr] : live) rewards[cr.first] += lib_amount(cr.second);
        for (const auto& coin : coin_names) {
            RC_ASSERT(-lib.balance(acc::coinbase_account(coin), coin) == rewards[coin]);
        }
        RC_ASSERT(lib.bmm_issued() == acc::bmm_premine_total() + emission_paid_total);
        RC_ASSERT(nonzero(lib) == nonzero(model));

        for (const auto& [u, a] : out->accounts) streaks[u] = a.streak;
        std::map<std::string, acc::amount> pps_now;
        for (const auto& [u, a] : out->accounts) {
            if (a.pp > 0) pps_now[u] = a.pp;
        }
        pp_history[k] = pps_now;
        carried = out->carried_emission;
    }
}

}  // namespace
