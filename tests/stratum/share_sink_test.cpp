// The share sink against a real Redis. Each test starts its own throwaway
// redis-server on a free loopback port (8000-9999) in a temporary folder,
// stops and restarts it where the test calls for it, and reads the stream back
// with hiredis. No other part of the stack is needed.

#include "bmm/stratum/share_sink.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using bmm::stratum::record;
using bmm::stratum::record_from_json_line;
using bmm::stratum::record_to_json_line;
using bmm::stratum::share_sink;
using bmm::stratum::sink_config;
namespace fs = std::filesystem;

// Generous: a delivery normally takes milliseconds, but sanitizer builds and
// the publisher's reconnect back-off (up to 2 s) stretch it.
constexpr auto k_deliver_timeout = 60s;

template <class F>
bool wait_until(F&& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

std::string make_temp_dir(const std::string& tag) {
    std::string tmpl = (fs::temp_directory_path() / ("bmm-sink-" + tag + "-XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
    return tmpl;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool port_free(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

// A free port in 8000-9999 (below the ephemeral range), from a pid-dependent start so that parallel
// test binaries rarely collide; successive calls move on.
std::uint16_t pick_port() {
    static std::uint32_t next = static_cast<std::uint32_t>(::getpid()) * 7919u;
    for (int i = 0; i < 2000; ++i) {
        const auto port = static_cast<std::uint16_t>(8000 + next++ % 2000);
        if (port_free(port)) return port;
    }
    throw std::runtime_error("no free loopback port in 8000-9999");
}

struct reply_deleter {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;
struct context_deleter {
    void operator()(redisContext* c) const { redisFree(c); }
};
using context_ptr = std::unique_ptr<redisContext, context_deleter>;

// One command on a fresh connection (2 s timeouts); null when Redis is not
// reachable or the connection broke.
reply_ptr redis_command(std::uint16_t port, const std::vector<std::string>& args) {
    timeval tv{2, 0};
    context_ptr c(redisConnectWithTimeout("127.0.0.1", port, tv));
    if (!c || c->err) return nullptr;
    redisSetTimeout(c.get(), tv);
    std::vector<const char*> argv;
    std::vector<std::size_t> argl;
    for (const auto& a : args) {
        argv.push_back(a.data());
        argl.push_back(a.size());
    }
    return reply_ptr(
        static_cast<redisReply*>(redisCommandArgv(c.get(), static_cast<int>(argv.size()), argv.data(), argl.data())));
}

// A redis-server of our own, a child of the test (it dies with it), that can
// be stopped, killed, paused and started again on the same port.
class redis_server {
public:
    // `durable`: append-only file with fsync on every write, so that what
    // Redis acknowledged survives a stop or a kill -9.
    explicit redis_server(bool durable = false) : dir_(make_temp_dir("redis")), port_(pick_port()), durable_(durable) {}
    ~redis_server() {
        stop();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;

    std::uint16_t port() const { return port_; }

    // Starts redis-server and waits (bounded) until it answers PING.
    void start() {
        if (pid_ > 0) return;
        std::vector<std::string> args = {"redis-server",
                                         "--bind",
                                         "127.0.0.1",
                                         "--port",
                                         std::to_string(port_),
                                         "--save",
                                         "",
                                         "--appendonly",
                                         durable_ ? "yes" : "no",
                                         "--appendfsync",
                                         "always",
                                         "--dir",
                                         dir_,
                                         "--logfile",
                                         dir_ + "/redis.log",
                                         "--daemonize",
                                         "no"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            // Async-signal-safe calls only: the test may have other threads.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(127);
            sigset_t none;
            ::sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::execvp("redis-server", argv.data());
            ::_exit(127);
        }
        pid_ = pid;
        const bool up = wait_until(
            [&] {
                if (reap(false)) return true;  // exited: stop waiting, fail below
                auto r = redis_command(port_, {"PING"});
                return r && r->type == REDIS_REPLY_STATUS && std::string(r->str, r->len) == "PONG";
            },
            15s);
        if (!up || pid_ <= 0) {
            kill_hard();
            throw std::runtime_error("redis-server on port " + std::to_string(port_) + " did not start; its log:\n" +
                                     read_text(dir_ + "/redis.log"));
        }
    }

    // SHUTDOWN NOSAVE and a bounded wait for the process to end (SIGKILL after).
    void stop() {
        if (pid_ <= 0) return;
        resume();
        redis_command(port_, {"SHUTDOWN", "NOSAVE"});
        if (!wait_until([&] { return reap(false); }, 10s)) kill_hard();
    }

    // A crash: SIGKILL, nothing flushed beyond what Redis already wrote.
    void kill_hard() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        reap(true);
    }

    // SIGSTOP: the port still accepts connections but nothing answers.
    void pause() {
        if (pid_ > 0 && !paused_ && ::kill(pid_, SIGSTOP) == 0) paused_ = true;
    }
    void resume() {
        if (pid_ > 0 && paused_ && ::kill(pid_, SIGCONT) == 0) paused_ = false;
    }

private:
    // True once the child has exited (and is reaped).
    bool reap(bool block) {
        if (pid_ <= 0) return true;
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
        if (r == pid_ || (r < 0 && errno == ECHILD)) {
            pid_ = -1;
            paused_ = false;
            return true;
        }
        return false;
    }

    std::string dir_;
    std::uint16_t port_;
    bool durable_;
    pid_t pid_ = -1;
    bool paused_ = false;
};

long long stream_length(std::uint16_t port, const std::string& stream) {
    auto r = redis_command(port, {"XLEN", stream});
    return r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
}

// The whole stream, oldest first.
std::vector<record> read_stream(std::uint16_t port, const std::string& stream) {
    std::vector<record> out;
    auto r = redis_command(port, {"XRANGE", stream, "-", "+"});
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        ADD_FAILURE() << "XRANGE " << stream << " failed";
        return out;
    }
    for (std::size_t i = 0; i < r->elements; ++i) {
        const redisReply* e = r->element[i];
        const redisReply* kv = e->element[1];
        record rec;
        for (std::size_t j = 0; j + 1 < kv->elements; j += 2)
            rec.emplace_back(std::string(kv->element[j]->str, kv->element[j]->len),
                             std::string(kv->element[j + 1]->str, kv->element[j + 1]->len));
        out.push_back(std::move(rec));
    }
    return out;
}

std::string field(const record& r, std::string_view name) {
    for (const auto& [k, v] : r)
        if (k == name) return v;
    return "<no " + std::string(name) + ">";
}

// Awkward values that must come out of the stream byte for byte.
std::string awkward(std::size_t i) {
    static const std::vector<std::string> values = {
        "",
        "\"quoted\"",
        "back\\slash \\\\ \\\" \\u0041",
        "na\xc3\xafve \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x9a\x80",
        "new\nline\ttab\rcr",
        std::string("nul\0byte", 8),
        "\x01\x02\x1f\x7f",
        "{\"json\":[1,\"2\"]}\n",
        "trailing backslash\\",
        std::string(300, 'x'),
    };
    return values[i % values.size()];
}

record make_record(int thread, int n) {
    return {{"thread", std::to_string(thread)},
            {"n", std::to_string(n)},
            {"text", awkward(static_cast<std::size_t>(n + thread))},
            {"empty", ""},
            {"", "empty field name"}};
}

// Appends records 0..count-1 of `thread` in batches of 1..max_batch; returns
// them as appended (each with its uid).
std::vector<record> append_numbered(share_sink& sink, int thread, int count, int max_batch = 17, int first = 0) {
    std::vector<record> all;
    int n = first, b = 0;
    while (n < first + count) {
        std::vector<record> batch;
        const int size = std::min(1 + b++ % max_batch, first + count - n);
        for (int i = 0; i < size; ++i) batch.push_back(make_record(thread, n++));
        EXPECT_TRUE(sink.append(batch));
        for (auto& r : batch) all.push_back(std::move(r));
    }
    return all;
}

// The stream holds exactly `expected`, in that order, field for field.
void expect_exactly(const std::vector<record>& got, const std::vector<record>& expected) {
    ASSERT_EQ(got.size(), expected.size());
    for (std::size_t i = 0; i < got.size(); ++i)
        ASSERT_EQ(got[i], expected[i]) << "entry " << i << " (n=" << field(expected[i], "n") << ")";
}

std::uint64_t file_size(const std::string& path) {
    std::error_code ec;
    const auto s = fs::file_size(path, ec);
    return ec ? 0 : s;
}

double cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Captures stderr (where the log goes) while it lives; ends the capture even
// when an assertion returns early.
class stderr_capture {
public:
    stderr_capture() { ::testing::internal::CaptureStderr(); }
    ~stderr_capture() { text(); }
    stderr_capture(const stderr_capture&) = delete;
    stderr_capture& operator=(const stderr_capture&) = delete;
    const std::string& text() {
        if (active_) text_ = ::testing::internal::GetCapturedStderr();
        active_ = false;
        return text_;
    }

private:
    bool active_ = true;
    std::string text_;
};

class share_sink_test : public ::testing::Test {
protected:
    void SetUp() override { spool_ = make_temp_dir("spool"); }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(spool_, ec);
    }

    sink_config config(std::uint16_t port, std::uint32_t instance = 7) const {
        sink_config c;
        c.redis.port = port;
        c.stream = stream_;
        c.spool_dir = spool_;
        c.instance_id = instance;
        return c;
    }
    std::string journal() const { return spool_ + "/journal.log"; }

    // Waits until the sink reports an empty backlog and the stream holds `n`.
    static bool delivered(share_sink& sink, std::uint16_t port, const std::string& stream, long long n) {
        return wait_until([&] { return sink.stats().backlog_bytes == 0 && stream_length(port, stream) >= n; },
                          k_deliver_timeout);
    }

    std::string spool_;
    std::string stream_ = "bmm:test:shares";
};

// ---------------------------------------------------------------------------
// 1. Two appending threads: every record once, per thread in order, intact.
// ---------------------------------------------------------------------------

TEST_F(share_sink_test, two_threads_arrive_exactly_once_in_order_and_intact) {
    redis_server redis;
    redis.start();
    share_sink sink(config(redis.port()));
    auto started = sink.start();
    ASSERT_TRUE(started.ok()) << started.error_message();

    constexpr int k_per_thread = 1000;
    std::vector<record> appended[2];
    std::thread t0([&] { appended[0] = append_numbered(sink, 0, k_per_thread, 17); });
    std::thread t1([&] { appended[1] = append_numbered(sink, 1, k_per_thread, 29); });
    t0.join();
    t1.join();

    ASSERT_TRUE(delivered(sink, redis.port(), stream_, 2 * k_per_thread)) << "backlog " << sink.stats().backlog_bytes;
    sink.stop(5000);
    EXPECT_EQ(sink.stats().published, 2u * k_per_thread);
    EXPECT_EQ(sink.stats().backlog_bytes, 0u);

    const auto got = read_stream(redis.port(), stream_);
    ASSERT_EQ(got.size(), 2u * k_per_thread) << "duplicates or losses";
    std::set<std::string> uids;
    std::vector<record> per_thread[2];
    for (const auto& r : got) {
        uids.insert(field(r, "uid"));
        const std::string t = field(r, "thread");
        ASSERT_TRUE(t == "0" || t == "1") << t;
        per_thread[t == "1"].push_back(r);
    }
    EXPECT_EQ(uids.size(), 2u * k_per_thread) << "uids are not unique";
    // Sequence numbers follow the journal's order across threads: 0, 1, 2, ... in the stream.
    for (std::size_t i = 0; i < got.size(); ++i) {
        const std::string uid = field(got[i], "uid");
        ASSERT_EQ(uid.substr(uid.rfind(':') + 1), std::to_string(i)) << uid;
    }
    for (int t = 0; t < 2; ++t) {
        SCOPED_TRACE("thread " + std::to_string(t));
        // The caller's records received their uid, and arrive as appended.
        for (const auto& r : appended[t]) ASSERT_EQ(r.back().first, "uid");
        expect_exactly(per_thread[t], appended[t]);
    }
}

// The journal is rewound to zero whenever it is fully published and past its
// limit; with two threads appending all the while, nothing is lost, repeated
// or reordered, and the file stays small.
TEST_F(share_sink_test, journal_rewinds_under_concurrent_appends_without_loss) {
    redis_server redis;
    redis.start();
    auto cfg = config(redis.port());
    cfg.rewind_bytes = 32 << 10;
    share_sink sink(cfg);
    ASSERT_TRUE(sink.start().ok());

    constexpr int k_per_thread = 4000;
    std::vector<record> appended[2];
    std::uint64_t journal_bytes[2] = {0, 0};
    std::thread threads[2];
    for (int t = 0; t < 2; ++t)
        threads[t] = std::thread([&, t] {
            for (int n = 0; n < k_per_thread;) {
                std::vector<record> batch;
                for (int i = 0; i < 1 + n % 13 && n < k_per_thread; ++i) batch.push_back(make_record(t, n++));
                EXPECT_TRUE(sink.append(batch));
                for (auto& r : batch) {
                    journal_bytes[t] += record_to_json_line(r).size();
                    appended[t].push_back(std::move(r));
                }
                if (n % 200 == 0) std::this_thread::sleep_for(1ms);  // let the publisher catch up now and then
            }
        });
    for (auto& th : threads) th.join();
    ASSERT_TRUE(delivered(sink, redis.port(), stream_, 2 * k_per_thread)) << "backlog " << sink.stats().backlog_bytes;
    sink.stop(5000);
    EXPECT_LT(file_size(journal()), (journal_bytes[0] + journal_bytes[1]) / 2) << "the journal was never rewound";

    const auto got = read_stream(redis.port(), stream_);
    ASSERT_EQ(got.size(), 2u * k_per_thread);
    std::vector<record> per_thread[2];
    for (const auto& r : got) per_thread[field(r, "thread") == "1"].push_back(r);
    for (int t = 0; t < 2; ++t) expect_exactly(per_thread[t], appended[t]);
}

// ---------------------------------------------------------------------------
// 2. Redis down from the start: the journal keeps everything until it comes.
// ---------------------------------------------------------------------------

TEST_F(share_sink_test, spools_while_redis_is_down_then_delivers_in_order) {
    redis_server redis;  // not started yet
    share_sink sink(config(redis.port()));
    ASSERT_TRUE(sink.start().ok());

    const auto appended = append_numbered(sink, 0, 500, 25);
    std::this_thread::sleep_for(300ms);  // let the publisher fail to connect at least once
    auto s = sink.stats();
    EXPECT_FALSE(s.redis_up);
    EXPECT_GT(s.backlog_bytes, 0u);
    EXPECT_EQ(s.backlog_bytes, file_size(journal()));
    EXPECT_EQ(s.published, 0u);
    EXPECT_EQ(s.appended, 500u);
    EXPECT_EQ(s.backlog_records, 500u);
    EXPECT_EQ(s.journal_bytes, file_size(journal()));

    redis.start();
    ASSERT_TRUE(delivered(sink, redis.port(), stream_, 500)) << "backlog " << sink.stats().backlog_bytes;
    s = sink.stats();
    EXPECT_TRUE(s.redis_up);
    EXPECT_EQ(s.backlog_bytes, 0u);
    EXPECT_EQ(s.published, 500u);
    EXPECT_EQ(s.backlog_records, 0u);
    EXPECT_EQ(s.journal_bytes, file_size(journal()));
    sink.stop(5000);
    expect_exactly(read_stream(redis.port(), stream_), appended);
}

// ---------------------------------------------------------------------------
// 3. Redis goes away in the middle of a run.
// ---------------------------------------------------------------------------

// The guarantee: whatever Redis acknowledged is never sent again, and
// everything appended after the last acknowledged XADD arrives, in order.
// With a durable Redis (AOF, fsync always) that is the whole run, exactly once.
TEST_F(share_sink_test, durable_redis_killed_mid_run_ends_with_everything_once) {
    redis_server redis(true);
    redis.start();
    share_sink sink(config(redis.port()));
    ASSERT_TRUE(sink.start().ok());

    auto appended = append_numbered(sink, 0, 300);
    ASSERT_TRUE(delivered(sink, redis.port(), stream_, 300));
    redis.kill_hard();

    auto more = append_numbered(sink, 0, 300, 17, 300);
    appended.insert(appended.end(), more.begin(), more.end());
    ASSERT_TRUE(wait_until([&] { return !sink.stats().redis_up; }, 10s)) << "the sink did not notice Redis going";
    EXPECT_GT(sink.stats().backlog_bytes, 0u);
    EXPECT_EQ(sink.stats().published, 300u);

    redis.start();
    ASSERT_TRUE(delivered(sink, redis.port(), stream_, 600)) << "backlog " << sink.stats().backlog_bytes;
    sink.stop(5000);
    EXPECT_EQ(sink.stats().published, 600u);
    expect_exactly(read_stream(redis.port(), stream_), appended);
}

// Without persistence the restarted Redis starts empty: the first 300 are
// Redis's loss, but the 300 appended while it was away all arrive, in order,
// and nothing acknowledged before is sent again.
TEST_F(share_sink_test, volatile_redis_restarted_mid_run_receives_everything_after_the_last_ack) {
    redis_server redis(false);
    redis.start();
    share_sink sink(config(redis.port()));
    ASSERT_TRUE(sink.start().ok());

    append_numbered(sink, 0, 300);
    ASSERT_TRUE(delivered(sink, redis.port(), stream_, 300));
    redis.stop();
    const auto after = append_numbered(sink, 0, 300, 17, 300);
    ASSERT_TRUE(wait_until([&] { return !sink.stats().redis_up; }, 10s));

    redis.start();
    ASSERT_TRUE(delivered(sink, redis.port(), stream_, 300)) << "backlog " << sink.stats().backlog_bytes;
    sink.stop(5000);
    expect_exactly(read_stream(redis.port(), stream_), after);
}

// Redis killed while a large backlog is being pipelined: at least once. After
// dropping repeats by uid the stream is exactly the appended sequence, and the
// repeats are bounded by what was in flight.
TEST_F(share_sink_test, redis_killed_while_draining_delivers_at_least_once_in_order) {
    redis_server redis(true);
    share_sink sink(config(redis.port()));
    ASSERT_TRUE(sink.start().ok());
    constexpr int k_records = 6000;
    const auto appended = append_numbered(sink, 0, k_records, 50);

    redis.start();
    ASSERT_TRUE(wait_until([&] { return stream_length(redis.port(), stream_) > 0; }, k_deliver_timeout));
    redis.kill_hard();
    const long long before_restart = static_cast<long long>(sink.stats().published);
    redis.start();
    ASSERT_TRUE(delivered(sink, redis.port(), stream_, k_records)) << "backlog " << sink.stats().backlog_bytes;
    sink.stop(5000);

    const auto got = read_stream(redis.port(), stream_);
    std::set<std::string> seen;
    std::vector<record> first_occurrences;
    for (const auto& r : got)
        if (seen.insert(field(r, "uid")).second) first_occurrences.push_back(r);
    expect_exactly(first_occurrences, appended);
    const auto repeats = got.size() - first_occurrences.size();
    EXPECT_LE(repeats, 512u) << "more repeats than one pipelined batch (published before the restart: "
                             << before_restart << ")";
}

// ---------------------------------------------------------------------------
// 4. Restart of the sink: the journal replays from the committed offset.
// ---------------------------------------------------------------------------

// One process per spool folder: a second one refuses to start, naming the
// folder and the process that holds it; the lock goes with its holder, also
// when that process is killed with SIGKILL (the lock file stays behind).
TEST_F(share_sink_test, a_second_process_on_the_same_spool_dir_refuses_to_start) {
    redis_server redis;  // down: the sinks spool
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t holder = ::fork();
    ASSERT_GE(holder, 0);
    if (holder == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives a failed test
        ::alarm(60);
        share_sink sink(config(redis.port()));
        const char ok = sink.start().ok() ? '1' : '0';
        (void)!::write(ready[1], &ok, 1);
        while (true) ::pause();  // until SIGKILL
    }
    char ok = 0;
    ASSERT_EQ(::read(ready[0], &ok, 1), 1);
    ::close(ready[0]);
    ::close(ready[1]);
    EXPECT_EQ(ok, '1');
    {
        share_sink second(config(redis.port()));
        const auto r = second.start();
        ASSERT_FALSE(r.ok());
        const std::string m = r.error_message();
        EXPECT_NE(m.find("spool_dir " + spool_ + " is in use by pid " + std::to_string(holder)), std::string::npos)
            << m;
        EXPECT_NE(m.find(spool_ + "/lock"), std::string::npos) << m;
        EXPECT_NE(m.find("its own [redis] spool_dir"), std::string::npos) << m;
    }
    ::kill(holder, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(holder, &status, 0), holder);
    ASSERT_TRUE(fs::exists(spool_ + "/lock"));

    share_sink third(config(redis.port()));
    ASSERT_TRUE(third.start().ok()) << "the lock of a killed process must not outlive it";
    // In one process too: the folder is held until stop().
    share_sink fourth(config(redis.port()));
    const auto refused = fourth.start();
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error_message().find("pid " + std::to_string(::getpid())), std::string::npos)
        << refused.error_message();
    third.stop(100);
    share_sink fifth(config(redis.port()));
    EXPECT_TRUE(fifth.start().ok());
    fifth.stop(100);
}

TEST_F(share_sink_test, restarted_sink_replays_the_journal_with_the_same_uids) {
    redis_server redis;
    std::vector<record> appended;
    {
        share_sink first(config(redis.port()));
        ASSERT_TRUE(first.start().ok());
        appended = append_numbered(first, 0, 200);
        first.stop(100);
        EXPECT_GT(first.stats().backlog_bytes, 0u);
    }
    redis.start();
    share_sink second(config(redis.port()));
    ASSERT_TRUE(second.start().ok());
    ASSERT_TRUE(delivered(second, redis.port(), stream_, 200)) << "backlog " << second.stats().backlog_bytes;

    // New records after the replay, with uids of their own.
    auto more = append_numbered(second, 1, 20);
    appended.insert(appended.end(), more.begin(), more.end());
    ASSERT_TRUE(delivered(second, redis.port(), stream_, 220));
    second.stop(5000);
    const auto got = read_stream(redis.port(), stream_);
    expect_exactly(got, appended);
    std::set<std::string> uids;
    for (const auto& r : got) uids.insert(field(r, "uid"));
    EXPECT_EQ(uids.size(), got.size());

    // Everything committed: a third sink has nothing to replay.
    share_sink third(config(redis.port()));
    ASSERT_TRUE(third.start().ok());
    EXPECT_EQ(third.stats().backlog_bytes, 0u);
    std::this_thread::sleep_for(300ms);
    third.stop(5000);
    EXPECT_EQ(stream_length(redis.port(), stream_), 220);
}

// The backlog in records (for the metrics endpoint) includes what an earlier
// run left in the journal, counted by the publisher before it sends anything.
TEST_F(share_sink_test, backlog_records_count_what_an_earlier_run_left) {
    redis_server redis;  // down until the end
    {
        share_sink first(config(redis.port()));
        ASSERT_TRUE(first.start().ok());
        append_numbered(first, 0, 200);
        first.stop(100);
        EXPECT_EQ(first.stats().backlog_records, 200u);
    }
    share_sink second(config(redis.port()));
    ASSERT_TRUE(second.start().ok());
    ASSERT_TRUE(wait_until([&] { return second.stats().backlog_records == 200; }, 10s))
        << second.stats().backlog_records;
    EXPECT_EQ(second.stats().appended, 0u);
    append_numbered(second, 1, 20);
    EXPECT_EQ(second.stats().backlog_records, 220u);
    EXPECT_EQ(second.stats().appended, 20u);
    redis.start();
    ASSERT_TRUE(delivered(second, redis.port(), stream_, 220)) << "backlog " << second.stats().backlog_bytes;
    EXPECT_EQ(second.stats().backlog_records, 0u);
    EXPECT_EQ(second.stats().published, 220u);
    second.stop(5000);
}

// The uid must stay unique however quickly the sink is restarted on the same
// spool (same instance): a consumer dropping repeats would otherwise drop
// real records.
TEST_F(share_sink_test, uids_stay_unique_across_quick_restarts) {
    redis_server redis;  // down: the records stay in the journal
    std::set<std::string> uids;
    constexpr int k_restarts = 30;
    for (int i = 0; i < k_restarts; ++i) {
        share_sink sink(config(redis.port()));
        ASSERT_TRUE(sink.start().ok());
        std::vector<record> batch = {make_record(0, i), make_record(0, i)};
        ASSERT_TRUE(sink.append(batch));
        uids.insert(field(batch[0], "uid"));
        uids.insert(field(batch[1], "uid"));
        sink.stop(0);
    }
    EXPECT_EQ(uids.size(), 2u * k_restarts);
}

// ---------------------------------------------------------------------------
// 5. The journal's line format, and lines that are not records.
// ---------------------------------------------------------------------------

TEST(share_sink_json, records_round_trip_exactly) {
    std::vector<record> samples = {
        {},
        {{"", ""}},
        {{"a", "b"}, {"a", "duplicate name"}},
    };
    for (std::size_t i = 0; i < 10; ++i) {
        std::string key = "k";
        key += std::to_string(i);
        samples.push_back({{key, awkward(i)}, {awkward(i), "v"}});
    }
    std::string every_byte;
    for (int c = 0; c < 0x80; ++c) every_byte += static_cast<char>(c);
    samples.push_back({{"ascii", every_byte}});
    samples.push_back({{"utf8", "\xc2\xa9 \xe2\x82\xac \xf4\x8f\xbf\xbf \xef\xbf\xbd"}});

    for (const auto& r : samples) {
        const std::string line = record_to_json_line(r);
        ASSERT_FALSE(line.empty());
        EXPECT_EQ(line.back(), '\n');
        EXPECT_EQ(line.find('\n'), line.size() - 1) << "one record, one line: " << line;
        record back = {{"stale", "content"}};
        ASSERT_TRUE(record_from_json_line(std::string_view(line).substr(0, line.size() - 1), back)) << line;
        EXPECT_EQ(back, r) << line;
    }
}

TEST(share_sink_json, invalid_utf8_still_makes_a_readable_line) {
    // JSON cannot carry these bytes; the record must still survive the
    // journal (with replacement characters) rather than be dropped.
    const record r = {{"worker", "bad\xff\xfe"}, {"cut", "\xe2\x82"}, {"ok", "fine"}};
    const std::string line = record_to_json_line(r);
    record back;
    ASSERT_TRUE(record_from_json_line(std::string_view(line).substr(0, line.size() - 1), back)) << line;
    ASSERT_EQ(back.size(), 3u);
    EXPECT_EQ(back[0].first, "worker");
    EXPECT_EQ(back[0].second.substr(0, 3), "bad");
    EXPECT_EQ(back[1].first, "cut");
    EXPECT_EQ(back[2], r[2]);
}

TEST(share_sink_json, rejects_what_is_not_a_record) {
    record out;
    for (std::string_view bad : {"", "garbage", "{", "[\"a\",\"b\"]", "{\"a\":1}", "{\"a\":null}", "{\"a\":\"b\"",
                                 "{\"a\":{\"b\":\"c\"}}", "\"just a string\""})
        EXPECT_FALSE(record_from_json_line(bad, out)) << bad;
}

TEST_F(share_sink_test, malformed_and_torn_journal_lines_are_skipped_without_blocking) {
    record before = {{"n", "before"}, {"uid", "x:1"}};
    record between = {{"n", "between"}, {"uid", "x:2"}};
    {
        std::ofstream out(journal(), std::ios::binary);
        out << record_to_json_line(before) << "this is not json\n"
            << "{\"n\":1}\n"
            << "\n"
            << record_to_json_line(between) << "{\"n\":\"torn by a crash";  // no newline: the process died mid-write
    }
    redis_server redis;
    redis.start();
    share_sink sink(config(redis.port()));
    stderr_capture capture;
    ASSERT_TRUE(sink.start().ok());
    ASSERT_TRUE(delivered(sink, redis.port(), stream_, 2)) << "backlog " << sink.stats().backlog_bytes;

    // Idle with a torn tail: the publisher must wait, not spin.
    const double cpu_before = cpu_seconds();
    std::this_thread::sleep_for(600ms);
    const double cpu_used = cpu_seconds() - cpu_before;
    EXPECT_LT(cpu_used, 0.3) << "the publisher spins";

    std::vector<record> after = {make_record(0, 0), make_record(0, 1), make_record(0, 2)};
    ASSERT_TRUE(sink.append(after));
    const bool ok = delivered(sink, redis.port(), stream_, 5);
    sink.stop(5000);
    const std::string log = capture.text();
    ASSERT_TRUE(ok) << "backlog " << sink.stats().backlog_bytes << "\n" << log;
    EXPECT_NE(log.find("malformed journal line"), std::string::npos) << log;
    EXPECT_EQ(sink.stats().backlog_records, 0u) << "skipped lines leave the backlog too";

    std::vector<record> expected = {before, between};
    expected.insert(expected.end(), after.begin(), after.end());
    expect_exactly(read_stream(redis.port(), stream_), expected);
}

// A batch the journal could not take (disk full) is reported and leaves no
// torn line behind to swallow the next batch.
TEST_F(share_sink_test, failed_append_leaves_no_torn_line) {
    redis_server redis;
    redis.start();
    share_sink sink(config(redis.port()));
    ASSERT_TRUE(sink.start().ok());
    auto appended = append_numbered(sink, 0, 20);
    ASSERT_TRUE(delivered(sink, redis.port(), stream_, 20));

    // The file-size limit makes write() stop part-way through the batch.
    const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
    rlimit old_limit{};
    ::getrlimit(RLIMIT_FSIZE, &old_limit);
    rlimit limit = old_limit;
    limit.rlim_cur = static_cast<rlim_t>(file_size(journal()) + 700);
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
    std::vector<record> refused;
    for (int i = 0; i < 10; ++i) refused.push_back(make_record(9, i));
    stderr_capture capture;
    const bool accepted = sink.append(refused);
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    ::signal(SIGXFSZ, old_handler);
    const std::string log = capture.text();
    EXPECT_FALSE(accepted);
    EXPECT_NE(log.find("cannot append"), std::string::npos) << log;

    auto more = append_numbered(sink, 0, 20, 17, 20);
    appended.insert(appended.end(), more.begin(), more.end());
    ASSERT_TRUE(delivered(sink, redis.port(), stream_, 40)) << "backlog " << sink.stats().backlog_bytes;
    sink.stop(5000);
    const auto got = read_stream(redis.port(), stream_);
    expect_exactly(got, appended);
    // The refused batch gave its sequence numbers back: the run's records are
    // numbered 0..39 in stream order, without the hole the audit would report
    // as lost records (sql/0022_audit_records.sql).
    for (std::size_t i = 0; i < got.size(); ++i) {
        const std::string uid = field(got[i], "uid");
        EXPECT_EQ(uid.substr(uid.rfind(':') + 1), std::to_string(i)) << uid;
    }
}

// [redis] journal_sync: `batch` flushes before append() returns (so before a
// verdict is answered), sharing flushes between threads; `interval` flushes
// within its interval without holding append(); `none` never flushes. Each
// mode still delivers everything once.
TEST_F(share_sink_test, journal_sync_batch_flushes_before_append_returns_and_groups_flushes) {
    redis_server redis;
    redis.start();
    auto cfg = config(redis.port());
    cfg.sync = bmm::stratum::journal_sync::batch;
    share_sink sink(cfg);
    ASSERT_TRUE(sink.start().ok());
    for (int i = 0; i < 50; ++i) {
        std::vector<record> one{make_record(0, i)};
        ASSERT_TRUE(sink.append(one));
        const auto st = sink.stats();
        ASSERT_EQ(st.synced_bytes, st.journal_bytes) << "append " << i << " returned before its flush";
    }
    EXPECT_GE(sink.stats().syncs, 50u);
    constexpr int k_per_thread = 300;
    const auto before = sink.stats().syncs;
    std::thread t0([&] { append_numbered(sink, 1, k_per_thread, 1); });
    std::thread t1([&] { append_numbered(sink, 2, k_per_thread, 1); });
    t0.join();
    t1.join();
    const auto st = sink.stats();
    EXPECT_EQ(st.synced_bytes, st.journal_bytes);
    EXPECT_GE(st.syncs - before, 1u);
    EXPECT_LE(st.syncs - before, 2u * k_per_thread) << "more flushes than appends";
    ASSERT_TRUE(delivered(sink, redis.port(), stream_, 50 + 2 * k_per_thread));
    sink.stop(5000);
    EXPECT_EQ(stream_length(redis.port(), stream_), 50LL + 2 * k_per_thread);
}

TEST_F(share_sink_test, journal_sync_interval_flushes_within_its_interval_and_none_never) {
    redis_server redis;
    redis.start();
    {
        auto cfg = config(redis.port());
        cfg.sync = bmm::stratum::journal_sync::interval;
        cfg.sync_interval_ms = 20;
        share_sink sink(cfg);
        ASSERT_TRUE(sink.start().ok());
        append_numbered(sink, 0, 100, 10);
        const auto size = sink.stats().journal_bytes;
        EXPECT_TRUE(wait_until([&] { return sink.stats().synced_bytes >= size; }, 5s))
            << "synced " << sink.stats().synced_bytes << " of " << size;
        EXPECT_GE(sink.stats().syncs, 1u);
        ASSERT_TRUE(delivered(sink, redis.port(), stream_, 100));
        sink.stop(5000);
    }
    std::error_code ec;
    fs::remove_all(spool_, ec);
    {
        auto cfg = config(redis.port(), 8);
        cfg.sync = bmm::stratum::journal_sync::none;
        share_sink sink(cfg);
        ASSERT_TRUE(sink.start().ok());
        append_numbered(sink, 0, 100, 10, 100);
        ASSERT_TRUE(delivered(sink, redis.port(), stream_, 200));
        sink.stop(5000);
        EXPECT_EQ(sink.stats().syncs, 0u);
        EXPECT_EQ(sink.stats().synced_bytes, 0u);
    }
    EXPECT_EQ(stream_length(redis.port(), stream_), 200LL);
}

// ---------------------------------------------------------------------------
// 6. stop() is bounded; what is not in Redis stays in the journal.
// ---------------------------------------------------------------------------

TEST_F(share_sink_test, stop_is_bounded_when_redis_is_down_and_keeps_the_backlog) {
    redis_server redis;  // never started
    share_sink sink(config(redis.port()));
    ASSERT_TRUE(sink.start().ok());
    append_numbered(sink, 0, 100);
    const auto t0 = std::chrono::steady_clock::now();
    sink.stop(1500);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 2500ms);
    EXPECT_GT(sink.stats().backlog_bytes, 0u);
    EXPECT_EQ(sink.stats().backlog_bytes, file_size(journal()));
}

// Redis that accepts connections but never answers (SIGSTOP): stop() gives up
// after its timeout plus at most one Redis I/O timeout (2 s), and a later sink
// still delivers everything (at least once: Redis may execute what it had
// buffered when it wakes up).
TEST_F(share_sink_test, stop_is_bounded_when_redis_hangs) {
    redis_server redis;
    redis.start();
    std::vector<record> appended;
    {
        share_sink sink(config(redis.port()));
        ASSERT_TRUE(sink.start().ok());
        appended = append_numbered(sink, 0, 50);
        ASSERT_TRUE(delivered(sink, redis.port(), stream_, 50));
        redis.pause();
        auto more = append_numbered(sink, 0, 100, 17, 50);
        appended.insert(appended.end(), more.begin(), more.end());
        const auto t0 = std::chrono::steady_clock::now();
        sink.stop(1000);
        const auto took = std::chrono::steady_clock::now() - t0;
        EXPECT_LT(took, 4000ms);
        EXPECT_GT(sink.stats().backlog_bytes, 0u);
    }
    redis.resume();
    share_sink sink(config(redis.port()));
    ASSERT_TRUE(sink.start().ok());
    ASSERT_TRUE(delivered(sink, redis.port(), stream_, 150)) << "backlog " << sink.stats().backlog_bytes;
    sink.stop(5000);
    const auto got = read_stream(redis.port(), stream_);
    std::set<std::string> seen;
    std::vector<record> first_occurrences;
    for (const auto& r : got)
        if (seen.insert(field(r, "uid")).second) first_occurrences.push_back(r);
    expect_exactly(first_occurrences, appended);
}

// With Redis up, stop(timeout) first drains the backlog.
TEST_F(share_sink_test, stop_drains_the_backlog_when_redis_is_up) {
    redis_server redis;
    redis.start();
    share_sink sink(config(redis.port()));
    ASSERT_TRUE(sink.start().ok());
    const auto appended = append_numbered(sink, 0, 3000, 64);
    sink.stop(30000);
    EXPECT_EQ(sink.stats().backlog_bytes, 0u);
    expect_exactly(read_stream(redis.port(), stream_), appended);
}

// Redis refusing writes part-way through a run (maxmemory): nothing it took
// is sent again, nothing is reordered, and the rest follows once it accepts
// writes again.
TEST_F(share_sink_test, refused_writes_are_retried_without_repeats_or_reordering) {
    redis_server redis;
    redis.start();
    const auto info = redis_command(redis.port(), {"INFO", "memory"});
    ASSERT_TRUE(info && info->type == REDIS_REPLY_STRING);
    const std::string text(info->str, info->len);
    const auto at = text.find("used_memory:");
    ASSERT_NE(at, std::string::npos);
    const long long used = std::stoll(text.substr(at + 12));
    ASSERT_NE(redis_command(redis.port(), {"CONFIG", "SET", "maxmemory-policy", "noeviction"}), nullptr);
    ASSERT_NE(redis_command(redis.port(), {"CONFIG", "SET", "maxmemory", std::to_string(used + 150000)}), nullptr);

    share_sink sink(config(redis.port()));
    ASSERT_TRUE(sink.start().ok());
    stderr_capture capture;
    constexpr long long k_records = 2000;
    const auto appended = append_numbered(sink, 0, static_cast<int>(k_records), 400);
    // Wait until the stream stops growing short of the end (stable for 1 s).
    long long last = -1;
    int stable = 0;
    const auto deadline = std::chrono::steady_clock::now() + k_deliver_timeout;
    while (stable < 4 && last < k_records && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(250ms);
        const long long n = stream_length(redis.port(), stream_);
        stable = n == last ? stable + 1 : 0;
        last = n;
    }
    ASSERT_EQ(stable, 4) << "the stream did not settle (length " << last << ")";
    ASSERT_LT(last, k_records) << "maxmemory did not stop the stream; the test proves nothing";
    EXPECT_GT(sink.stats().backlog_bytes, 0u);
    ASSERT_NE(redis_command(redis.port(), {"CONFIG", "SET", "maxmemory", "0"}), nullptr);
    const bool ok = delivered(sink, redis.port(), stream_, k_records);
    sink.stop(5000);
    const std::string log = capture.text();
    ASSERT_TRUE(ok) << log;
    EXPECT_NE(log.find("OOM"), std::string::npos) << log;
    expect_exactly(read_stream(redis.port(), stream_), appended);
}

// ---------------------------------------------------------------------------
// 7. Typed stream records, and a journal an older bmm-stratum left on disk.
// ---------------------------------------------------------------------------

// The records of the stream as bmm::record::decode() reads them; each entry's
// fields are kept alive in `owned`.
struct decoded_stream {
    std::vector<record> owned;
    std::vector<bmm::result<bmm::record::decoded>> records;
};

decoded_stream decode_stream(std::uint16_t port, const std::string& stream) {
    decoded_stream d;
    d.owned = read_stream(port, stream);
    for (const auto& r : d.owned) {
        std::vector<bmm::record::field> views(r.begin(), r.end());
        d.records.push_back(bmm::record::decode(views));
    }
    return d;
}

// A rolling upgrade: the unversioned records an older bmm-stratum journaled
// but never published go out unchanged (version 1), followed by the typed
// records of this one (version k_version); the reader takes both.
TEST_F(share_sink_test, an_older_journal_and_typed_records_publish_and_decode) {
    record old_share = {{"type", "share"},
                        {"instance", "7"},
                        {"coin", "LTC"},
                        {"algorithm", "scrypt"},
                        {"account", "alice"},
                        {"worker", "alice.r1"},
                        {"ip", "127.0.0.1"},
                        {"job", "5f"},
                        {"height", "432"},
                        {"difficulty", "0.5"},
                        {"target", std::string(64, '0')},
                        {"accepted", "1"},
                        {"code", "0"},
                        {"reason", ""},
                        {"block", "0"},
                        {"time_ms", "1700000000000"},
                        {"uid", "7:1600000000000:0"}};
    {
        std::ofstream out(journal(), std::ios::binary);
        out << record_to_json_line(old_share);
    }
    redis_server redis;
    redis.start();
    share_sink sink(config(redis.port()));
    ASSERT_TRUE(sink.start().ok());

    std::vector<bmm::record::share_record> shares(2);
    for (std::size_t i = 0; i < shares.size(); ++i) {
        auto& r = shares[i];
        r.instance = 7;
        r.coin = "LTC";
        r.algorithm = "scrypt";
        r.account = "bob";
        r.worker = "bob." + awkward(i + 3);
        r.ip = "::1";
        r.job = "60";
        r.height = 433;
        r.difficulty = 0.25;
        r.target = bmm::uint256(1000 + i);
        r.accepted = true;
        r.time_ms = 1700000000001;
        r.network_target = bmm::uint256(7);
        r.reward = 625000000;
    }
    ASSERT_TRUE(sink.append(shares));
    bmm::record::block_record block;
    block.instance = 7;
    block.coin = "LTC";
    block.height = 433;
    block.hash = std::string(64, 'e');
    block.account = "bob";
    block.worker = "bob.rig";
    block.job = "60";
    block.reward = 625000000;
    block.accepted = true;
    block.answer = "null";
    block.time_ms = 1700000000002;
    ASSERT_TRUE(sink.append(block));
    ASSERT_TRUE(delivered(sink, redis.port(), stream_, 4)) << "backlog " << sink.stats().backlog_bytes;
    sink.stop(5000);

    const auto got = decode_stream(redis.port(), stream_);
    ASSERT_EQ(got.records.size(), 4u);
    for (const auto& d : got.records) ASSERT_TRUE(d.ok()) << d.error_message();
    EXPECT_EQ(got.owned[0], old_share) << "an older journal's line is published as it was written";
    EXPECT_EQ(got.records[0]->version, 1);
    EXPECT_EQ(std::get<bmm::record::share_view>(got.records[0]->body).uid, "7:1600000000000:0");
    std::set<std::string_view> uids;
    for (std::size_t i = 0; i < shares.size(); ++i) {
        const auto& d = *got.records[1 + i];
        EXPECT_EQ(d.version, bmm::record::k_version);
        const auto& s = std::get<bmm::record::share_view>(d.body);
        EXPECT_EQ(s.worker, shares[i].worker);
        EXPECT_EQ(s.target, shares[i].target->to_hex());
        EXPECT_EQ(s.network_target, std::optional<std::string_view>(bmm::uint256(7).to_hex()));
        EXPECT_EQ(s.reward, std::optional<std::int64_t>(625000000));
        EXPECT_EQ(s.time_ms, 1700000000001);
        EXPECT_TRUE(s.uid.starts_with("7:")) << s.uid;
        uids.insert(s.uid);
    }
    const auto& b = std::get<bmm::record::block_view>(got.records[3]->body);
    EXPECT_EQ(b.hash, block.hash);
    EXPECT_EQ(b.time_ms, block.time_ms);
    uids.insert(b.uid);
    EXPECT_EQ(uids.size(), 3u) << "every typed record has a uid of its own";
}

// [redis] wait_replicas (issue 17): a batch leaves the journal only once a
// replica has it. Without a replica WAIT answers 0: the records stay in the
// journal, the shortfall is counted, and they are sent again; with a replica
// attached they are let go, and every uid is in the stream (a resend repeats
// one, which the consumer drops; none is lost).
TEST_F(share_sink_test, wait_replicas_keeps_a_batch_until_a_replica_has_it) {
    redis_server primary;
    primary.start();
    sink_config c = config(primary.port());
    c.wait.replicas = 1;
    c.wait.timeout_ms = 100;
    share_sink sink(c);
    auto started = sink.start();
    ASSERT_TRUE(started.ok()) << started.error_message();
    std::vector<record> batch;
    for (int i = 0; i < 5; ++i) {
        batch.push_back(make_record(3, i));
    }
    ASSERT_TRUE(sink.append(batch));
    ASSERT_TRUE(wait_until([&] { return sink.stats().wait_shortfalls >= 2; }, k_deliver_timeout));
    EXPECT_EQ(sink.stats().backlog_records, 5u) << "kept in the journal while no replica has them";
    EXPECT_GT(sink.stats().backlog_bytes, 0u);
    EXPECT_GE(stream_length(primary.port(), stream_), 10) << "sent, and sent again";

    redis_server replica;
    replica.start();
    auto r = redis_command(replica.port(), {"REPLICAOF", "127.0.0.1", std::to_string(primary.port())});
    ASSERT_TRUE(r && r->type == REDIS_REPLY_STATUS) << (r && r->str ? r->str : "no answer");
    ASSERT_TRUE(wait_until([&] { return sink.stats().backlog_bytes == 0; }, k_deliver_timeout))
        << "the journal did not let go once a replica was attached";
    EXPECT_EQ(sink.stats().backlog_records, 0u);
    std::set<std::string> uids;
    for (const auto& rec : read_stream(primary.port(), stream_)) {
        for (const auto& [k, v] : rec) {
            if (k == "uid") {
                uids.insert(v);
            }
        }
    }
    EXPECT_EQ(uids.size(), 5u) << "every record in the stream, repeats aside";
    const auto shortfalls = sink.stats().wait_shortfalls;
    std::vector<record> more = {make_record(4, 0)};
    ASSERT_TRUE(sink.append(more));
    ASSERT_TRUE(wait_until([&] { return sink.stats().backlog_bytes == 0; }, k_deliver_timeout));
    EXPECT_EQ(sink.stats().wait_shortfalls, shortfalls) << "a replica acknowledges: no shortfall";
    sink.stop(1000);
}

}  // namespace
