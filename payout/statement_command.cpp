#include "statement_command.hpp"

#include "commands.hpp"

#include "bmm/accounting/migrations.hpp"
#include "bmm/accounting/statement.hpp"
#include "bmm/pg/connection.hpp"

#include <cstdio>
#include <fstream>

namespace bmm::payout {

namespace {

namespace stm = accounting::statement;

// The whole file or nothing: written beside it, then renamed into place.
result<bool> write_file_or_stdout(const std::string& path, const std::string& bytes) {
    if (path.empty()) {
        const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), stdout) == bytes.size() && std::fflush(stdout) == 0;
        return ok ? result<bool>(true) : result<bool>(error{"cannot write the statement to standard output"});
    }
    const std::string tmp = path + ".tmp";
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    const bool written = f && f.write(bytes.data(), static_cast<std::streamsize>(bytes.size())) && f.flush();
    f.close();
    if (!written || std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        return error{path + ": cannot write the statement (check the folder exists and is writable)"};
    }
    return true;
}

}  // namespace

int run_statement(const accounting::accountd_config& cfg, const statement_command& c) {
    stm::request r;
    r.account = c.account;
    r.currency = c.currency;
    auto from = stm::parse_time(c.from);
    if (!from) {
        return fail("--from: " + from.error_message());
    }
    auto to = stm::parse_time(c.to);
    if (!to) {
        return fail("--to: " + to.error_message());
    }
    r.from_us = *from;
    r.to_us = *to;
    const auto fmt = stm::parse_format(c.format);
    if (!fmt) {
        return fail("--format must be csv, json or pdf, not \"" + c.format + "\"");
    }
    if (r.from_us >= r.to_us) {
        // Refused before connecting: nothing to read for an empty period.
        return fail("the period is empty: --from " + stm::time_text(r.from_us) + " is not before --to " +
                    stm::time_text(r.to_us) + "; give a --from earlier than --to");
    }
    auto db = pg::connection::open(cfg.postgres);
    if (!db) {
        return fail(db.error_message());
    }
    if (auto s = accounting::check_schema(*db, cfg.migrations_dir); !s) {
        return fail(s.error_message());
    }
    auto st = stm::build(*db, r);
    if (!st) {
        return fail(st.error_message());
    }
    auto bytes = stm::render(*st, *fmt);
    if (!bytes) {
        return fail(bytes.error_message());
    }
    if (auto w = write_file_or_stdout(c.out, *bytes); !w) {
        return fail(w.error_message());
    }
    return 0;
}

}  // namespace bmm::payout
