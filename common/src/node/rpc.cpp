#include "bmm/node/rpc.hpp"

#include <curl/curl.h>

#include <mutex>

namespace bmm::node {
namespace {

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t append_body(char* data, std::size_t size, std::size_t count, void* user) {
    static_cast<std::string*>(user)->append(data, size * count);
    return size * count;
}

int check_abort(void* flag, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    const auto* f = static_cast<const std::atomic<bool>*>(flag);
    return f && f->load() ? 1 : 0;
}

}  // namespace

rpc_client::rpc_client(rpc_endpoint endpoint) : endpoint_(std::move(endpoint)) {
    global_init();
    curl_ = curl_easy_init();
}

rpc_client::~rpc_client() {
    if (curl_) {
        curl_easy_cleanup(static_cast<CURL*>(curl_));
    }
}

// One HTTP POST of a JSON-RPC body to the node (the wallet's path when set):
// the reply body and HTTP status, or the transport failure, named after `what`.
result<rpc_client::http_reply> rpc_client::post(std::string_view what, const std::string& body,
                                                std::chrono::milliseconds timeout, rpc_failure* failure) {
    std::string url = endpoint_.url;
    if (!endpoint_.wallet.empty()) {
        if (url.empty() || url.back() != '/') {
            url += '/';
        }
        url += "wallet/" + endpoint_.wallet;
    }
    auto fail = [&](int code, std::string message) -> result<http_reply> {
        if (failure) {
            *failure = {code, message};
        }
        return error{"node RPC " + std::string(what) + " at " + url + ": " + message};
    };
    CURL* c = static_cast<CURL*>(curl_);
    if (!c) {
        return fail(0, "libcurl could not be initialised");
    }
    http_reply reply{{}, 0, url};
    char curl_error[CURL_ERROR_SIZE] = {};
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, endpoint_.user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, endpoint_.password.c_str());
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply.body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_error);
    if (abort_) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, check_abort);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(abort_));
    }
    const CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        std::string why = curl_error[0] ? curl_error : curl_easy_strerror(rc);
        if (rc == CURLE_COULDNT_CONNECT) {
            why += " (is the node running, and is its RPC port right?)";
        }
        auto r = fail(0, why);
        if (failure) {
            failure->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
            failure->aborted = rc == CURLE_ABORTED_BY_CALLBACK;
        }
        return r;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
    if (reply.status == 401) {
        return fail(0, "HTTP 401: the node refused the RPC user or password");
    }
    if (reply.status == 404 && !endpoint_.wallet.empty()) {
        return fail(0, "HTTP 404: no wallet '" + endpoint_.wallet + "' is loaded on the node");
    }
    return reply;
}

result<std::string> rpc_client::call(std::string_view method, std::string_view params_json,
                                     std::chrono::milliseconds timeout, rpc_failure* failure) {
    const std::string body = "{\"jsonrpc\":\"1.0\",\"id\":" + std::to_string(next_id_++) + ",\"method\":\"" +
                             json_escape(method) + "\",\"params\":" + std::string(params_json) + "}";
    auto reply = post(method, body, timeout, failure);
    if (!reply) {
        return error{reply.error_message()};
    }
    int code = 0;
    auto decoded = parse_rpc_reply(reply->body, &code);
    if (!decoded) {
        // The node answers errors with HTTP 500 (404 for an unknown method);
        // the status goes in front when it is not 200, for replies from proxies.
        std::string why = reply->status == 200 ? std::string() : "HTTP " + std::to_string(reply->status) + ": ";
        why += decoded.error_message();
        if (failure) {
            *failure = {code, why};
        }
        return error{"node RPC " + std::string(method) + " at " + reply->url + ": " + why};
    }
    return decoded;
}

result<std::vector<result<std::string>>> rpc_client::call_batch(std::string_view method,
                                                                const std::vector<std::string>& params_jsons,
                                                                std::chrono::milliseconds timeout) {
    std::vector<result<std::string>> out;
    if (params_jsons.empty()) {
        return out;
    }
    const std::uint64_t first = next_id_;
    std::string body = "[";
    for (const auto& p : params_jsons) {
        if (body.size() > 1) {
            body += ',';
        }
        body += "{\"jsonrpc\":\"1.0\",\"id\":" + std::to_string(next_id_++) + ",\"method\":\"" + json_escape(method) +
                "\",\"params\":" + p + "}";
    }
    body += ']';
    const std::string what = std::string(method) + " (a batch of " + std::to_string(params_jsons.size()) + ")";
    auto reply = post(what, body, timeout, nullptr);
    if (!reply) {
        return error{reply.error_message()};
    }
    auto answers = parse_rpc_batch_reply(reply->body, first, params_jsons.size());
    if (!answers) {
        std::string why = reply->status == 200 ? std::string() : "HTTP " + std::to_string(reply->status) + ": ";
        return error{"node RPC " + what + " at " + reply->url + ": " + why + answers.error_message()};
    }
    return answers;
}

}  // namespace bmm::node
