// bmm/redis/connect.hpp: connecting to Redis directly or through Sentinel,
// AUTH from a password file, ROLE checked.

#include "bmm/redis/connect.hpp"

#include "bmm/log.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>

namespace bmm::redis {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<decltype(tv.tv_sec)>(ms.count() / 1000);
    tv.tv_usec = static_cast<decltype(tv.tv_usec)>((ms.count() % 1000) * 1000);
    return tv;
}

std::string error_text(const redisReply* r) {
    return r && r->type == REDIS_REPLY_ERROR ? std::string(r->str, r->len) : std::string();
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// A TCP connection to host:port with the settings' connect timeout, then
// `io_timeout` for every read and write.
result<context_ptr> open(const std::string& host, int port, const settings& s, std::chrono::milliseconds io_timeout,
                         const std::string& what) {
    context_ptr c(
        redisConnectWithTimeout(host.c_str(), port, to_timeval(std::chrono::milliseconds(s.connect_timeout_ms))));
    if (!c || c->err) {
        return error{"cannot connect to " + what + " " + host + ":" + std::to_string(port) + ": " +
                     (c ? c->errstr : "out of memory")};
    }
    redisSetTimeout(c.get(), to_timeval(io_timeout));
    return c;
}

// AUTH (when a password file is set) and ROLE on a fresh connection to a
// Redis server. Returns ROLE's first element.
result<std::string> authenticate(redisContext* c, const std::string& address, const settings& s) {
    if (!s.password_file.empty()) {
        auto password = read_password(s.password_file);
        if (!password) {
            return error{password.error_message()};
        }
        reply_ptr r = command(c, {"AUTH", *password});
        if (!r) {
            return error{"Redis " + address + ": AUTH failed: " + c->errstr};
        }
        const std::string e = error_text(r.get());
        if (starts_with(e, "ERR AUTH") && e.find("without any password configured") != std::string::npos) {
            // A client given a password before the server: harmless, and the
            // order of a rolling change (clients first, then requirepass).
            log::warn("redis", "Redis {} has no password set, but [redis] password_file {} gives one; set requirepass",
                      address, s.password_file);
        } else if (!e.empty()) {
            return error{"Redis " + address + " refused the password in " + s.password_file + " (" + e +
                         "): put Redis' requirepass on the file's first line (and the same as masterauth on the "
                         "replicas), or point [redis] password_file at the right file"};
        }
    }
    reply_ptr role = command(c, {"ROLE"});
    if (!role) {
        return error{"Redis " + address + ": ROLE failed: " + c->errstr};
    }
    const std::string e = error_text(role.get());
    if (starts_with(e, "NOAUTH")) {
        return error{"Redis " + address + " wants a password (" + e +
                     "): set [redis] password_file to a file whose first line is Redis' requirepass"};
    }
    if (!e.empty()) {
        return error{"Redis " + address + ": ROLE failed: " + e};
    }
    if (role->type != REDIS_REPLY_ARRAY || role->elements < 1 || role->element[0]->type != REDIS_REPLY_STRING) {
        return error{"Redis " + address + ": ROLE gave an unexpected answer"};
    }
    return std::string(role->element[0]->str, role->element[0]->len);
}

result<connection> connect_direct(const settings& s, std::chrono::milliseconds io_timeout) {
    const std::string address = s.host + ":" + std::to_string(s.port);
    auto c = open(s.host, s.port, s, io_timeout, "Redis");
    if (!c) {
        return error{c.error_message() + " (check [redis] host and port, and that Redis runs)"};
    }
    auto role = authenticate(c->get(), address, s);
    if (!role) {
        return error{role.error_message()};
    }
    if (*role == "sentinel") {
        return error{address + " is a Sentinel, not Redis: set [redis] sentinels = [\"" + address +
                     "\", ...] and master_name instead of host and port"};
    }
    return connection{std::move(*c), address, std::move(*role)};
}

// The primary's address as one Sentinel names it.
result<std::pair<std::string, int>> ask_sentinel(const std::string& sentinel, const settings& s) {
    auto addr = parse_address(sentinel);
    if (!addr) {
        return error{addr.error_message()};
    }
    auto c = open(addr->first, addr->second, s, std::chrono::milliseconds(s.connect_timeout_ms), "Sentinel");
    if (!c) {
        return error{c.error_message()};
    }
    reply_ptr r = command(c->get(), {"SENTINEL", "get-master-addr-by-name", s.master_name});
    if (!r) {
        return error{"Sentinel " + sentinel + ": " + (*c)->errstr};
    }
    if (r->type == REDIS_REPLY_NIL) {
        return error{"Sentinel " + sentinel + " does not monitor a primary named \"" + s.master_name +
                     "\" (check [redis] master_name and the Sentinel's `sentinel monitor` line)"};
    }
    if (r->type == REDIS_REPLY_ERROR) {
        return error{"Sentinel " + sentinel + ": " + error_text(r.get())};
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING) {
        return error{"Sentinel " + sentinel + ": unexpected answer to SENTINEL get-master-addr-by-name"};
    }
    int port = 0;
    const std::string_view p(r->element[1]->str, r->element[1]->len);
    if (std::from_chars(p.data(), p.data() + p.size(), port).ec != std::errc() || port <= 0 || port > 65535) {
        return error{"Sentinel " + sentinel + " named port \"" + std::string(p) + "\""};
    }
    return std::pair<std::string, int>(std::string(r->element[0]->str, r->element[0]->len), port);
}

result<connection> connect_sentinel(const settings& s, std::chrono::milliseconds io_timeout) {
    std::string why;
    for (const auto& sentinel : s.sentinels) {
        auto primary = ask_sentinel(sentinel, s);
        if (!primary) {
            why += (why.empty() ? "" : "; ") + primary.error_message();
            continue;
        }
        const std::string address = primary->first + ":" + std::to_string(primary->second);
        auto c = open(primary->first, primary->second, s, io_timeout, "the Redis primary");
        if (!c) {
            why += (why.empty() ? "" : "; ") + c.error_message() + " (named by Sentinel " + sentinel + ")";
            continue;
        }
        auto role = authenticate(c->get(), address, s);
        if (!role) {
            // A refused password is the same on every server: say so now.
            if (role.error_message().find("password") != std::string::npos) {
                return error{role.error_message()};
            }
            why += (why.empty() ? "" : "; ") + role.error_message();
            continue;
        }
        if (*role != "master") {
            why += (why.empty() ? "" : "; ") + ("Sentinel " + sentinel + " named " + address + ", which is a " + *role +
                                                " (a failover under way?)");
            continue;
        }
        return connection{std::move(*c), address, std::move(*role)};
    }
    return error{"cannot find the Redis primary \"" + s.master_name + "\" through the Sentinels: " + why +
                 " (check [redis] sentinels and master_name, and that the Sentinels and Redis run)"};
}

}  // namespace

