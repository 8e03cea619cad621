// bmm-payout: pays pool balances out in batches (docs/accounting.md,
// "Payouts"). This file only parses the command line and calls the
// subcommands (commands.hpp).

#include "commands.hpp"
#include "exec_commands.hpp"
#include "statement_command.hpp"

#include "bmm/accounting/config.hpp"
#include "bmm/cli.hpp"
#include "bmm/pg/retry.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <string>

namespace {

using namespace bmm;
using namespace bmm::payout;

// A batch number: a positive integer.
CLI::Validator batch_number() {
    return CLI::Validator(
        [](std::string& v) -> std::string {
            bool digits = !v.empty() && v.size() <= 18;
            for (char c : v) {
                digits = digits && c >= '0' && c <= '9';
            }
            if (!digits || std::stoll(v) < 1) {
                return "a batch is a positive number (as plan printed it), not '" + v + "'";
            }
            return {};
        },
        "BATCH");
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "bmm-payout: pays pool balances out in batches: plan (reserve the balances), show, approve (name the "
        "digest), then export and settle for BMM (ERC-20). Reads bmm-accountd's configuration file."};
    app.name("bmm-payout");
    cli::setup(app, "bmm-payout");
    app.require_subcommand(1);
    std::string config_path;
    auto add_config = [&](CLI::App* s) {
        s->add_option("--config,-c", config_path,
                      "the TOML configuration file bmm-accountd reads ([postgres], [node], [coins.*], [payout])")
            ->required();
    };
    std::int64_t id = 0;
    auto add_batch = [&](CLI::App* s) {
        s->add_option("batch", id, "the batch number plan printed")->required()->check(batch_number());
    };

    plan_command plan;
    auto* plan_cmd = app.add_subcommand(
        "plan",
        "plan a batch: every holder whose available balance reaches the threshold, split over its wallets; "
        "reserves the balances (payout:in-flight) and prints the batch, its lines, what was skipped and the digest");
    add_config(plan_cmd);
    plan_cmd->add_option("--coin", plan.coin, "the currency to pay: a coin with a node configured (LTC) or BMM")
        ->required();
    plan_cmd->add_option("--min", plan.min,
                         "the threshold in base units (default [payout.min_amount] <COIN>, else 1000000 for coins, "
                         "10^18 for BMM)");

    bool json = false;
    auto* show_cmd = app.add_subcommand("show", "print a batch: state, lines, transactions, digest");
    add_config(show_cmd);
    add_batch(show_cmd);
    show_cmd->add_flag("--json", json, "print one JSON object instead of text");

    std::string by, digest;
    auto* approve_cmd =
        app.add_subcommand("approve", "approve a planned batch; --digest must be the digest plan and show print");
    add_config(approve_cmd);
    add_batch(approve_cmd);
    approve_cmd->add_option("--by", by, "who approves (recorded)")->required();
    approve_cmd->add_option("--digest", digest, "the batch's digest (64 hex digits) as show prints it")->required();

    export_command ex;
    auto* export_cmd = app.add_subcommand(
        "export",
        "write an approved BMM batch as an ERC-20 distribution (one row per line: EIP-55 address, base units, "
        "token amount); the same bytes on every run, their SHA-256 stored with the batch");
    add_config(export_cmd);
    add_batch(export_cmd);
    export_cmd->add_option("--format", ex.format, "csv or json")->required()->check(CLI::IsMember({"csv", "json"}));
    export_cmd->add_option("-o,--output", ex.out, "the file to write (default: standard output)");

    std::string txid;
    auto* settle_cmd = app.add_subcommand(
        "settle", "record that an exported BMM batch was sent: books every line as paid out and settles the batch");
    add_config(settle_cmd);
    add_batch(settle_cmd);
    settle_cmd->add_option("--txid", txid, "the distribution's transaction id: 0x and 64 hex digits")->required();
    settle_cmd->add_option("--by", by, "who sent it (recorded)")->required();

