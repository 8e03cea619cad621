#pragma once
// Test support: run a program as a child process (the real bmm-stratum,
// bmm-miner) with extra environment, its output in a log file, and stop it
// with a bounded wait.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace bmm::test {

class child_process {
public:
    child_process(const std::vector<std::string>& argv, const std::string& log_path,
                  const std::map<std::string, std::string>& env = {}) {
        pid_ = ::fork();
        if (pid_ < 0) {
            throw std::runtime_error("fork failed");
        }
        if (pid_ == 0) {
            const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                ::dup2(fd, 1);
                ::dup2(fd, 2);
            }
            for (const auto& [k, v] : env) {
                ::setenv(k.c_str(), v.c_str(), 1);
            }
            std::vector<char*> args;
            for (const auto& a : argv) {
                args.push_back(const_cast<char*>(a.c_str()));
            }
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            std::perror("execv");
            ::_exit(127);
        }
    }
    ~child_process() { stop(SIGKILL, 2000); }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const { return pid_; }
    bool running() {
        if (pid_ <= 0) {
            return false;
        }
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            pid_ = -1;
            return false;
        }
        return true;
    }
    void signal(int sig) {
        if (pid_ > 0) {
            ::kill(pid_, sig);
        }
    }
    // Waits for the process to end; returns its exit code, or -1 on time-out.
    int wait(int timeout_ms) {
        const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        while (running()) {
            if (std::chrono::steady_clock::now() >= end) {
                return -1;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return exit_;
    }
    // Sends `sig`, waits up to timeout_ms, then SIGKILL; returns the exit code.
    int stop(int sig = SIGTERM, int timeout_ms = 10000) {
        if (!running()) {
            return exit_;
        }
        ::kill(pid_, sig);
        const int rc = wait(timeout_ms);
        if (rc != -1) {
            return rc;
        }
        ::kill(pid_, SIGKILL);
        return wait(2000);
    }

private:
    pid_t pid_ = -1;
    int exit_ = -1;
};

// Runs a shell command and returns its standard output, trailing newlines cut.
inline std::string run_capture(const std::string& cmd) {
    std::string out;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
            out.append(buf, n);
        }
        ::pclose(p);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) {
        out.pop_back();
    }
    return out;
}

}  // namespace bmm::test