std::string describe(const settings& s) {
    if (s.sentinels.empty()) {
        return "Redis " + s.host + ":" + std::to_string(s.port);
    }
    std::string out = "Redis primary " + s.master_name + " (Sentinels ";
    for (std::size_t i = 0; i < s.sentinels.size(); ++i) {
        out += (i ? ", " : "") + s.sentinels[i];
    }
    return out + ")";
}

result<std::string> read_password(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return error{"[redis] password_file " + path + ": cannot read it (" + std::strerror(errno) +
                     "): it must hold Redis' password on its first line, readable by this program's user"};
    }
    std::string line;
    std::getline(in, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
        line.pop_back();
    }
    if (line.empty()) {
        return error{"[redis] password_file " + path +
                     ": the first line is empty: put Redis' password (requirepass) there"};
    }
    return line;
}

result<std::pair<std::string, int>> parse_address(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
        return error{"\"" + std::string(text) + "\" is not host:port, e.g. \"10.77.0.21:26379\""};
    }
    std::string_view host = text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string_view::npos) {
        return error{"\"" + std::string(text) + "\": an IPv6 address goes in brackets, e.g. \"[::1]:26379\""};
    }
    int port = 0;
    const std::string_view p = text.substr(colon + 1);
    const auto r = std::from_chars(p.data(), p.data() + p.size(), port);
    if (r.ec != std::errc() || r.ptr != p.data() + p.size() || port < 1 || port > 65535 || host.empty()) {
        return error{"\"" + std::string(text) + "\" is not host:port with a port from 1 to 65535"};
    }
    return std::pair<std::string, int>(std::string(host), port);
}

result<bool> check(const settings& s) {
    for (const auto& a : s.sentinels) {
        if (auto r = parse_address(a); !r) {
            return error{"[redis] sentinels: " + r.error_message()};
        }
    }
    if (!s.sentinels.empty() && s.master_name.empty()) {
        return error{"[redis] master_name must not be empty with sentinels (the name of `sentinel monitor`)"};
    }
    if (!s.password_file.empty()) {
        if (auto p = read_password(s.password_file); !p) {
            return error{p.error_message()};
        }
    }
    return true;
}

result<connection> connect(const settings& s, std::chrono::milliseconds io_timeout) {
    return s.sentinels.empty() ? connect_direct(s, io_timeout) : connect_sentinel(s, io_timeout);
}

reply_ptr command(redisContext* c, const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
    }
    return reply_ptr(
        static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
}

bool is_failover_error(std::string_view e) {
    return starts_with(e, "READONLY") || starts_with(e, "LOADING") || starts_with(e, "MASTERDOWN") ||
           starts_with(e, "NOREPLICAS");
}

bool is_failover_reply(const redisReply* r) {
    return r && r->type == REDIS_REPLY_ERROR && is_failover_error(std::string_view(r->str, r->len));
}

wait_answer wait_for_replicas(redisContext* c, const replica_wait& w) {
    wait_answer a;
    const reply_ptr r = command(c, {"WAIT", std::to_string(w.replicas), std::to_string(w.timeout_ms)});
    if (!r) {
        a.lost = true;
        a.acknowledged = std::string("no reply: ") + c->errstr;
        return a;
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        a.enough = r->integer >= w.replicas;
        a.acknowledged = std::to_string(r->integer);
    } else if (r->type == REDIS_REPLY_ERROR) {
        a.acknowledged = std::string(r->str, r->len);
    } else {
        a.acknowledged = "an unexpected reply";
    }
    return a;
}

}  // namespace bmm::redis