    statement_command stmt;
    auto* statement_cmd = app.add_subcommand(
        "statement",
        "write an account's statement for [--from, --to): per currency its available and immature balances, "
        "opening, every transfer with its running balance, totals and closing (the read API's same bytes)");
    add_config(statement_cmd);
    statement_cmd->add_option("account", stmt.account, "the account: a user (alice) or foundation:<name>")->required();
    statement_cmd->add_option("--from", stmt.from, "start, included: 2026-12-01T00:00:00Z or unix seconds")->required();
    statement_cmd->add_option("--to", stmt.to, "end, excluded: 2027-01-01T00:00:00Z or unix seconds")->required();
    statement_cmd->add_option("--currency", stmt.currency, "one currency (LTC, BMM); default: every one held");
    statement_cmd->add_option("--format", stmt.format, "csv, json or pdf")
        ->required()
        ->check(CLI::IsMember({"csv", "json", "pdf"}));
    statement_cmd->add_option("-o,--output", stmt.out, "the file to write (default: standard output)");
    // The coin side (exec_commands.hpp): execute, reconcile, bump, wallet-check.
    std::string passphrase_file;
    auto* execute_cmd = app.add_subcommand(
        "execute",
        "pay an approved coin batch through the node wallet: pack it into transactions, then for each one adopt a "
        "wallet transaction carrying its marker, or send its stored signed transaction again, or build, check, store "
        "and broadcast a new one (nothing is broadcast that is not stored first); resumes a broadcast batch. Exit 3: "
        "some transaction's state is unknown (the node did not answer), run it again");
    add_config(execute_cmd);
    add_batch(execute_cmd);
    execute_cmd->add_option("--passphrase-file", passphrase_file,
                            "a file whose first line is the wallet passphrase (the wallet is unlocked only to sign)");
    std::optional<std::int64_t> reconcile_id;
    auto* reconcile_cmd = app.add_subcommand(
        "reconcile",
        "follow broadcast payout transactions (safe at any time, e.g. from a timer): book a transaction at "
        "[payout] confirmations, send a dropped one again, return the lines of one whose input a confirmed "
        "conflicting spend took. Without BATCH: every coin batch waiting. Exit 3: some state unknown");
    add_config(reconcile_cmd);
    reconcile_cmd->add_option("batch", reconcile_id, "one batch (default: all that wait)")->check(batch_number());
    std::int64_t bump_rate = 0;
    auto* bump_cmd = app.add_subcommand(
        "bump",
        "replace each unconfirmed transaction of a broadcast batch by one paying --fee-rate: the same inputs and "
        "outputs, less change; stored, then broadcast (the node must run with -mempoolreplacement=1)");
    add_config(bump_cmd);
    add_batch(bump_cmd);
    bump_cmd->add_option("--fee-rate", bump_rate, "the new fee rate, sat/vB (at most [payout] max_fee_rate)")
        ->required()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000000}));
    bump_cmd->add_option("--passphrase-file", passphrase_file, "a file whose first line is the wallet passphrase");
    std::string check_coin;
    auto* wallet_check_cmd = app.add_subcommand(
        "wallet-check",
        "compare the node wallet's balance (trusted + untrusted pending) with what the ledger owes in the coin "
        "(holders, pool, in flight, less payouts sent but not yet booked); exit 1 when the wallet holds less");
    add_config(wallet_check_cmd);
    wallet_check_cmd->add_option("--coin", check_coin, "the coin, e.g. LTC")->required();

    if (auto rc = cli::parse(app, argc, argv)) {
        return *rc;
    }
    auto cfg = accounting::load_accountd_config(config_path);
    if (!cfg) {
        return fail(cfg.error_message());
    }
    cfg->postgres.application_name = "bmm-payout";
    // A failover (PostgreSQL went away or turned read-only) during a command
    // that resumes from what is stored: the command runs again from the
    // start on a new connection (the new primary among [postgres] hosts),
    // taking the currency's payout lock there again. execute and reconcile
    // are built for that (execute.hpp: nothing is broadcast that is not
    // stored and committed first; a run again sends the same stored hex or
    // adopts the wallet's marked transaction; the crash tests kill them at
    // every step); show and wallet-check only read. plan, approve, export,
    // settle and bump are the operator's to run again (the error says why).
    auto resumable = [&](const char* what, auto&& run) {
        pg::failover_retry retry(std::string("bmm-payout ") + what,
                                 {std::chrono::milliseconds(200), std::chrono::milliseconds(2000),
                                  std::chrono::seconds(cfg->postgres.failover_retry_seconds)});
        for (;;) {
            const std::uint64_t seen = pg::failovers_seen();
            const int rc = run();
            if (rc == 0 || pg::failovers_seen() == seen ||
                !retry.again(true, "it stopped with exit code " + std::to_string(rc))) {
                return rc;
            }
        }
    };
    if (*statement_cmd) {
        return run_statement(*cfg, stmt);
    }
    if (*plan_cmd) {
        return run_plan(*cfg, plan);
    }
    if (*show_cmd) {
        return resumable("show", [&] { return run_show(*cfg, id, json); });
    }
    if (*approve_cmd) {
        return run_approve(*cfg, id, by, digest);
    }
    if (*execute_cmd) {
        return resumable("execute", [&] { return run_execute(*cfg, {id, passphrase_file}); });
    }
    if (*reconcile_cmd) {
        return resumable("reconcile", [&] { return run_reconcile(*cfg, reconcile_id); });
    }
    if (*bump_cmd) {
        return run_bump(*cfg, {id, bump_rate, passphrase_file});
    }
    if (*wallet_check_cmd) {
        return resumable("wallet-check", [&] { return run_wallet_check(*cfg, check_coin); });
    }
    if (*export_cmd) {
        ex.id = id;
        return run_export(*cfg, ex);
    }
    return run_settle(*cfg, id, txid, by);
}
