#pragma once
// Test support: the money rules written out plainly, independent of the
// product code (docs/accounting.md), for the tests that compute every
// balance on their own from the raw stream records and compare it with what
// the ledger holds: work from a share's target, streaks and e, PP, the
// genesis allocation and the emission, fees and dividends, the
// largest-remainder splits. What differs between those tests (one coin or
// two, pp, pplns or pps, late shares) stays in each test.

#include "stack_pg.hpp"

#include <gtest/gtest.h>
#include <boost/multiprecision/cpp_int.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace bmm::test::reference {

using big = boost::multiprecision::cpp_int;
// (account, currency) -> balance in base units.
using balances = std::map<std::pair<std::string, std::string>, big>;

// Largest remainder: floor(A W_i / sum), leftovers one each to the largest
// remainders, ties to the name that sorts first.
inline std::map<std::string, big> split(const big& a, const std::map<std::string, big>& w) {
    big sum = 0;
    for (const auto& [k, v] : w) {
        sum += v;
    }
    std::map<std::string, big> out;
    if (sum == 0) {
        return out;
    }
    big given = 0;
    std::vector<std::pair<big, std::string>> rem;
    for (const auto& [k, v] : w) {
        if (v == 0) {
            continue;
        }
        out[k] = a * v / sum;
        given += out[k];
        rem.emplace_back(a * v % sum, k);
    }
    std::sort(rem.begin(), rem.end(), [](const auto& x, const auto& y) {
        return x.first != y.first ? x.first > y.first : x.second < y.second;
    });
    for (std::size_t i = 0; given < a; ++i, ++given) {
        out[rem[i].second] += 1;
    }
    return out;
}

