#include "bmm/accounting/mining_gate.hpp"

#include "bmm/accounting/ledger_model.hpp"
#include "bmm/accounting/ledger_store.hpp"
#include "bmm/accounting/redis_reply.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <memory>

namespace bmm::accounting {

std::vector<std::string> accounts_allowed_to_mine(const std::map<std::string, amount>& holdings, const amount& min) {
    std::vector<std::string> out;
    constexpr std::string_view prefix = "user:";
    constexpr std::string_view suffix = ":available";
    for (const auto& [account, held] : holdings) {
        if (held < min || account.size() <= prefix.size() + suffix.size() || account.rfind(prefix, 0) != 0 ||
            account.compare(account.size() - suffix.size(), suffix.size(), suffix) != 0) {
            continue;
        }
        out.push_back(account.substr(prefix.size(), account.size() - prefix.size() - suffix.size()));
    }
    std::sort(out.begin(), out.end());
    return out;
}

result<std::size_t> publish_mining_gate(const accountd_config& cfg, pg::connection& db) {
    if (cfg.coins.empty()) {
        return std::size_t{0};
    }
    auto holdings = ledger_store::load_bmm_holdings(db);
    if (!holdings) {
        return error{"mining gate: " + holdings.error_message()};
    }
    auto conn = redis::connect(cfg.redis, std::chrono::milliseconds(5000));
    if (!conn) {
        return error{"mining gate: " + conn.error_message()};
    }
    const redis_context_ptr& c = conn->ctx;
    const std::string where = "Redis " + conn->address;
    std::size_t published = 0;
    for (const auto& [coin, cs] : cfg.coins) {
        const std::string key = "bmm:mining-gate:" + coin;
        const std::string tmp = key + ":next";
        const auto allowed = cs.min_bmm_to_mine > 0 ? accounts_allowed_to_mine(*holdings, cs.min_bmm_to_mine)
                                                    : std::vector<std::string>{};
        std::vector<std::vector<std::string>> cmds;
        cmds.push_back({"MULTI"});
        cmds.push_back({"DEL", tmp});
        for (std::size_t i = 0; i < allowed.size(); i += 1000) {
            std::vector<std::string> add{"SADD", tmp};
            add.insert(add.end(), allowed.begin() + static_cast<std::ptrdiff_t>(i),
                       allowed.begin() + static_cast<std::ptrdiff_t>(std::min(allowed.size(), i + 1000)));
            cmds.push_back(std::move(add));
        }
        cmds.push_back(allowed.empty() ? std::vector<std::string>{"DEL", key}
                                       : std::vector<std::string>{"RENAME", tmp, key});
        cmds.push_back({"SET", key + ":min", to_decimal(cs.min_bmm_to_mine)});
        cmds.push_back({"EXEC"});
        for (const auto& cmd : cmds) {
            auto r = redis_command(c.get(), cmd);
            if (!r || r->type == REDIS_REPLY_ERROR) {
                return error{"mining gate: " + cmd.front() + " " + key + " on " + where +
                             " failed: " + (r ? std::string(r->str, r->len) : std::string(c->errstr))};
            }
            if (cmd.front() == "EXEC" && r->type != REDIS_REPLY_ARRAY) {
                return error{"mining gate: the transaction on " + where + " for " + key + " was not applied"};
            }
        }
        ++published;
    }
    return published;
}

}  // namespace bmm::accounting
