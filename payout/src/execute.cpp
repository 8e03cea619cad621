// execute and bump: building, storing and broadcasting a batch's
// transactions (execute.hpp). Every step that changes the database is one
// batch_store call (one commit); the node is told nothing that is not stored.
#include "bmm/payout/execute.hpp"

#include "bmm/payout/batch_store.hpp"

#include <signal.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "execute_detail.hpp"

namespace bmm::payout {

void fault_point(std::string_view point) {
    static const char* wanted = std::getenv("BMM_PAYOUT_FAULT");
    if (wanted && point == wanted) {
        std::fprintf(stderr, "bmm-payout: fault point %s: killing myself (BMM_PAYOUT_FAULT)\n", wanted);
        std::fflush(nullptr);
        ::kill(::getpid(), SIGKILL);
    }
}

std::string chain_of_address(std::string_view address) {
    const auto sep = address.rfind('1');
    if (sep == std::string_view::npos) {
        return "";
    }
    const std::string hrp(address.substr(0, sep));
    static const std::map<std::string, std::string> chains = {{"ltc", "main"},  {"tltc", "test"}, {"rltc", "regtest"},
                                                              {"bc", "main"},   {"tb", "test"},   {"bcrt", "regtest"},
                                                              {"rb", "regtest"}};  // bcoin's regtest
    auto it = chains.find(hrp);
    return it == chains.end() ? "" : it->second;
}

namespace detail {

void say(const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
}

result<std::int64_t> to_i64(const amount& a, std::string_view what) {
    if (a < 0 || a > amount(std::numeric_limits<std::int64_t>::max())) {
        return error{std::string(what) + " " + accounting::to_decimal(a) + " is outside the coin's range"};
    }
    return a.convert_to<std::int64_t>();
}

result<std::int64_t> fee_budget(pg::connection& db, std::string_view currency) {
    auto r = db.exec(
        "SELECT (coalesce((SELECT balance FROM balances WHERE account = 'pool:fees:' || $1 AND currency = $1), 0) - "
        "coalesce((SELECT sum(a.fee) FROM payout_attempts a JOIN payout_batches b ON b.id = a.batch "
        "WHERE b.currency = $1 AND a.state IN ('stored', 'broadcast')), 0))::text",
        {std::string(currency)});
    if (!r) {
        return error{r.error_message()};
    }
    auto v = accounting::parse_amount(r->get(0, 0));
    if (!v) {
        return error{v.error_message()};
    }
    return *v < 0 ? 0 : to_i64(*v, "the pool's fee balance");
}

// The attempts that may still confirm: stored, broadcast, replaced.
bool live(const batch_attempt& a) { return a.state == "stored" || a.state == "broadcast" || a.state == "replaced"; }

std::vector<const batch_attempt*> attempts_of(const batch& b, int tx) {
    std::vector<const batch_attempt*> out;
    for (const auto& a : b.attempts) {
        if (a.tx == tx) {
            out.push_back(&a);
        }
    }
    return out;
}

// The attempt a rerun sends: the latest stored or broadcast one.
const batch_attempt* current_attempt(const batch& b, int tx) {
    const batch_attempt* cur = nullptr;
    for (const auto* a : attempts_of(b, tx)) {
        if ((a->state == "stored" || a->state == "broadcast") && (!cur || a->attempt > cur->attempt)) {
            cur = a;
        }
    }
    return cur;
}

result<bool> sync_locks(pg::connection& db, node_wallet& w, std::string_view currency) {
    auto rows = db.exec(
        "SELECT a.batch, a.tx, a.attempt, a.inputs::text FROM payout_attempts a JOIN payout_batches b ON "
        "b.id = a.batch WHERE b.currency = $1 AND a.state IN ('stored', 'broadcast', 'replaced')",
        {std::string(currency)});
    if (!rows) {
        return error{rows.error_message()};
    }
    std::vector<outpoint> stored;
    for (int i = 0; i < rows->rows(); ++i) {
        auto ins = parse_outpoints_json(rows->get(i, 3));
        if (!ins) {
            return error{"batch " + rows->text(i, 0) + " attempt " + rows->text(i, 1) + "." + rows->text(i, 2) + ": " +
                         ins.error_message()};
        }
        stored.insert(stored.end(), ins->begin(), ins->end());
    }
    if (auto l = w.lock(stored); !l) {
        return error{l.error_message()};
    }
    auto locked = w.locked_outpoints();
    if (!locked) {
        return error{locked.error_message()};
    }
    std::vector<outpoint> orphans;
    for (const auto& o : *locked) {
        if (std::find(stored.begin(), stored.end(), o) == stored.end()) {
            orphans.push_back(o);
        }
    }
    if (!orphans.empty()) {
        say("unlocking " + std::to_string(orphans.size()) +
            " wallet coin(s) locked by a build that was never stored (a run stopped mid-way)");
    }
    return w.unlock(orphans);
}

result<tx_request> request_for(pg::connection& db, const batch& b, int tx, const accounting::payout_settings& ps) {
    tx_request req;
    req.batch = b.id;
    req.tx = tx;
    req.fee_rate = ps.fee_rate;
    req.max_fee_rate = ps.max_fee_rate;
    req.max_tx_weight = ps.max_tx_weight;
    std::vector<pay_line> lines;
    for (const auto& l : b.lines) {
        if (l.tx && *l.tx == tx) {
            auto v = to_i64(l.value, "line " + std::to_string(l.line));
            if (!v) {
                return error{v.error_message()};
            }
            lines.push_back({l.line, l.address, *v});
        }
    }
    req.outputs = merge_by_address(lines);
    auto budget = fee_budget(db, b.currency);
    if (!budget) {
        return error{budget.error_message()};
    }
    req.fee_budget = *budget;
    return req;
}

std::string outputs_json(const signed_tx& t) {
    json::writer w;
    w.begin_object();
    for (const auto& o : t.outputs) {
        if (!o.address.empty()) {
            w.key(o.address).str(std::to_string(o.amount));
        }
    }
    w.end_object();
    return w.take();
}

result<int> store(pg::connection& db, std::int64_t id, int tx, const signed_tx& t) {
    new_attempt a;
    a.tx = tx;
    a.txid = t.txid;
    a.hex = t.hex;
    a.inputs_json = outpoints_json(t.inputs);
    a.outputs_json = outputs_json(t);
    a.fee = t.fee;
    a.vsize = static_cast<int>(t.vsize);
    return store_attempt(db, id, a);
}

}  // namespace detail

using namespace detail;

namespace {

std::string tx_name(std::int64_t id, int tx) { return "batch " + std::to_string(id) + " tx " + std::to_string(tx); }

// Sends the stored attempt; marks it broadcast when the node has it.
// Returns whether it is out; an RPC failure is an error (state unknown).
result<bool> send_stored(pg::connection& db, node_wallet& w, std::int64_t id, const batch_attempt& a) {
    auto s = w.broadcast(a.hex);
    if (!s) {
        return error{s.error_message()};
    }
    fault_point("after_broadcast");
    if (s->outcome == send_outcome::sent) {
        if (auto m = mark_broadcast(db, id, a.tx, a.attempt); !m) {
            return error{m.error_message()};
        }
        fault_point("after_mark_broadcast");
        say(tx_name(id, a.tx) + " attempt " + std::to_string(a.attempt) + " " + a.txid + " broadcast");
        return true;
    }
    say(tx_name(id, a.tx) + " attempt " + std::to_string(a.attempt) + " " + a.txid + " not accepted by the node (" +
        s->message + "): reconcile decides (a conflicting spend returns its lines once confirmed)");
    return false;
}

// Packs an approved batch on its first run.
result<bool> ensure_packed(pg::connection& db, const batch& b, const accounting::payout_settings& ps) {
    if (!b.txs.empty()) {
        return true;
    }
    std::vector<pay_line> lines;
    for (const auto& l : b.lines) {
        auto v = to_i64(l.value, "line " + std::to_string(l.line));
        if (!v) {
            return error{v.error_message()};
        }
        lines.push_back({l.line, l.address, *v});
    }
    auto packed = pack_lines(lines, ps.max_tx_weight, marker_text(b.id, 1).size() + 4);
    if (!packed) {
        return error{"[payout] " + packed.error_message()};
    }
    std::vector<std::vector<int>> tx_lines;
    for (const auto& t : *packed) {
        tx_lines.push_back(t.lines);
    }
    if (auto a = assign_lines(db, b.id, tx_lines); !a) {
        return error{a.error_message()};
    }
    say("batch " + std::to_string(b.id) + " packed into " + std::to_string(tx_lines.size()) + " transaction(s)");
    return true;
}

// The checks before anything is built: the node's chain and every address.
result<bool> check_node(node_wallet& w, const batch& b) {
    if (auto c = w.check_chain(); !c) {
        return c;
    }
    std::vector<const batch_line*> open;
    std::vector<std::string> params;
    for (const auto& l : b.lines) {
        if (l.state == "open") {
            open.push_back(&l);
            params.push_back("[" + json::quoted(l.address) + "]");
        }
    }
    auto answers = w.call_batch("validateaddress", params);
    if (!answers) {
        return error{answers.error_message()};
    }
    simdjson::dom::parser parser;
    for (std::size_t i = 0; i < open.size(); ++i) {
        const auto& a = (*answers)[i];
        if (!a) {
            return error{a.error_message()};
        }
        simdjson::dom::element doc;
        bool valid = false;
        if (parser.parse(*a).get(doc) || doc["isvalid"].get(valid) || !valid) {
            return error{"the node does not accept address " + open[i]->address + " of batch " + std::to_string(b.id) +
                         " line " + std::to_string(open[i]->line) + ": is [node] url a node of another network?"};
        }
    }
    return true;
}

}  // namespace

result<run_summary> execute_batch(pg::connection& db, node_wallet& w, const accounting::payout_settings& ps,
                                  std::int64_t id) {
    auto b = load_batch(db, id);
    if (!b) {
        return error{b.error_message()};
    }
    if (b->state == "confirmed") {
        say("batch " + std::to_string(id) + " is already confirmed: nothing to do");
        return run_summary{static_cast<int>(b->txs.size()), 0, static_cast<int>(b->txs.size()), 0, 0, 0, true};
    }
    if (b->state != "approved" && b->state != "broadcast") {
        return error{"batch " + std::to_string(id) + " is " + b->state +
                     "; execute needs an approved batch (bmm-payout approve) or a broadcast one (to resume)"};
    }
    if (auto c = check_node(w, *b); !c) {
        return error{c.error_message()};
    }
    if (auto l = w.locked(); !l) {
        return error{l.error_message()};
    } else if (*l && !w.has_passphrase()) {
        return error{"wallet \"" + w.wallet_name() +
                     "\" is encrypted and locked: give its passphrase with --passphrase-file FILE"};
    }
    if (auto p = ensure_packed(db, *b, ps); !p) {
        return error{p.error_message()};
    }
    b = load_batch(db, id);
    if (!b) {
        return error{b.error_message()};
    }
    if (auto r = sync_locks(db, w, b->currency); !r) {
        return error{r.error_message()};
    }
    auto marked = w.find_marked("bmm:" + std::to_string(id) + ":");
    if (!marked) {
        return error{"cannot look for the batch's transactions in the wallet: " + marked.error_message()};
    }
    run_summary sum;
    sum.txs = static_cast<int>(b->txs.size());
    for (const auto& t : b->txs) {
        if (t.state == "confirmed" || t.state == "failed") {
            sum.confirmed += t.state == "confirmed";
            sum.failed += t.state == "failed";
            continue;
        }
        const batch_attempt* cur = current_attempt(*b, t.tx);
        batch_attempt fresh;
        if (!cur && attempts_of(*b, t.tx).empty()) {
            // Adopt a transaction the wallet sent with this marker.
            const std::string marker = marker_text(id, t.tx);
            auto m = std::find_if(marked->begin(), marked->end(), [&](const auto& x) { return x.marker == marker; });
            std::optional<signed_tx> built;
            if (m != marked->end()) {
                say(tx_name(id, t.tx) + ": the wallet already holds " + m->tx.txid + " with marker " + marker +
                    ": adopted");
                built = m->tx;
            } else {
                auto req = request_for(db, *b, t.tx, ps);
                if (!req) {
                    return error{req.error_message()};
                }
                auto s = w.build(*req);
                if (!s) {
                    return error{tx_name(id, t.tx) + ": " + s.error_message()};
                }
                built = std::move(*s);
            }
            fault_point("before_store");
            auto n = store(db, id, t.tx, *built);
            if (!n) {
                return error{tx_name(id, t.tx) + ": storing " + built->txid +
                             " failed, nothing was broadcast: " + n.error_message()};
            }
            fault_point("after_store");
            say(tx_name(id, t.tx) + " attempt " + std::to_string(*n) + " " + built->txid + " stored (fee " +
                format_coins(built->fee) + ", " + std::to_string(built->vsize) + " vB)");
            // The attempt just stored, as the store holds it (no reload of
            // the whole batch: a 10,000-line batch takes a second to load).
            fresh.tx = t.tx;
            fresh.attempt = *n;
            fresh.txid = built->txid;
            fresh.hex = built->hex;
            fresh.state = "stored";
            cur = &fresh;
        }
        if (!cur) {
            say(tx_name(id, t.tx) + ": no attempt left to send (all conflicted): reconcile decides");
            ++sum.waiting;
            continue;
        }
        auto sent = send_stored(db, w, id, *cur);
        if (!sent) {
            say(tx_name(id, t.tx) + ": unknown: " + sent.error_message());
            ++sum.unknown;
            continue;
        }
        *sent ? ++sum.broadcast : ++sum.waiting;
    }
    return sum;
}

result<run_summary> bump_batch(pg::connection& db, node_wallet& w, const accounting::payout_settings& ps,
                               std::int64_t id, std::int64_t fee_rate) {
    if (fee_rate > ps.max_fee_rate) {
        return error{"--fee-rate " + std::to_string(fee_rate) + " is above [payout] max_fee_rate " +
                     std::to_string(ps.max_fee_rate) + " sat/vB"};
    }
    auto b = load_batch(db, id);
    if (!b) {
        return error{b.error_message()};
    }
    if (b->state != "broadcast") {
        return error{"batch " + std::to_string(id) + " is " + b->state + "; bump needs a broadcast batch"};
    }
    if (auto c = w.check_chain(); !c) {
        return error{c.error_message()};
    }
    if (auto r = sync_locks(db, w, b->currency); !r) {
        return error{r.error_message()};
    }
    run_summary sum;
    sum.txs = static_cast<int>(b->txs.size());
    for (const auto& t : b->txs) {
        const batch_attempt* cur = current_attempt(*b, t.tx);
        if (t.state != "broadcast" || !cur) {
            continue;
        }
        auto st = w.status(cur->txid);
        if (!st) {
            say(tx_name(id, t.tx) + ": unknown: " + st.error_message());
            ++sum.unknown;
            continue;
        }
        if (st->confirmations > 0) {
            say(tx_name(id, t.tx) + " " + cur->txid + " is mined (" + std::to_string(st->confirmations) +
                " confirmations): not bumped");
            continue;
        }
        auto req = request_for(db, *b, t.tx, ps);
        if (!req) {
            return error{req.error_message()};
        }
        req->fee_rate = fee_rate;
        // The old attempt's fee is reserved in the budget until it is replaced.
        req->fee_budget += cur->fee.convert_to<std::int64_t>();
        auto r = w.bump(cur->hex, *req);
        if (!r) {
            return error{tx_name(id, t.tx) + ": " + r.error_message()};
        }
        // The node must take the replacement before it is stored: one that can
        // never be sent would only wait beside the original.
        auto accept = w.call("testmempoolaccept", "[[" + json::quoted(r->hex) + "]]");
        if (!accept) {
            return error{accept.error_message()};
        }
        if (accept->find("\"allowed\":true") == std::string::npos) {
            (void)w.lock(r->inputs);
            return error{tx_name(id, t.tx) + ": the node refuses the replacement " + r->txid + " (" + *accept +
                         "); litecoind needs -mempoolreplacement=1 to take fee bumps"};
        }
        auto n = store(db, id, t.tx, *r);
        if (!n) {
            return error{tx_name(id, t.tx) +
                         ": storing the replacement failed, nothing was broadcast: " + n.error_message()};
        }
        fault_point("after_bump_store");
        say(tx_name(id, t.tx) + " attempt " + std::to_string(*n) + " " + r->txid + " stored (fee " +
            format_coins(r->fee) + ", was " + accounting::to_decimal(cur->fee) + ")");
        batch_attempt next = *cur;
        next.attempt = *n;
        next.txid = r->txid;
        next.hex = r->hex;
        auto sent = send_stored(db, w, id, next);
        if (!sent) {
            say(tx_name(id, t.tx) + ": unknown: " + sent.error_message());
            ++sum.unknown;
            continue;
        }
        if (*sent) {
            if (auto m = mark_replaced(db, id, t.tx, cur->attempt); !m) {
                return error{m.error_message()};
            }
            ++sum.broadcast;
        }
    }
    return sum;
}

}  // namespace bmm::payout
