// Webhook notifications (see webhook.hpp).

#include "bmm/notify/webhook.hpp"

#include "bmm/json/writer.hpp"
#include "bmm/log.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <ctime>
#include <memory>

namespace bmm::notify {

namespace {

std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

// The URL without what may be a secret (user:password@, the query string).
std::string redacted(const std::string& url) {
    std::string u = url.substr(0, url.find('?'));
    const auto scheme = u.find("://");
    const auto at = u.find('@', scheme == std::string::npos ? 0 : scheme + 3);
    if (scheme != std::string::npos && at != std::string::npos && at < u.find('/', scheme + 3)) {
        u.erase(scheme + 3, at + 1 - (scheme + 3));
    }
    return u;
}

}  // namespace

webhook::webhook(webhook_settings s, std::string source) : settings_(std::move(s)), source_(std::move(source)) {
    if (enabled()) {
        static std::once_flag once;
        std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
        thread_ = std::thread([this] { run(); });
    }
}

webhook::~webhook() {
    if (!thread_.joinable()) {
        return;
    }
    // One attempt's time for what is queued; retries waiting are given up.
    flush(settings_.timeout);
    {
        const std::lock_guard lock(m_);
        stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void webhook::send(const std::string& event, const std::string& data_json) {
    if (!enabled()) {
        return;
    }
    json::writer w;
    w.begin_object();
    w.key("event").str(event);
    w.key("time").number(static_cast<std::int64_t>(std::time(nullptr)));
    w.key("source").str(source_);
    w.key("data").raw(data_json.empty() ? "{}" : data_json);
    w.end_object();
    {
        const std::lock_guard lock(m_);
        if (queue_.size() >= settings_.max_queue) {
            ++stats_.dropped;
            log::warn("notify", "{} not sent: {} notifications already wait ([notify] max_queue)", event,
                      queue_.size());
            return;
        }
        queue_.push_back(w.take());
        ++stats_.queued;
    }
    cv_.notify_all();
}

bool webhook::flush(std::chrono::milliseconds limit) {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, limit, [this] { return queue_.empty() && !busy_; });
}

webhook_stats webhook::stats() const {
    const std::lock_guard lock(m_);
    return stats_;
}

bool webhook::post(const std::string& url, const std::string& body, std::string& why) const {
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(curl_easy_init(), &curl_easy_cleanup);
    if (!c) {
        why = "curl_easy_init failed";
        return false;
    }
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    headers = curl_slist_append(headers, "User-Agent: bmm-pool-webhook");
    char err[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout.count()));
    curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(settings_.timeout.count()));
    curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "http,https");
    const CURLcode rc = curl_easy_perform(c.get());
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        why = err[0] ? err : curl_easy_strerror(rc);
        return false;
    }
    long status = 0;
    curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        why = "HTTP status " + std::to_string(status);
        return false;
    }
    return true;
}

void webhook::run() {
    std::unique_lock lock(m_);
    for (;;) {
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) {
            return;  // stopping, nothing left
        }
        const std::string body = queue_.front();
        busy_ = true;
        queue_.pop_front();
        lock.unlock();
        std::uint64_t delivered = 0, failed = 0, retries = 0;
        for (const auto& url : settings_.urls) {
            auto wait = settings_.backoff;
            std::string why;
            bool ok = false;
            for (int attempt = 1; attempt <= std::max(1, settings_.attempts); ++attempt) {
                if (attempt > 1) {
                    ++retries;
                    // Sleeps, but wakes to give up early when the process stops.
                    std::unique_lock pause(m_);
                    if (cv_.wait_for(pause, wait, [this] { return stopping_; })) {
                        break;
                    }
                    wait = std::min(wait * 2, settings_.max_backoff);
                }
                if (post(url, body, why)) {
                    ok = true;
                    break;
                }
            }
            if (ok) {
                ++delivered;
            } else {
                ++failed;
                log::warn("notify", "webhook {} gave up after {} attempt(s): {}; dropped {}", redacted(url),
                          settings_.attempts, why, body.substr(0, 200));
            }
        }
        lock.lock();
        stats_.delivered += delivered;
        stats_.failed += failed;
        stats_.retries += retries;
        busy_ = false;
        cv_.notify_all();
    }
}

}  // namespace bmm::notify
