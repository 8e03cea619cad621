#pragma once
// A webhook receiver for tests: a real HTTP/1.1 server on a loopback port
// that keeps every request (method, path, headers, body) and answers each
// with the next status of a script (then 200), optionally after a delay (a
// receiver slower than the sender's timeout). One request per connection.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bmm::test {

struct received_request {
    std::string method, path, content_type, body;
};

class webhook_receiver {
public:
    // Answers the first requests with `statuses` in order, the rest 200.
    explicit webhook_receiver(std::vector<int> statuses = {}, std::chrono::milliseconds delay = {})
        : script_(statuses.begin(), statuses.end()), delay_(delay) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0) {
            throw std::runtime_error("webhook receiver: cannot listen on 127.0.0.1");
        }
        socklen_t len = sizeof a;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { loop(); });
    }
    ~webhook_receiver() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    webhook_receiver(const webhook_receiver&) = delete;
    webhook_receiver& operator=(const webhook_receiver&) = delete;

    std::string url(const std::string& path = "/hook") const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }
    std::vector<received_request> requests() const {
        std::lock_guard lock(m_);
        return got_;
    }
    // Waits until at least n requests arrived (true) or `limit` passed.
    bool wait_for(std::size_t n, std::chrono::milliseconds limit) const {
        std::unique_lock lock(m_);
        return cv_.wait_for(lock, limit, [&] { return got_.size() >= n; });
    }
    // Waits for a request whose body contains `needle`; returns it, or an empty one.
    received_request wait_for_body(const std::string& needle, std::chrono::milliseconds limit) const {
        std::unique_lock lock(m_);
        received_request out;
        cv_.wait_for(lock, limit, [&] {
            for (const auto& r : got_) {
                if (r.body.find(needle) != std::string::npos) {
                    out = r;
                    return true;
                }
            }
            return false;
        });
        return out;
    }

private:
    void loop() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) {
                continue;
            }
            const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) {
                continue;
            }
            serve(c);
            ::close(c);
        }
    }
    static std::string header(const std::string& head, const std::string& name) {
        std::string lower = head;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
        const auto at = lower.find("\r\n" + name + ":");
        if (at == std::string::npos) {
            return "";
        }
        auto from = at + 3 + name.size();
        while (from < head.size() && head[from] == ' ') {
            ++from;
        }
        return head.substr(from, head.find("\r\n", from) - from);
    }
    void serve(int c) {
        std::string in;
        char buf[4096];
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        std::size_t head_end = std::string::npos, need = 0;
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{c, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) {
                continue;
            }
            const auto n = ::read(c, buf, sizeof buf);
            if (n <= 0) {
                return;
            }
            in.append(buf, static_cast<std::size_t>(n));
            if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
                need = head_end + 4 +
                       std::strtoul(header(in.substr(0, head_end + 2), "content-length").c_str(), nullptr, 10);
            }
            if (head_end != std::string::npos && in.size() >= need) {
                break;
            }
        }
        if (head_end == std::string::npos || in.size() < need) {
            return;
        }
        received_request r;
        const std::string line = in.substr(0, in.find("\r\n"));
        r.method = line.substr(0, line.find(' '));
        r.path = line.substr(line.find(' ') + 1, line.rfind(' ') - line.find(' ') - 1);
        r.content_type = header(in.substr(0, head_end + 2), "content-type");
        r.body = in.substr(head_end + 4, need - head_end - 4);
        int status = 200;
        {
            std::lock_guard lock(m_);
            if (!script_.empty()) {
                status = script_.front();
                script_.pop_front();
            }
        }
        if (delay_.count() > 0) {
            std::this_thread::sleep_for(delay_);
        }
        {
            std::lock_guard lock(m_);
            got_.push_back(std::move(r));
        }
        cv_.notify_all();
        const std::string out =
            "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        [[maybe_unused]] const auto w = ::write(c, out.data(), out.size());
    }

    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::deque<int> script_;
    std::chrono::milliseconds delay_;
    std::atomic<bool> stop_{false};
    mutable std::mutex m_;
    mutable std::condition_variable cv_;
    std::vector<received_request> got_;
    std::thread thread_;
};

}  // namespace bmm::test