// A share's work: 2^256 / (target + 1), the target in hex.
inline big work_of(const std::string& target_hex) {
    big t = 0;
    for (char c : target_hex) {
        t = t * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return (big(1) << 256) / (t + 1);
}

// A share: when, on which coin, whose, its work; for pplns and pps also its
// uid, the hash of the block it found (else empty), the work of its job's
// network target and the job's expected reward.
struct share_rec {
    std::int64_t ms = 0;
    std::string coin = "LTC";
    std::string account;
    big work;
    std::string uid;
    std::string block_hash;
    big network_work;
    big expected;
    // The epoch it counts in when it was stored after its own epoch closed
    // (docs/accounting.md: the first open epoch; shares.late_epoch), else -1.
    std::int64_t late_epoch = -1;
};
// A pool block: its coin, hash, time, reward, whether the node has it off its
// main chain, who found it, and the epoch it was booked at when that is not
// the one it was found in (-1).
struct block_rec {
    std::string coin = "LTC";
    std::string hash;
    std::int64_t ms = 0;
    big reward;
    bool orphaned = false;
    std::string finder;
    std::int64_t epoch = -1;
};

// The epoch a time falls in (-1 before genesis).
inline std::int64_t epoch_of(std::int64_t ms, std::int64_t genesis, std::int64_t length_seconds) {
    return ms < genesis * 1000 ? -1 : (ms - genesis * 1000) / (length_seconds * 1000);
}

// One BMM in base units (18 decimals).
inline const big k_bmm_unit = big(1000000000000000000ULL);

// The genesis allocation: the foundation's BMM.
inline void add_genesis(balances& bal) {
    bal[{"foundation:airdrop", "BMM"}] = 27800000 * k_bmm_unit;
    bal[{"foundation:developers", "BMM"}] = 27800000 * k_bmm_unit;
    bal[{"foundation:ecosystem", "BMM"}] = 83400000 * k_bmm_unit;
}

// E(k): the emission of epoch k, halved every 1461 epochs.
inline big emission_of(std::int64_t k) {
    const big e0 = big(1251000000) * k_bmm_unit / (2 * 1461);
    return e0 >> static_cast<unsigned>(k / 1461);
}

// PP of an epoch from each user's DPP: a user with DPP grows its streak by
// one (else back to 0, as is a user without work this epoch), e = 1.0 + 0.01
// per epoch of streak after the first, at most 1.5 (in basis points), PP =
// DPP x e. `streak` is updated.
inline std::map<std::string, big> pp_of_epoch(const std::map<std::string, big>& dpp,
                                              std::map<std::string, std::uint32_t>& streak) {
    std::map<std::string, big> pp;
    std::map<std::string, std::uint32_t> next;
    for (const auto& [u, d] : dpp) {
        const std::uint32_t sk = d >= 1 ? streak[u] + 1 : 0;
        next[u] = sk;
        const std::uint32_t e = sk == 0 ? 0 : std::min<std::uint32_t>(15000, 10000 + 100 * (sk - 1));
        pp[u] = d * e;
    }
    streak = next;
    return pp;
}

// The BMM holders and what they hold, by holder name (ties go to the name
// that sorts first): foundation accounts as they are, user:<n>:available as <n>.
inline std::map<std::string, big> bmm_holdings(const balances& bal) {
    std::map<std::string, big> holdings;
    for (const auto& [key, v] : bal) {
        if (key.second == "BMM" && v > 0 &&
            (key.first.rfind("foundation:", 0) == 0 ||
             (key.first.rfind("user:", 0) == 0 && key.first.size() > 10 &&
              key.first.compare(key.first.size() - 10, 10, ":available") == 0))) {
            holdings[key.first.rfind("user:", 0) == 0 ? key.first.substr(5, key.first.size() - 15) : key.first] = v;
        }
    }
    return holdings;
}

// A block's fee (1%) to pool:fees:<coin> and dividends (20%) to the BMM
// holders by their holdings (to pool:undistributed:<coin> when there are
// none); the miners' part that is left.
inline big book_fee_and_dividends(balances& bal, const std::string& coin, const big& reward,
                                  const std::map<std::string, big>& holdings) {
    const big fee = reward * 10000 / 1000000, div = reward * 200000 / 1000000, miners = reward - fee - div;
    bal[{"pool:fees:" + coin, coin}] += fee;
    auto d = split(div, holdings);
    if (d.empty()) {
        bal[{"pool:undistributed:" + coin, coin}] += div;
    }
    for (const auto& [a, v] : d) {
        bal[{a.find(':') == std::string::npos ? "user:" + a + ":available" : a, coin}] += v;
    }
    return miners;
}

// `amount` of `currency` split among the users by `weights` to their
// available accounts (to pool:undistributed:<currency> when no one has weight).
inline void pay_users(balances& bal, const std::string& currency, const big& amount,
                      const std::map<std::string, big>& weights) {
    auto m = split(amount, weights);
    if (m.empty()) {
        bal[{"pool:undistributed:" + currency, currency}] += amount;
    }
    for (const auto& [u, v] : m) {
        bal[{"user:" + u + ":available", currency}] += v;
    }
}

// The epoch's BMM payment (its emission plus what was carried) split by PP;
// what is carried to the next epoch (all of it when no one has PP).
inline big pay_emission(balances& bal, const big& pay, const std::map<std::string, big>& pp) {
    auto em = split(pay, pp);
    for (const auto& [u, v] : em) {
        bal[{"user:" + u + ":available", "BMM"}] += v;
    }
    return em.empty() ? pay : big(0);
}

// The ledger's non-zero balances of user, foundation and pool accounts.
inline balances ledger_balances() {
    balances got;
    for (const auto& row : query("SELECT account, currency, balance::text FROM balances WHERE balance <> 0 AND "
                                 "(account LIKE 'user:%' OR account LIKE 'foundation:%' OR account LIKE 'pool:%')")) {
        got[{row[0], row[1]}] = big(row[2]);
    }
    return got;
}

// The ledger's balances `got` are exactly the non-zero ones of `want`:
// each one there and equal, none more. Fatal (for ASSERT_NO_FATAL_FAILURE)
// when one of `want` is missing.
inline void expect_balances(const balances& got, const balances& want) {
    balances want_nonzero;
    for (const auto& [k, v] : want) {
        if (v != 0) {
            want_nonzero[k] = v;
        }
    }
    EXPECT_EQ(got.size(), want_nonzero.size());
    for (const auto& [k, v] : want_nonzero) {
        auto it = got.find(k);
        ASSERT_NE(it, got.end()) << k.first << " " << k.second << " expected " << v;
        EXPECT_EQ(it->second, v) << k.first << " " << k.second;
    }
    for (const auto& [k, v] : got) {
        EXPECT_TRUE(want_nonzero.count(k)) << k.first << " " << k.second << " = " << v;
    }
}

}  // namespace bmm::test::reference
