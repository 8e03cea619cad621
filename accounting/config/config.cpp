#include "bmm/accounting/config.hpp"

#include "bmm/config/redis_section.hpp"
#include "bmm/config/toml_reader.hpp"
#include "bmm/pg/text.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#ifndef BMM_SQL_DIR
#define BMM_SQL_DIR "sql"
#endif

namespace bmm::accounting {
namespace {

using config::config_error;
using config::read_redis_connection;
using config::section;
using config::toml_reader;
using config::with_redis_connection_keys;

bool is_currency_code(std::string_view s) {
    bool good = s.size() >= 2 && s.size() <= 10;
    for (char ch : s) {
        good = good && ((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'));
    }
    return good;
}

// [payout] and [payout.min_amount]: amounts are base units, as an integer or
// as decimal text (BMM thresholds outgrow TOML's 64-bit integers).
void parse_payout(const toml::table& root, const std::string& file, payout_settings& out) {
    toml_reader p(section(root, "payout", file, false), file, "payout");
    p.only({"wallet", "min_amount", "confirmations", "fee_rate", "max_fee_rate", "max_tx_weight", "coins"});
    p.string("wallet", out.wallet);
    p.integer("confirmations", out.confirmations, 1, 10000);
    p.integer("fee_rate", out.fee_rate, 1, 100000);
    p.integer("max_fee_rate", out.max_fee_rate, 1, 100000);
    p.integer("max_tx_weight", out.max_tx_weight, 4000, 400000);
    if (out.max_fee_rate < out.fee_rate) {
        throw config_error{p.at("max_fee_rate") + ": [payout] max_fee_rate (" + std::to_string(out.max_fee_rate) +
                           ") must not be below fee_rate (" + std::to_string(out.fee_rate) + ")"};
    }
    const auto* payout = root.get_as<toml::table>("payout");
    if (const auto* coins = payout ? payout->get_as<toml::table>("coins") : nullptr) {
        for (const auto& [key, value] : *coins) {
            const std::string cur(key.str());
            const std::string sec = "payout.coins." + cur;
            const auto* t = value.as_table();
            if (!t || !is_currency_code(cur)) {
                throw config_error{config::where(file, value.source()) + ": [" + sec +
                                   "] must be a table named by a currency, e.g. [payout.coins.BTC]"};
            }
            toml_reader k(*t, file, sec);
            k.only({"node", "wallet_url"});
            payout_coin_settings pc;
            k.string("node", pc.node);
            k.string("wallet_url", pc.wallet_url);
            if (pc.node != "core" && pc.node != "bcoin") {
                throw config_error{k.at("node") + ": [" + sec + "] node must be \"core\" or \"bcoin\""};
            }
            if (pc.node == "bcoin" && pc.wallet_url.rfind("http://", 0) != 0) {
                throw config_error{k.at("wallet_url") + ": [" + sec +
                                   "] node = \"bcoin\" needs wallet_url, the http:// URL of bcoin's wallet RPC "
                                   "server (its own port: --wallet-http-port)"};
            }
            out.coins[cur] = pc;
        }
    }
    const toml::node* mins = payout ? payout->get("min_amount") : nullptr;
    if (!mins) {
        return;
    }
    const auto* t = mins->as_table();
    if (!t) {
        throw config_error{config::where(file, mins->source()) +
                           ": [payout] min_amount must be a table of currency = base units, e.g. "
                           "[payout.min_amount] LTC = \"10000000\""};
    }
    for (const auto& [key, value] : *t) {
        const std::string cur(key.str());
        const std::string at = config::where(file, value.source());
        if (!is_currency_code(cur)) {
            throw config_error{at + ": [payout.min_amount] " + cur +
                               ": a currency is 2 to 10 capital letters or digits, e.g. LTC"};
        }
        std::optional<amount> v;
        if (value.is_integer()) {
            v = amount(*value.value<std::int64_t>());
        } else if (auto text = value.value<std::string>()) {
            auto parsed = parse_amount(config::expand_env(*text, at, "[payout.min_amount] " + cur));
            if (parsed) {
                v = *parsed;
            }
        }
        if (!v || *v < 0) {
            throw config_error{at + ": [payout.min_amount] " + cur +
                               " must be a whole number of base units from 0, as an integer or decimal text "
                               "(e.g. \"10000000\" for 0.1 LTC)"};
        }
        out.min_amount[cur] = *v;
    }
}

// [web] and [web.stratum.<COIN>] (algorithm, urls): facts for the page.
void parse_web(const toml::table& root, const std::string& file, web_settings& out) {
    toml_reader w(section(root, "web", file, false), file, "web");
    w.only({"payout_schedule", "offline_after_minutes", "stratum"});
    w.string("payout_schedule", out.payout_schedule);
    w.integer("offline_after_minutes", out.offline_after_minutes, 1, 1440);
    const auto* web = root.get_as<toml::table>("web");
    const toml::node* st = web ? web->get("stratum") : nullptr;
    if (!st) {
        return;
    }
    const auto* t = st->as_table();
    if (!t) {
        throw config_error{config::where(file, st->source()) +
                           ": [web] stratum must be a table of coins, e.g. [web.stratum.LTC] algorithm = \"scrypt\""};
    }
    for (const auto& [key, value] : *t) {
        const std::string coin(key.str());
        const std::string sec = "web.stratum." + coin;
        const auto* ct = value.as_table();
        if (!ct || !is_currency_code(coin)) {
            throw config_error{config::where(file, value.source()) + ": [" + sec +
                               "] must be a table named by a coin (2 to 10 capital letters or digits), e.g. "
                               "[web.stratum.LTC]"};
        }
        toml_reader c(*ct, file, sec);
        c.only({"algorithm", "urls"});
        web_stratum ws;
        c.string("algorithm", ws.algorithm, true);
        c.strings("urls", ws.urls);
        for (const auto& u : ws.urls) {
            if (u.rfind("stratum+", 0) != 0 || u.find("://") == std::string::npos) {
                throw config_error{c.at("urls") + ": [" + sec + "] urls: \"" + u.substr(0, 80) +
                                   "\" is not a Stratum URL (stratum+tcp://host:port or stratum+ssl://host:port)"};
            }
        }
        out.stratum.emplace(coin, std::move(ws));
    }
}

// [postgres] and [api.read_postgres]: one server (host, port) or several
// (hosts, target_session_attrs), who connects, and how long a failover is
// waited for.
void parse_postgres(const toml::table& t, const std::string& file, const std::string& sec, pg::settings& out,
                    bool read_side) {
    toml_reader p(t, file, sec);
    if (read_side) {
        p.only({"host", "port", "hosts", "target_session_attrs", "user", "dbname", "password"});
    } else {
        p.only({"host", "port", "hosts", "target_session_attrs", "failover_retry_seconds", "user", "dbname", "password",
                "migrations_dir"});
    }
    p.string("host", out.host);
    p.integer("port", out.port, 1, 65535);
    p.strings("hosts", out.hosts);
    if (t.contains("hosts")) {
        if (t.contains("host") || t.contains("port")) {
            throw config_error{p.at("hosts") + ": [" + sec +
                               "] has both hosts and host/port: give either hosts = [\"host:port\", ...] (several "
                               "servers, the primary found among them) or host and port (one server)"};
        }
        if (out.hosts.empty()) {
            throw config_error{p.at("hosts") + ": [" + sec +
                               "] hosts is empty: list the servers, e.g. hosts = [\"10.77.0.31:5432\", "
                               "\"10.77.0.32:5432\"]"};
        }
        for (const auto& h : out.hosts) {
            if (auto hp = pg::parse_host_port(h); !hp) {
                throw config_error{p.at("hosts") + ": [" + sec + "] hosts: " + hp.error_message()};
            }
        }
    }
    p.string("target_session_attrs", out.target_session_attrs);
    static const char* const k_attrs[] = {"any", "read-write", "read-only", "primary", "standby", "prefer-standby"};
    if (t.contains("target_session_attrs") &&
        std::find(std::begin(k_attrs), std::end(k_attrs), out.target_session_attrs) == std::end(k_attrs)) {
        throw config_error{p.at("target_session_attrs") + ": [" + sec + "] target_session_attrs \"" +
                           out.target_session_attrs.substr(0, 40) +
                           "\" is not one of any, read-write, read-only, primary, standby, prefer-standby" +
                           (read_side ? "" : " (the daemons write: read-write)")};
    }
    if (!read_side && !out.target_session_attrs.empty() && out.target_session_attrs != "read-write" &&
        out.target_session_attrs != "primary") {
        throw config_error{p.at("target_session_attrs") + ": [" + sec + "] target_session_attrs = \"" +
                           out.target_session_attrs +
                           "\" could connect to a standby, where nothing can be written: use \"read-write\" "
                           "(the default with hosts) or \"primary\""};
    }
    if (!read_side) {
        p.integer("failover_retry_seconds", out.failover_retry_seconds, 1, 86400);
    }
    p.string("user", out.user, !read_side);
    p.string("dbname", out.dbname, !read_side);
    p.string("password", out.password);
}

accountd_config parse(const toml::table& root, const std::string& file) {
    accountd_config c;
    c.file = file;
    c.migrations_dir = BMM_SQL_DIR;
    toml_reader top(root, file, "");
    top.only({"postgres", "redis", "node", "ingest", "epochs", "coins", "api", "log", "payout", "notify", "web"});

    parse_postgres(section(root, "postgres", file, true), file, "postgres", c.postgres, false);
    toml_reader p(section(root, "postgres", file, true), file, "postgres");
    p.string("migrations_dir", c.migrations_dir);

    toml_reader r(section(root, "redis", file, true), file, "redis");
    r.only(with_redis_connection_keys(
        {"stream", "streams", "group", "consumer", config::k_wait_replicas_key, config::k_wait_timeout_key}));
    read_redis_connection(r, c.redis);
    config::read_replica_wait(r, c.redis.wait);
    r.string("stream", c.redis.stream);
    if (const auto* rt = root.get_as<toml::table>("redis"); rt && rt->contains("streams")) {
        if (rt->contains("stream")) {
            throw config_error{r.at("streams") +
                               ": give [redis] streams = [...] or stream = \"...\", not both "
                               "(stream = \"x\" is shorthand for streams = [\"x\"])"};
        }
        r.strings("streams", c.redis.streams);
        if (c.redis.streams.empty()) {
            throw config_error{r.at("streams") +
                               ": [redis] streams must name at least one stream, e.g. "
                               "[\"bmm:shares:{1}\", \"bmm:shares:{2}\"]"};
        }
        for (std::size_t a = 0; a < c.redis.streams.size(); ++a) {
            if (c.redis.streams[a].empty()) {
                throw config_error{r.at("streams") + ": [redis] streams: a stream name must not be empty"};
            }
            for (std::size_t b = 0; b < a; ++b) {
                if (c.redis.streams[a] == c.redis.streams[b]) {
                    throw config_error{r.at("streams") + ": [redis] streams names \"" + c.redis.streams[a] +
                                       "\" twice; list each stream once"};
                }
            }
        }
        c.redis.stream = c.redis.streams.front();
    }
    r.string("group", c.redis.group);
    r.string("consumer", c.redis.consumer);
    for (const char* k : {"stream", "group", "consumer"}) {
        const std::string& v = std::string_view(k) == "stream"  ? c.redis.stream
                               : std::string_view(k) == "group" ? c.redis.group
                                                                : c.redis.consumer;
        if (v.empty()) {
            throw config_error{r.at(k) + ": " + r.name(k) + " must not be empty"};
        }
    }

    toml_reader n(section(root, "node", file, false), file, "node");
    n.only({"url", "user", "password", "currency"});
    n.string("url", c.node.url);
    n.string("user", c.node.user);
    n.string("password", c.node.password);
    n.string("currency", c.node.currency);
    if (!c.node.url.empty() && c.node.url.rfind("http://", 0) != 0) {
        throw config_error{n.at("url") + ": [node] url must start with http://, e.g. \"http://127.0.0.1:9332/\""};
    }

    toml_reader i(section(root, "ingest", file, false), file, "ingest");
    i.only({"batch_size", "block_ms", "partition_days_ahead", "delete_acked", "auto_accounts", "keep_days",
            "claim_idle_ms", "stream_keep_seconds"});
    i.integer("claim_idle_ms", c.ingest.claim_idle_ms, 0, 86400000);
    i.integer("stream_keep_seconds", c.ingest.stream_keep_seconds, -1, 86400 * 365);
    i.integer("batch_size", c.ingest.batch_size, 1, 1000000);
    i.integer("block_ms", c.ingest.block_ms, 1, 60000);
    i.integer("partition_days_ahead", c.ingest.partition_days_ahead, 0, 366);
    i.boolean("delete_acked", c.ingest.delete_acked);
    i.boolean("auto_accounts", c.ingest.auto_accounts);
    i.integer("keep_days", c.ingest.keep_days, 0, 36500);

    if (const auto* ep = root.get_as<toml::table>("epochs")) {
        toml_reader e(*ep, file, "epochs");
        e.only({"length_seconds", "genesis", "halving_period", "e_step_bp", "e_max_bp", "min_epoch_dpp",
                "close_grace_ms", "step_ms"});
        c.epochs.enabled = true;
        if (!ep->contains("genesis")) {
            throw config_error{e.at("genesis") + ": [epochs] genesis (start of epoch 0, unix seconds) is required"};
        }
        e.integer("length_seconds", c.epochs.length_seconds, 1, 366LL * 86400);
        e.integer("genesis", c.epochs.genesis, 0, 32503680000LL);
        e.integer("halving_period", c.epochs.halving_period, 1, 1000000000);
        e.integer("e_step_bp", c.epochs.persistence.e_step_bp, 0, 1000000);
        e.integer("e_max_bp", c.epochs.persistence.e_max_bp, 0, 1000000);
        std::string min_dpp = to_decimal(c.epochs.persistence.min_epoch_dpp);
        e.string("min_epoch_dpp", min_dpp);
        auto md = parse_amount(min_dpp);
        if (!md || *md < 1) {
            throw config_error{e.at("min_epoch_dpp") +
                               ": [epochs] min_epoch_dpp must be a positive integer (decimal text, DPP units)"};
        }
        c.epochs.persistence.min_epoch_dpp = *md;
        e.integer("close_grace_ms", c.epochs.close_grace_ms, 0, 7LL * 86400 * 1000);
        e.integer("step_ms", c.epochs.step_ms, 10, 600000);
    }
    if (const auto* coins = root.get_as<toml::table>("coins")) {
        for (const auto& [key, value] : *coins) {
            const std::string coin(key.str());
            const std::string sec = "coins." + coin;
            const auto* t = value.as_table();
            if (!t) {
                throw config_error{config::where(file, value.source()) + ": [" + sec + "] must be a table"};
            }
            bool good = coin.size() >= 2 && coin.size() <= 10;
            for (char ch : coin) {
                good = good && ((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'));
            }
            if (!good) {
                throw config_error{config::where(file, t->source()) + ": [" + sec +
                                   "]: a coin is 2 to 10 capital letters or digits, e.g. [coins.LTC]"};
            }
            toml_reader k(*t, file, sec);
            k.only({"fee_ppm", "holders_ppm", "scheme", "resource_weight_ppm", "pplns_n_ppm", "maturity", "node_url",
                    "node_user", "node_password", "min_bmm_to_mine", "pool_address", "algorithm", "orphan_readings",
                    "orphan_reading_blocks", "unknown_orphan_seconds", "follow_past_maturity"});
            coin_settings cs;
            k.integer("fee_ppm", cs.rules.fee_ppm, 0, 1000000);
            k.integer("holders_ppm", cs.rules.holders_ppm, 0, 1000000);
            if (std::uint64_t{cs.rules.fee_ppm} + cs.rules.holders_ppm > 1000000) {
                throw config_error{k.at("holders_ppm") + ": [" + sec +
                                   "] fee_ppm + holders_ppm must not exceed 1000000"};
            }
            std::string scheme = "pp";
            k.string("scheme", scheme);
            auto sch = parse_payout_scheme(scheme);
            if (!sch) {
                throw config_error{k.at("scheme") + ": [" + sec + "] scheme must be pp, pplns, pps or solo"};
            }
            cs.rules.scheme = *sch;
            k.integer("resource_weight_ppm", cs.rules.resource_weight_ppm, 1, 1000000000000LL);
            cs.algorithm = coin == "LTC" || coin == "DOGE" ? "scrypt" : coin == "BTC" || coin == "BCH" ? "sha256d" : "";
            k.string("algorithm", cs.algorithm);
            if (cs.algorithm != "scrypt" && cs.algorithm != "sha256d") {
                throw config_error{(t->get("algorithm") ? k.at("algorithm") : config::where(file, t->source())) +
                                   ": [" + sec +
                                   "] algorithm must be sha256d or scrypt (the default for LTC and DOGE "
                                   "is scrypt, for BTC and BCH sha256d; other coins must say)"};
            }
            k.integer("pplns_n_ppm", cs.rules.pplns_n_ppm, 1, 1000000000000LL);
            k.integer("maturity", cs.maturity, 1, 100000);
            k.integer("orphan_readings", cs.orphan_readings, 1, 1000);
            k.integer("orphan_reading_blocks", cs.orphan_reading_blocks, 0, 100000);
            k.integer("unknown_orphan_seconds", cs.unknown_orphan_seconds, 1, 100000000LL);
            k.integer("follow_past_maturity", cs.follow_past_maturity, 0, 1000000);
            std::string min_bmm = "0";
            if (const auto* mb_node = t->get("min_bmm_to_mine"); mb_node && mb_node->is_integer()) {
                min_bmm =
                    std::to_string(mb_node->value<std::int64_t>().value_or(-1));  // small values may be plain integers
            } else {
                k.string("min_bmm_to_mine", min_bmm);
            }
            auto mb = parse_amount(min_bmm);
            if (!mb || *mb < 0) {
                throw config_error{k.at("min_bmm_to_mine") + ": [" + sec +
                                   "] min_bmm_to_mine is BMM base units (18 decimals) as decimal text, e.g. "
                                   "\"1000000000000000000000\" for 1000 BMM; \"0\" turns the gate off"};
            }
            cs.min_bmm_to_mine = *mb;
            k.string("node_url", cs.node.url);
            k.string("node_user", cs.node.user);
            k.string("node_password", cs.node.password);
            k.string("pool_address", cs.pool_address);
            cs.node.currency = coin;
            c.coins.emplace(coin, std::move(cs));
        }
    }
    for (auto& [coin, cs] : c.coins) {
        if (cs.node.url.empty() && c.node.currency == coin) {
            cs.node.url = c.node.url;
            cs.node.user = c.node.user;
            cs.node.password = c.node.password;
        }
        if (!cs.node.url.empty() && cs.node.url.rfind("http://", 0) != 0) {
            throw config_error{file + ": [coins." + coin + "] node_url must start with http://"};
        }
    }
    if (c.epochs.enabled && c.coins.empty()) {
        throw config_error{file + ": [epochs] needs at least one [coins.<COIN>] section (e.g. [coins.LTC])"};
    }

    c.api.present = root.contains("api");
    toml_reader a(section(root, "api", file, false), file, "api");
    a.only({"enabled", "host", "port", "threads", "statement_timeout_ms", "max_connections",
            "max_connections_per_address", "connection_timeout_s", "cors", "pool_name", "wallet_challenge_ttl_s",
            "wallet_requests_per_minute_per_address", "wallet_requests_per_minute_per_account", "read_postgres"});
    a.boolean("enabled", c.api.enabled);
    a.string("host", c.api.host);
    a.integer("port", c.api.port, 1, 65535);
    a.integer("threads", c.api.threads, 1, 64);
    a.integer("statement_timeout_ms", c.api.statement_timeout_ms, 10, 600000);
    a.integer("max_connections", c.api.max_connections, 1, 100000);
    a.integer("max_connections_per_address", c.api.max_connections_per_address, 1, 100000);
    a.integer("connection_timeout_s", c.api.connection_timeout_s, 1, 3600);
    a.boolean("cors", c.api.cors);
    a.string("pool_name", c.api.pool_name);
    a.integer("wallet_challenge_ttl_s", c.api.wallet_challenge_ttl_s, 30, 86400);
    a.integer("wallet_requests_per_minute_per_address", c.api.wallet_requests_per_minute_per_address, 1, 100000);
    a.integer("wallet_requests_per_minute_per_account", c.api.wallet_requests_per_minute_per_account, 1, 100000);
    // [api.read_postgres]: where the read API reads (PgBouncer in transaction
    // pooling in front of the replicas); who connects defaults to [postgres]'s.
    const toml::table& api_table = section(root, "api", file, false);
    if (const toml::node* rp = api_table.get("read_postgres")) {
        const auto* rt = rp->as_table();
        if (!rt) {
            throw config_error{config::where(file, rp->source()) +
                               ": [api] read_postgres must be a table: [api.read_postgres] hosts = [\"host:port\"]"};
        }
        if (!rt->contains("host") && !rt->contains("hosts")) {
            throw config_error{config::where(file, rp->source()) +
                               ": [api.read_postgres] needs host (and port) or hosts: where the read API reads, e.g. "
                               "the PgBouncer in front of the replicas"};
        }
        pg::settings rs;
        rs.user = c.postgres.user;
        rs.dbname = c.postgres.dbname;
        rs.password = c.postgres.password;
        rs.application_name = "bmm-accountd-api";
        rs.transaction_pooling = true;
        parse_postgres(*rt, file, "api.read_postgres", rs, true);
        if (rs.target_session_attrs.empty()) {
            rs.target_session_attrs = "any";  // replicas answer reads
        }
        c.api.read_postgres = rs;
    }
    if (c.api.pool_name.empty() || c.api.pool_name.size() > 64 || c.api.pool_name.find('\n') != std::string::npos) {
        throw config_error{a.at("pool_name") +
                           ": [api] pool_name is named in every wallet challenge: 1 to 64 characters on one line"};
    }
    if (c.api.host.empty()) {
        throw config_error{a.at("host") + ": [api] host must not be empty (e.g. \"127.0.0.1\")"};
    }

    parse_payout(root, file, c.payout);
    parse_web(root, file, c.web);

    // [notify]: webhooks (bmm/notify/webhook.hpp); no urls, no notifications.
    toml_reader nt(section(root, "notify", file, false), file, "notify");
    nt.only({"webhook_urls", "timeout_ms", "attempts", "backoff_ms", "max_backoff_ms", "max_queue",
             "worker_offline_minutes", "worker_check_seconds"});
    nt.strings("webhook_urls", c.notify.urls);
    for (auto& u : c.notify.urls) {
        u = config::expand_env(u, nt.at("webhook_urls"), "[notify] webhook_urls");
        if (u.rfind("http://", 0) != 0 && u.rfind("https://", 0) != 0) {
            throw config_error{nt.at("webhook_urls") + ": [notify] webhook_urls: '" + u +
                               "' is not an http:// or https:// URL"};
        }
    }
    std::int64_t ms = c.notify.timeout.count();
    nt.integer("timeout_ms", ms, 100, 600000);
    c.notify.timeout = std::chrono::milliseconds(ms);
    nt.integer("attempts", c.notify.attempts, 1, 100);
    ms = c.notify.backoff.count();
    nt.integer("backoff_ms", ms, 1, 3600000);
    c.notify.backoff = std::chrono::milliseconds(ms);
    ms = c.notify.max_backoff.count();
    nt.integer("max_backoff_ms", ms, 1, 3600000);
    c.notify.max_backoff = std::chrono::milliseconds(ms);
    nt.integer("max_queue", c.notify.max_queue, 1, 1000000);
    nt.integer("worker_offline_minutes", c.notify.worker_offline_minutes, 1, 10080);
    nt.integer("worker_check_seconds", c.notify.worker_check_seconds, 1, 3600);

    toml_reader l(section(root, "log", file, false), file, "log");
    l.only({"level"});
    l.string("level", c.log_level);
    if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" && c.log_level != "error") {
        throw config_error{l.at("level") + ": [log] level must be debug, info, warn or error"};
    }
    return c;
}

}  // namespace

amount payout_min_amount(const payout_settings& p, std::string_view currency) {
    if (auto it = p.min_amount.find(std::string(currency)); it != p.min_amount.end()) {
        return it->second;
    }
    if (currency == "BMM") {
        return amount("1000000000000000000");
    }
    return amount(1000000);
}

std::string coins_array_literal(const accountd_config& c, std::optional<payout_scheme> scheme) {
    pg::text_array coins;
    for (const auto& [coin, cs] : c.coins) {
        if (!scheme || cs.rules.scheme == *scheme) {
            coins.add(coin);
        }
    }
    return coins.str();
}

accounting_config rules_of(const accountd_config& c) {
    accounting_config a;
    for (const auto& [coin, cs] : c.coins) {
        a.coins.emplace(coin, cs.rules);
    }
    a.persistence = c.epochs.persistence;
    a.halving_period = c.epochs.halving_period;
    return a;
}

result<accountd_config> parse_accountd_config(std::string_view text, const std::string& name) {
    try {
        toml::table root = toml::parse(text, name);
        return parse(root, name);
    } catch (const toml::parse_error& e) {
        return error{config::where(name, e.source()) + ": " + std::string(e.description())};
    } catch (const config_error& e) {
        return error{e.message};
    }
}

result<accountd_config> load_accountd_config(const std::string& path) {
    std::ifstream f(path);
    if (!f) {
        return error{path + ": cannot read the configuration file"};
    }
    std::stringstream ss;
    ss << f.rdbuf();
    return parse_accountd_config(ss.str(), path);
}

}  // namespace bmm::accounting
