// bmm-stratum: the Stratum v1 pool server. This file reads the command line;
// bmm::stratum::run (bmm/stratum/app.hpp) wires the parts together and
// handles the signals.

#include "bmm/cli.hpp"
#include "bmm/stratum/app.hpp"

namespace {

const char* k_description = R"(bmm-stratum: the BMM pool Stratum v1 server. It builds jobs from the coin
node's getblocktemplate, validates every share, submits blocks, and publishes
every verdict and block to a Redis stream (spooling to a local journal while
Redis is away).
)";

const char* k_footer = R"(
With [metrics] port set, GET http://HOST:PORT/metrics serves Prometheus text
(connections, shares by verdict, hashrate, verify time, blocks, stream backlog).

Signals: SIGTERM/SIGINT stop gracefully; SIGUSR1 fetches a new template now
(use it from the node's -blocknotify: blocknotify=pkill -USR1 bmm-stratum);
SIGHUP reopens the --log-file (for logrotate) and never stops the server.
Environment: BMM_SHA256_KERNEL, BMM_SCRYPT_KERNEL force a hash kernel family
(scalar, shani, avx2, avx512).
)";

}  // namespace

int main(int argc, char** argv) {
    bmm::stratum::app_options options;
    CLI::App app{k_description, "bmm-stratum"};
    bmm::cli::setup(app, "bmm-stratum");
    app.footer(k_footer);
    app.add_option("--config", options.config_path, "the TOML configuration (see deploy/config/bmm-stratum.toml)")
        ->required();
    app.add_flag("--check", options.check_only, "check the configuration and the node, then exit");
    bool check_config = false;
    app.add_flag("--check-config", check_config,
                 "read and check the configuration file alone (${NAME} from the environment, TLS files loaded), "
                 "print what it sets up, and exit: 0 when fine, 2 with the error; nothing is connected to");
    app.add_option("--log-file", options.log_file,
                   "append the log to this file instead of stderr; SIGHUP reopens it (logrotate)");
    if (auto rc = bmm::cli::parse(app, argc, argv)) {
        return *rc;
    }
    if (check_config) {
        return bmm::stratum::check_config(options.config_path);
    }
    return bmm::stratum::run(options);
}
