// bmm-accountd: the accounting daemon. This file only parses the command line
// and calls the subcommands (commands.hpp) and the rooms' libraries.

#include "commands.hpp"

#include "bmm/accounting/bench_epoch.hpp"
#include "bmm/accounting/bench_statement.hpp"
#include "bmm/accounting/config.hpp"
#include "bmm/accounting/ledger_keeper.hpp"
#include "bmm/cli.hpp"
#include "bmm/log.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>

namespace {

using namespace bmm;
using namespace bmm::accounting;

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }
// logrotate's signal: reopen the log file, never stop (async-signal-safe).
void on_hangup(int) { log::reopen(); }

result<accountd_config> load(const std::string& path, const std::string& sql_dir) {
    auto c = load_accountd_config(path);
    if (!c) {
        return c;
    }
    if (!sql_dir.empty()) {
        c->migrations_dir = sql_dir;
    }
    log::level lv{};
    if (log::parse_level(c->log_level, lv)) {
        log::set_level(lv);
    }
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "bmm-accountd: BMM pool accounting daemon (Redis share stream -> PostgreSQL, accounts, wallets, epochs, "
        "block rewards, the ledger)"};
    app.name("bmm-accountd");
    cli::setup(app, "bmm-accountd");
    app.require_subcommand(1);
    std::string config_path, sql_dir;
    std::string log_file;
    auto add_config = [&](CLI::App* s) {
        s->add_option("--config,-c", config_path, "the TOML configuration file (deploy/config/bmm-accountd.toml)")
            ->required();
        s->add_option("--log-file", log_file,
                      "append the log to this file instead of stderr; SIGHUP reopens it (logrotate)");
        s->add_option("--sql-dir", sql_dir, "the migrations folder (default: [postgres] migrations_dir)");
    };

    auto* migrate_cmd = app.add_subcommand("migrate", "apply the pending schema migrations (sql/NNNN_*.sql) and exit");
    add_config(migrate_cmd);
    auto* run_cmd = app.add_subcommand(
        "run",
        "apply pending migrations, then ingest the share stream until SIGTERM; with [epochs] also close "
        "epochs and follow blocks, with [api] also serve the API");
    add_config(run_cmd);
    auto* audit_cmd = app.add_subcommand(
        "audit",
        "check the ledger's invariants (ledger_audit() and the C++ checks) and the world outside it (the records "
        "against the stream, the blocks against the chain and wallet, the wallet against the liabilities); exit 0 "
        "when clean, 1 otherwise");
    add_config(audit_cmd);
    world_audit_options world;
    audit_cmd->add_option("--days", world.days, "check shares of the last N days (0: all kept); default 1")
        ->check(CLI::Range(0, 100000));
    std::int64_t grace_seconds = world.grace_ms / 1000;
    audit_cmd
        ->add_option("--grace-seconds", grace_seconds,
                     "records and blocks younger than this are not judged yet (the ingest and the block tracker "
                     "are still storing them); default 120")
        ->check(CLI::Range(0, 86400));
    audit_cmd->add_flag("--skip-chain", world.skip_chain,
                        "do not check the blocks against the nodes and wallets (a database of synthetic records)");
    auto* check_cmd = app.add_subcommand(
        "check-config",
        "read and check the configuration file (the same loader run uses; ${NAME} from the environment), print "
        "what it sets up, and exit: 0 when it is fine, 1 with the error. Nothing is connected to");
    add_config(check_cmd);
    auto* api_cmd = app.add_subcommand(
        "api", "serve only the read API and web page on [api] host/port (default 127.0.0.1:8390) until SIGTERM");
    add_config(api_cmd);
    bench_ingest_options ingest_opts;
    auto* bench_cmd =
        app.add_subcommand("bench-ingest", "measure the ingest rate (shares/s) against Redis and COPY baselines");
    add_config(bench_cmd);
    bench_cmd->add_option("--records,-n", ingest_opts.records, "share records to write and ingest")
        ->check(CLI::Range(1, 100000000));
    bench_cmd
        ->add_option("--workers", ingest_opts.workers,
                     "distinct workers, each submitting a share every 10 s (default: 1,600 at one instant)")
        ->check(CLI::Range(8, 10000000));
    bench_cmd->add_option("--json", ingest_opts.json_file, "also write the figures to FILE as one JSON object");
    bench_epoch_options epoch_opts;
    auto* bench_epoch_cmd = app.add_subcommand(
        "bench-epoch", "measure the time to close one epoch for N accounts (in a schema of its own, dropped after)");
    add_config(bench_epoch_cmd);
    bench_epoch_cmd->add_option("--accounts", epoch_opts.accounts, "accounts with work in the epoch")
        ->check(CLI::Range(1, 10000000));
    bench_epoch_cmd->add_option("--shares", epoch_opts.shares_per_account, "share rows per account")
        ->check(CLI::Range(1, 1000));
    bench_epoch_cmd->add_option("--blocks", epoch_opts.blocks, "blocks found in the epoch")->check(CLI::Range(0, 1000));
    bench_epoch_cmd->add_flag("--keep", epoch_opts.keep, "keep the bench schema afterwards");
    bench_epoch_cmd->add_option("--scheme", epoch_opts.scheme, "payout scheme of both coins: pp, pplns, pps or solo")
        ->check(CLI::IsMember({"pp", "pplns", "pps", "solo"}));

    bench_statement_options stmt_opts;
    auto* bench_stmt_cmd = app.add_subcommand(
        "bench-statement",
        "measure an account's statement over a year of hourly epochs (CSV, JSON, PDF) against a plain SELECT of "
        "the same transfers (in a schema of its own, dropped after)");
    add_config(bench_stmt_cmd);
    bench_stmt_cmd->add_option("--hours", stmt_opts.hours, "hourly epochs booked for the account")
        ->check(CLI::Range(24, 1000000));
    bench_stmt_cmd->add_option("--runs", stmt_opts.runs, "timed runs of each step (the fastest is reported)")
        ->check(CLI::Range(1, 100));
    bench_stmt_cmd->add_option("--out-dir", stmt_opts.out_dir, "also write statement.{csv,json,pdf} into this folder");
    bench_stmt_cmd->add_flag("--keep", stmt_opts.keep, "keep the bench schema afterwards");

    auto* account_cmd = app.add_subcommand("account", "accounts and payout wallets");
    account_cmd->require_subcommand(1);
    std::string name, currency, address;
    std::optional<std::int64_t> share;
    auto* create_cmd = account_cmd->add_subcommand("create", "create an account (the name miners put before the '.')");
    add_config(create_cmd);
    create_cmd->add_option("name", name, "account name: letters, digits, '_' and '-'")->required();
    auto* bind_cmd = account_cmd->add_subcommand(
        "bind", "bind a payout wallet; a currency's wallet shares always add up to 1000000 ppm");
    add_config(bind_cmd);
    bind_cmd->add_option("name", name, "account name, or foundation:<x> for a foundation account")->required();
    bind_cmd
        ->add_option("currency", currency, "LTC, BTC (checked by the node's validateaddress) or BMM (ERC-20, EIP-55)")
        ->required();
    bind_cmd->add_option("address", address, "payout address")->required();
    bind_cmd->add_option("--share", share,
                         "this wallet's share in ppm (1000000 = 100 %); required when the account already has a "
                         "wallet in the currency, whose shares are then scaled down to the rest");
    auto* unbind_cmd =
        account_cmd->add_subcommand("unbind", "unbind a payout wallet (the others of the currency share its part)");
    add_config(unbind_cmd);
    unbind_cmd->add_option("name", name, "account name")->required();
    unbind_cmd->add_option("currency", currency, "currency")->required();
    unbind_cmd->add_option("address", address, "payout address")->required();
    auto* list_cmd = account_cmd->add_subcommand("list", "list accounts and their wallets (one account when named)");
    add_config(list_cmd);
    list_cmd->add_option("name", name, "account name (default: all)");

    auto* bmm_cmd = app.add_subcommand("bmm", "BMM held outside the pool");
    bmm_cmd->require_subcommand(1);
    deposit_command dep;
    auto* deposit_cmd = bmm_cmd->add_subcommand(
        "deposit",
        "book BMM an account bought as the ERC-20 token and sent to the pool, once per token transfer (idempotent "
        "by txid); then publish who may mine (min_bmm_to_mine)");
    add_config(deposit_cmd);
    deposit_cmd->add_option("account", dep.account, "account name (alice, foundation:ecosystem)")->required();
    deposit_cmd->add_option("amount", dep.amount, "BMM base units (1 BMM = 1000000000000000000)")->required();
    deposit_cmd->add_option("--txid", dep.txid, "the token transfer: 0x and 64 hex digits")->required();
    deposit_cmd->add_option("--by", dep.by, "who books it (kept with the deposit)")->required();

    voting_power_command vp;
    auto* vp_cmd = app.add_subcommand(
        "voting-power",
        "print an epoch's voting-power snapshot (available BMM per holder at its close) as CSV for a vote");
    add_config(vp_cmd);
    vp_cmd->add_option("--epoch", vp.epoch, "the epoch (default: the latest closed one)");
    vp_cmd->add_option("--format", vp.format, "output format: csv")->check(CLI::IsMember({"csv"}));
    auto* block_cmd = app.add_subcommand("block", "blocks the epoch close could not split (parked)");
    block_cmd->require_subcommand(1);
    block_command blk;
    auto* block_list_cmd = block_cmd->add_subcommand("list", "list the parked blocks and why each is parked");
    add_config(block_list_cmd);
    auto* block_resolve_cmd = block_cmd->add_subcommand(
        "resolve",
        "resolve a parked block: --as orphan (nothing is booked for it) or --finder NAME (its miners' part goes to "
        "NAME alone at the close of the first open epoch)");
    add_config(block_resolve_cmd);
    block_resolve_cmd->add_option("hash", blk.hash, "the block's hash")->required();
    block_resolve_cmd->add_option("--as", blk.as, "orphan");
    block_resolve_cmd->add_option("--finder", blk.finder, "the account that gets the miners' part");

    if (auto rc = cli::parse(app, argc, argv)) {
        return *rc;
    }

    auto cfg = load(config_path, sql_dir);
    if (!cfg) {
        return fail(cfg.error_message());
    }
    if (*check_cmd) {
        std::string coins, streams;
        for (const auto& stream : cfg->redis.all_streams()) {
            streams += (streams.empty() ? "" : ", ") + stream;
        }
        for (const auto& [coin, c] : cfg->coins) {
            coins += (coins.empty() ? "" : ", ") + coin + " (maturity " + std::to_string(c.maturity) + ")";
        }
        std::string pg_text = cfg->postgres.describe();
        if (!cfg->postgres.hosts.empty() || !cfg->postgres.target_session_attrs.empty()) {
            pg_text += " (target_session_attrs " +
                       (cfg->postgres.target_session_attrs.empty() ? std::string("read-write")
                                                                   : cfg->postgres.target_session_attrs) +
                       ")";
        }
        pg_text += ", failover retries for " + std::to_string(cfg->postgres.failover_retry_seconds) + " s";
        std::string api_text = "off";
        if (cfg->api.present && cfg->api.enabled) {
            api_text = cfg->api.host + ":" + std::to_string(cfg->api.port);
            if (cfg->api.read_postgres) {
                api_text += " reading from " + cfg->api.read_postgres->describe() + " (target_session_attrs " +
                            cfg->api.read_postgres->target_session_attrs + ")";
            }
        }
        std::printf(
            "%s: fine. PostgreSQL %s; %s%s; stream(s) %s as %s/%s; epochs %s; coins %s; API %s; "
            "%zu webhook URL(s)\n",
            config_path.c_str(), pg_text.c_str(), redis::describe(cfg->redis).c_str(),
            cfg->redis.password_file.empty() ? " (no password)"
                                             : (" (password in " + cfg->redis.password_file + ")").c_str(),
            streams.c_str(), cfg->redis.group.c_str(), cfg->redis.consumer.c_str(),
            cfg->epochs.enabled ? (std::to_string(cfg->epochs.length_seconds) + " s").c_str() : "off",
            coins.empty() ? "none" : coins.c_str(), api_text.c_str(), cfg->notify.urls.size());
        return 0;
    }
    if (std::string why; !log_file.empty() && !log::to_file(log_file, &why)) {
        return fail(why);
    }

    // The daemons take SIGTERM as "stop cleanly" from the first moment, so a
    // stop that arrives while they are still connecting or migrating is not a
    // kill (exit 0 once the current step is done).
    if (*run_cmd || *api_cmd) {
        std::signal(SIGTERM, on_signal);
        std::signal(SIGINT, on_signal);
        std::signal(SIGPIPE, SIG_IGN);
        std::signal(SIGHUP, on_hangup);
    }
    if (*migrate_cmd || *run_cmd) {
        return migrate_and_run(*cfg, static_cast<bool>(*migrate_cmd), g_stop);
    }
    if (*api_cmd) {
        return serve_api(*cfg, g_stop);
    }
    if (*bench_cmd) {
        return migrate_and_bench_ingest(*cfg, ingest_opts);
    }
    if (*bench_epoch_cmd) {
        return bench_epoch(*cfg, epoch_opts);
    }
    if (*bench_stmt_cmd) {
        return bench_statement(*cfg, stmt_opts);
    }
    if (*audit_cmd) {
        world.grace_ms = grace_seconds * 1000;
        return run_audit(*cfg, world);
    }

    if (*deposit_cmd) {
        return run_bmm_deposit(*cfg, dep);
    }
    if (*vp_cmd) {
        return run_voting_power(*cfg, vp);
    }
    if (*block_cmd) {
        blk.list = static_cast<bool>(*block_list_cmd);
        return run_block_command(*cfg, blk);
    }

    account_command ac;
    ac.what = *create_cmd   ? account_command::verb::create
              : *bind_cmd   ? account_command::verb::bind
              : *unbind_cmd ? account_command::verb::unbind
                            : account_command::verb::list;
    ac.name = name;
    ac.currency = currency;
    ac.address = address;
    ac.share = share;
    return run_account_command(*cfg, ac);
}
