#pragma once
// Test support: headless Chromium (Debian's chromium), either run once to
// dump a page's DOM (chromium_dump_dom) or driven over WebDriver by Debian's
// chromedriver (class webdriver: navigate, run JavaScript, read the browser's
// console log, take screenshots). Used by api_test and web_test.

#include "process.hpp"
#include "vectors.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <simdjson.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bmm::test {

inline constexpr const char* k_chromium = "/usr/bin/chromium";
inline constexpr const char* k_chromedriver = "/usr/bin/chromedriver";

inline bool have_chromium() { return std::filesystem::exists(k_chromium); }
inline bool have_chromedriver() { return have_chromium() && std::filesystem::exists(k_chromedriver); }

// The flags every headless run here uses: no sandbox (tests may run as root),
// no GPU, /tmp rather than /dev/shm (small in containers), its own profile.
inline std::vector<std::string> chromium_flags(const std::string& dir) {
    return {"--headless",     "--no-sandbox",
            "--disable-gpu",  "--disable-dev-shm-usage",
            "--no-first-run", "--user-data-dir=" + dir + "/profile"};
}

// Runs Chromium on `url` until the page has had `budget_ms` of virtual time
// and returns its DOM (as --dump-dom writes it); throws with the output when
// Chromium fails.
inline std::string chromium_dump_dom(const std::string& dir, const std::string& url, int budget_ms = 10000) {
    std::filesystem::create_directories(dir);
    const std::string out = dir + "/dom.html";
    std::filesystem::remove(out);
    auto args = chromium_flags(dir);
    args.insert(args.begin(), k_chromium);
    args.push_back("--virtual-time-budget=" + std::to_string(budget_ms));
    args.push_back("--dump-dom");
    args.push_back(url);
    child_process browser(args, out, {{"HOME", dir}});
    if (browser.wait(90000) != 0) {
        throw std::runtime_error("chromium failed: " + read_text(out).substr(0, 2000));
    }
    return read_text(out);
}

// A JSON string literal of `s`.
inline std::string json_text(std::string_view s) {
    std::string o = "\"";
    for (char c : s) {
        switch (c) {
            case '"':
                o += "\\\"";
                break;
            case '\\':
                o += "\\\\";
                break;
            case '\n':
                o += "\\n";
                break;
            case '\r':
                o += "\\r";
                break;
            case '\t':
                o += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char b[8];
                    std::snprintf(b, sizeof b, "\\u%04x", c);
                    o += b;
                } else {
                    o += c;
                }
        }
    }
    return o + "\"";
}

inline std::string base64_decode(std::string_view in) {
    auto val = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') {
            return c - 'A';
        }
        if (c >= 'a' && c <= 'z') {
            return c - 'a' + 26;
        }
        if (c >= '0' && c <= '9') {
            return c - '0' + 52;
        }
        if (c == '+') {
            return 62;
        }
        return c == '/' ? 63 : -1;
    };
    std::string out;
    int bits = 0, acc = 0;
    for (char c : in) {
        const int v = val(c);
        if (v < 0) {
            continue;
        }
        acc = (acc << 6) | v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    return out;
}

// One HTTP/1.1 request on its own connection to 127.0.0.1:port; the answer's
// status and body (read by Content-Length). Reads give up after `timeout_s`.
struct http_answer {
    int status = 0;
    std::string body;
};
inline http_answer http_call(int port, const std::string& method, const std::string& path, const std::string& body,
                             int timeout_s = 60) {
    http_answer a;
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<std::uint16_t>(port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        ::close(fd);
        return a;
    }
    timeval tv{timeout_s, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    std::string_view d = req;
    while (!d.empty()) {
        const ssize_t n = ::send(fd, d.data(), d.size(), MSG_NOSIGNAL);
        if (n <= 0) {
            break;
        }
        d.remove_prefix(static_cast<std::size_t>(n));
    }
    std::string in;
    char buf[65536];
    std::size_t want = std::string::npos;
    while (true) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            break;
        }
        in.append(buf, static_cast<std::size_t>(n));
        const auto he = in.find("\r\n\r\n");
        if (he != std::string::npos && want == std::string::npos) {
            std::string head = in.substr(0, he);
            for (auto& c : head) {
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
            const auto cl = head.find("content-length:");
            if (cl != std::string::npos) {
                want = he + 4 + std::stoull(head.substr(cl + 15));
            }
        }
        if (want != std::string::npos && in.size() >= want) {
            break;
        }
    }
    ::close(fd);
    if (in.rfind("HTTP/1.", 0) == 0 && in.size() > 12) {
        a.status = std::atoi(in.c_str() + 9);
    }
    const auto he = in.find("\r\n\r\n");
    if (he != std::string::npos) {
        a.body = in.substr(he + 4);
    }
    return a;
}

