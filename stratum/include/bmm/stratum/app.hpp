#pragma once
// The bmm-stratum process: everything its main() does after the command line.
// run() loads the configuration, raises the open-file limit, starts the job
// manager, the share sink (Redis stream and journal), the Stratum server and,
// with [metrics] port set, the metrics endpoint, then waits for signals:
//   SIGTERM, SIGINT  graceful stop (miners are told to reconnect, the journal
//                    is flushed to Redis for up to 5 s)
//   SIGUSR1          fetch a block template now (for -blocknotify hooks)

#include <string>

namespace bmm::stratum {

// What the command line gives bmm-stratum.
struct app_options {
    std::string config_path;  // the TOML configuration
    bool check_only = false;  // check the configuration and the node, then exit
    std::string log_file;     // log to this file (SIGHUP reopens it) instead of stderr
};

// Runs bmm-stratum until SIGTERM or SIGINT and returns the process's exit
// code: 0 after a graceful stop (or a passed --check), 1 when a part cannot
// start, 2 when the configuration cannot be loaded. Call it from the main
// thread before any other thread exists: it blocks SIGTERM, SIGINT and
// SIGUSR1 so that every thread it starts inherits the mask and only the
// calling thread receives them (sigwait); it also ignores SIGPIPE.
int run(const app_options& options);

// --check-config: loads `path` as run() would, prints a summary (coin,
// ports, limits) on stdout and returns 0, or prints the error on stderr and
// returns 2. Connects to nothing.
int check_config(const std::string& path);

// "host:port" of the node's RPC URL, the metrics' node label: the scheme,
// any credentials ("user:password@") and the path are dropped, so a label
// never carries a secret the URL holds.
std::string node_label(const std::string& url);

}  // namespace bmm::stratum
