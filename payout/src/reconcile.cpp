// reconcile and the wallet check (execute.hpp): where each stored attempt
// stands per the node's wallet, and the one booking each outcome calls for.
#include "bmm/payout/execute.hpp"

#include "bmm/payout/batch_store.hpp"

#include "execute_detail.hpp"

namespace bmm::payout {

using namespace detail;

namespace {

std::string tx_name(std::int64_t id, int tx) { return "batch " + std::to_string(id) + " tx " + std::to_string(tx); }

// Where one batch transaction stands, from all its attempts.
struct tx_view {
    const batch_attempt* mined = nullptr;  // the attempt in a block (deepest)
    int mined_depth = 0;
    bool in_mempool = false;
    bool unknown = false;
    std::string unknown_why;
    // Every attempt is out of the running: a conflicting spend of one of its
    // inputs is at least this deep (0: not all attempts are conflicted).
    int conflict_depth = 0;
};

// How deep a conflicting spend of the attempt is (0: none seen).
result<int> conflict_depth_of(node_wallet& w, const batch_attempt& a, const tx_status& s) {
    if (s.in_wallet && s.confirmations < 0) {
        return -s.confirmations;
    }
    if (s.in_wallet && s.confirmations > 0) {
        return 0;
    }
    auto ins = parse_outpoints_json(a.inputs_json);
    if (!ins) {
        return error{ins.error_message()};
    }
    int depth = 0;
    for (const auto& o : *ins) {
        auto spent = w.spent_in_chain(o);
        if (!spent) {
            return error{spent.error_message()};
        }
        if (!*spent) {
            continue;
        }
        auto d = w.spender_depth(o, a.txid);
        if (!d) {
            return error{d.error_message()};
        }
        depth = std::max(depth, d->value_or(0));
    }
    return depth;
}

result<tx_view> view_of(node_wallet& w, const batch& b, int tx) {
    tx_view v;
    int least_conflict = -1;
    for (const auto* a : attempts_of(b, tx)) {
        if (!live(*a)) {
            continue;
        }
        auto s = w.status(a->txid);
        if (!s) {
            v.unknown = true;
            v.unknown_why = s.error_message();
            return v;
        }
        if (s->confirmations > 0 && s->confirmations > v.mined_depth) {
            v.mined = a;
            v.mined_depth = s->confirmations;
        }
        v.in_mempool = v.in_mempool || s->in_mempool;
        auto d = conflict_depth_of(w, *a, *s);
        if (!d) {
            v.unknown = true;
            v.unknown_why = d.error_message();
            return v;
        }
        least_conflict = least_conflict < 0 ? *d : std::min(least_conflict, *d);
    }
    v.conflict_depth = std::max(least_conflict, 0);
    return v;
}

}  // namespace

result<std::vector<std::int64_t>> batches_to_reconcile(pg::connection& db, std::string_view currency) {
    auto r = db.exec(
        "SELECT b.id FROM payout_batches b WHERE b.currency = $1 AND b.state IN ('approved', 'broadcast') "
        "AND EXISTS (SELECT 1 FROM payout_txs x WHERE x.batch = b.id AND x.state IN ('stored', 'broadcast')) "
        "ORDER BY b.id",
        {std::string(currency)});
    if (!r) {
        return error{r.error_message()};
    }
    std::vector<std::int64_t> out;
    for (int i = 0; i < r->rows(); ++i) {
        out.push_back(r->integer(i, 0));
    }
    return out;
}

result<run_summary> reconcile_batch(pg::connection& db, node_wallet& w, const accounting::payout_settings& ps,
                                    std::int64_t id) {
    auto b = load_batch(db, id);
    if (!b) {
        return error{b.error_message()};
    }
    run_summary sum;
    sum.txs = static_cast<int>(b->txs.size());
    if (b->state == "confirmed" || b->state == "failed") {
        sum.batch_finished = true;
        return sum;
    }
    if (b->state != "approved" && b->state != "broadcast") {
        return error{"batch " + std::to_string(id) + " is " + b->state + "; reconcile follows coin batches"};
    }
    if (auto c = w.check_chain(); !c) {
        return error{c.error_message()};
    }
    if (auto r = sync_locks(db, w, b->currency); !r) {
        return error{r.error_message()};
    }
    const int need = ps.confirmations;
    for (const auto& t : b->txs) {
        if (t.state == "confirmed" || t.state == "failed") {
            sum.confirmed += t.state == "confirmed";
            sum.failed += t.state == "failed";
            continue;
        }
        if (t.state == "building") {
            ++sum.waiting;  // execute builds it
            continue;
        }
        auto v = view_of(w, *b, t.tx);
        if (!v) {
            return error{v.error_message()};
        }
        if (v->unknown) {
            say(tx_name(id, t.tx) + ": unknown (" + v->unknown_why + "); run reconcile again later");
            ++sum.unknown;
            continue;
        }
        if (v->mined && v->mined_depth >= need) {
            fault_point("before_confirm_book");
            if (auto c = confirm_tx(db, id, t.tx, v->mined->attempt); !c) {
                return error{c.error_message()};
            }
            fault_point("after_confirm_book");
            say(tx_name(id, t.tx) + " attempt " + std::to_string(v->mined->attempt) + " " + v->mined->txid + " has " +
                std::to_string(v->mined_depth) + " confirmations: booked as sent");
            ++sum.confirmed;
            continue;
        }
        if (v->mined) {
            say(tx_name(id, t.tx) + " " + v->mined->txid + ": " + std::to_string(v->mined_depth) + " of " +
                std::to_string(need) + " confirmations");
            ++sum.waiting;
            continue;
        }
        if (v->in_mempool) {
            say(tx_name(id, t.tx) + ": in the mempool (bmm-payout bump --fee-rate N if it is stuck)");
            ++sum.waiting;
            continue;
        }
        if (v->conflict_depth >= need) {
            fault_point("before_fail_book");
            if (auto f = fail_tx(db, id, t.tx); !f) {
                return error{f.error_message()};
            }
            say(tx_name(id, t.tx) + ": a conflicting spend of its inputs has " + std::to_string(v->conflict_depth) +
                " confirmations: failed, its lines are back in their holders' available balances");
            ++sum.failed;
            continue;
        }
        // Not mined, not in the mempool: dropped (or never sent). Send the
        // stored hex again; a conflict waits for its depth.
        const batch_attempt* cur = current_attempt(*b, t.tx);
        if (!cur) {
            ++sum.waiting;
            continue;
        }
        auto s = w.broadcast(cur->hex);
        if (!s) {
            say(tx_name(id, t.tx) + ": unknown (" + s.error_message() + ")");
            ++sum.unknown;
            continue;
        }
        if (s->outcome == send_outcome::sent) {
            if (auto m = mark_broadcast(db, id, t.tx, cur->attempt); !m) {
                return error{m.error_message()};
            }
            say(tx_name(id, t.tx) + " " + cur->txid + " was in neither mempool nor chain: sent again");
        } else {
            say(tx_name(id, t.tx) + " " + cur->txid + " refused by the node (" + s->message + ")" +
                (v->conflict_depth > 0 ? "; a conflicting spend has " + std::to_string(v->conflict_depth) + " of " +
                                             std::to_string(need) + " confirmations"
                                       : ""));
        }
        ++sum.waiting;
    }
    auto after = load_batch(db, id);
    if (!after) {
        return error{after.error_message()};
    }
    sum.batch_finished = after->state == "confirmed" || after->state == "failed";
    if (sum.batch_finished) {
        say("batch " + std::to_string(id) + " " + after->state);
    }
    return sum;
}

result<wallet_gap> wallet_check(pg::connection& db, node_wallet& w, std::string_view currency) {
    auto bal = w.balances();
    if (!bal) {
        return error{bal.error_message()};
    }
    wallet_gap g;
    g.wallet = bal->trusted + bal->untrusted_pending;
    g.immature = bal->immature;
    auto owed = db.exec(
        "SELECT coalesce(sum(balance), 0)::text FROM balances WHERE currency = $1 AND (account LIKE 'user:%' OR "
        "account LIKE 'foundation:%' OR account LIKE 'pool:%' OR account = 'payout:in-flight')",
        {std::string(currency)});
    if (!owed) {
        return error{owed.error_message()};
    }
    // Lines and fees of transactions the wallet has sent but the ledger has
    // not booked yet: they already left the wallet.
    auto sent = db.exec(
        "SELECT (coalesce((SELECT sum(l.amount) FROM payout_lines l JOIN payout_txs x ON x.batch = l.batch AND "
        "x.tx = l.tx JOIN payout_batches b ON b.id = l.batch WHERE b.currency = $1 AND x.state = 'broadcast' AND "
        "l.state = 'open'), 0) + coalesce((SELECT sum(a.fee) FROM payout_attempts a JOIN payout_batches b ON "
        "b.id = a.batch WHERE b.currency = $1 AND a.state = 'broadcast'), 0))::text",
        {std::string(currency)});
    if (!sent) {
        return error{sent.error_message()};
    }
    auto o = accounting::parse_amount(owed->get(0, 0));
    auto s = accounting::parse_amount(sent->get(0, 0));
    if (!o || !s) {
        return error{"the ledger's sums are not integers"};
    }
    auto oi = to_i64(*o < 0 ? amount(0) : *o, "the ledger's liabilities");
    auto si = to_i64(*s, "the unbooked payouts");
    if (!oi || !si) {
        return error{!oi ? oi.error_message() : si.error_message()};
    }
    g.owed = *oi;
    g.sent_unbooked = *si;
    return g;
}

}  // namespace bmm::payout
