#pragma once
// Command lines through CLI11, the same way in every program: --help and
// --version ("<program> <version> (commit <git commit>)") print on stdout and exit 0; a bad command line prints one
// line naming the option (prefixed with the program's name) and a pointer to
// --help on stderr, and exits 2.

#include "bmm/git_commit.hpp"
#include "bmm/version.hpp"

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>

namespace bmm::cli {

// Adds --version ("<program> <version> (commit <commit>)": the commit the
// build was made from, "-dirty" when it had changes) and the program-prefixed error
// messages to `app`.
inline void setup(CLI::App& app, const std::string& program) {
    app.set_version_flag("--version", program + " " + k_version + " (commit " + k_git_commit + ")",
                         "print the program's name, version and git commit, then exit");
    app.failure_message([program](const CLI::App*, const CLI::Error& e) {
        return program + ": " + e.what() + "\nRun with --help for more information.\n";
    });
}

// A real number above `low` (or from it, with low_included) and at most
// `high`; the error says which, e.g. "--duration: needs a number above 0 and
// at most 86400, not '-1'".
inline CLI::Validator number(double low, bool low_included, double high = std::numeric_limits<double>::infinity()) {
    auto text = [](double d) {
        std::string t = std::to_string(d);
        t.erase(t.find_last_not_of('0') + 1);
        if (t.back() == '.') {
            t.pop_back();
        }
        return t;
    };
    std::string what = std::string(low_included ? "a number from " : "a number above ") + text(low);
    if (!std::isinf(high)) {
        what += (low_included ? " to " : " and at most ") + text(high);
    }
    return CLI::Validator(
        [=](std::string& v) -> std::string {
            char* end = nullptr;
            const double d = std::strtod(v.c_str(), &end);
            if (v.empty() || *end != '\0' || !std::isfinite(d) || d < low || (!low_included && d == low) || d > high) {
                return "needs " + what + ", not '" + v + "'";
            }
            return {};
        },
        what);
}

// Parses the command line. Nothing when the program should go on, else its
// exit code: 0 after --help or --version, 2 after a bad command line.
inline std::optional<int> parse(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
        return std::nullopt;
    } catch (const CLI::ParseError& e) {
        // An argument nobody expected says more than what it left missing
        // (a misspelt option before a required subcommand or option).
        if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && !app.remaining(true).empty()) {
            return app.exit(CLI::ExtrasError(app.remaining(true))) == 0 ? 0 : 2;
        }
        return app.exit(e) == 0 ? 0 : 2;
    }
}

}  // namespace bmm::cli