// Headless Chromium driven over WebDriver (chromedriver on a free port).
class webdriver {
public:
    // `dir` holds chromedriver's log and the browser profile; `port` is a free port for chromedriver.
    webdriver(const std::string& dir, int port, int width = 1280, int height = 1600) : port_(port) {
        std::filesystem::create_directories(dir);
        log_ = dir + "/chromedriver.log";
        driver_ =
            std::make_unique<child_process>(std::vector<std::string>{k_chromedriver, "--port=" + std::to_string(port)},
                                            log_, std::map<std::string, std::string>{{"HOME", dir}});
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (http_call(port_, "GET", "/status", "", 5).body.find("\"ready\":true") == std::string::npos) {
            if (std::chrono::steady_clock::now() > end) {
                throw std::runtime_error("chromedriver did not start: " + read_text(log_));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        std::string args;
        for (const auto& f : chromium_flags(dir)) {
            args += (args.empty() ? "" : ",") + json_text(f);
        }
        args += "," + json_text("--window-size=" + std::to_string(width) + "," + std::to_string(height));
        const std::string caps =
            "{\"capabilities\":{\"alwaysMatch\":{\"browserName\":\"chrome\",\"goog:chromeOptions\":{\"binary\":" +
            json_text(k_chromium) + ",\"args\":[" + args + "]},\"goog:loggingPrefs\":{\"browser\":\"ALL\"}}}}";
        const auto r = http_call(port_, "POST", "/session", caps, 90);
        const auto p = r.body.find("\"sessionId\":\"");
        if (r.status != 200 || p == std::string::npos) {
            throw std::runtime_error("chromedriver made no session (HTTP " + std::to_string(r.status) +
                                     "): " + r.body.substr(0, 2000));
        }
        session_ = r.body.substr(p + 13, r.body.find('"', p + 13) - p - 13);
    }
    ~webdriver() {
        if (!session_.empty()) {
            http_call(port_, "DELETE", "/session/" + session_, "", 20);
        }
        driver_->stop(SIGTERM, 5000);
    }
    webdriver(const webdriver&) = delete;
    webdriver& operator=(const webdriver&) = delete;

    // The command's "value" as JSON text; throws on a WebDriver error.
    std::string call(const std::string& method, const std::string& what, const std::string& body = "{}") {
        const auto r = http_call(port_, method, "/session/" + session_ + what, method == "GET" ? "" : body, 90);
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        if (r.status != 200 || parser.parse(r.body).get(doc)) {
            throw std::runtime_error("WebDriver " + method + " " + what + " answered " + std::to_string(r.status) +
                                     ": " + r.body.substr(0, 2000));
        }
        return simdjson::minify(doc["value"]);
    }
    void go(const std::string& url) { call("POST", "/url", "{\"url\":" + json_text(url) + "}"); }
    // Runs `script` (a function body; `arguments` as usual) and returns its result as JSON text.
    std::string run(const std::string& script) {
        return call("POST", "/execute/sync", "{\"script\":" + json_text(script) + ",\"args\":[]}");
    }
    // The result of `script` as a string (it must return a string).
    std::string text(const std::string& script) {
        simdjson::dom::parser parser;
        const std::string v = run(script);
        std::string_view s;
        if (parser.parse(v).get_string().get(s)) {
            throw std::runtime_error("not a string: " + v + " from " + script);
        }
        return std::string(s);
    }
    // Waits up to `seconds` for `script` to return true.
    bool wait_until(const std::string& script, int seconds) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
        while (std::chrono::steady_clock::now() < end) {
            if (run(script) == "true") {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        return run(script) == "true";
    }
    void screenshot(const std::string& png_path) {
        simdjson::dom::parser parser;
        const std::string v = call("GET", "/screenshot");
        std::string_view b64;
        if (parser.parse(v).get_string().get(b64)) {
            throw std::runtime_error("no screenshot: " + v.substr(0, 200));
        }
        std::filesystem::create_directories(std::filesystem::path(png_path).parent_path());
        std::ofstream(png_path, std::ios::binary) << base64_decode(b64);
    }
    void window_size(int width, int height) {
        call("POST", "/window/rect",
             "{\"width\":" + std::to_string(width) + ",\"height\":" + std::to_string(height) + "}");
    }
    // The browser's console entries since the last call: [{"level":..,"message":..}, ...] as JSON text.
    std::string console_log() { return call("POST", "/se/log", "{\"type\":\"browser\"}"); }
    const std::string& log_path() const { return log_; }

private:
    int port_;
    std::string log_, session_;
    std::unique_ptr<child_process> driver_;
};

}  // namespace bmm::test
