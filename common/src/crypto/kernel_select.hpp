#pragma once
// Private: choosing kernels, the same rules for every algorithm.
//
// With an empty family, `env_var` names it, and with neither (or "auto") the
// first usable kernel in `wide_preference` and in `narrow_preference` win. A
// named family uses that family's kernels only: its preferred wide kernel and
// its narrowest. Errors name the family and why it cannot be used.

#include "bmm/crypto/cpu_features.hpp"
#include "bmm/result.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bmm::crypto::detail {

template <class Kernel>
using kernel_pair = std::pair<const Kernel*, const Kernel*>;  // wide, narrow

// "wide (tail: narrow)", or just "wide" when they are one kernel.
template <class Kernel>
std::string describe_pair(const Kernel* wide, const Kernel* narrow) {
    if (!wide) return "none";
    std::string s(wide->name);
    if (narrow && narrow != wide) {
        s += " (tail: ";
        s += narrow->name;
        s += ')';
    }
    return s;
}

// Whether the CPU runs `k` and it passed `self_test` (run once per kernel per
// process; a failure is reported on stderr). Thread-safe.
template <class Kernel, class SelfTest>
bool usable_once(const Kernel& k, std::string_view algorithm, SelfTest self_test) {
    static std::mutex mu;
    static std::vector<std::pair<const Kernel*, bool>> tested;
    if (!k.supported(detect_cpu_features())) return false;
    std::lock_guard lock(mu);
    for (auto& [kernel, ok] : tested)
        if (kernel == &k) return ok;
    const bool ok = self_test(k);
    tested.emplace_back(&k, ok);
    if (!ok)
        std::fprintf(stderr, "bmm: %.*s kernel %.*s failed its self-test against the scalar kernel; not using it\n",
                     static_cast<int>(algorithm.size()), algorithm.data(), static_cast<int>(k.name.size()),
                     k.name.data());
    return ok;
}

// `find(name)` returns the compiled kernel of that name or null; `usable(k)`
// says whether the CPU runs it and it passed its self-test.
template <class Kernel, class Find, class Usable>
result<kernel_pair<Kernel>> select_pair(std::string_view family, const char* env_var, std::string_view algorithm,
                                        std::span<const std::string_view> wide_preference,
                                        std::span<const std::string_view> narrow_preference, std::string_view families,
                                        Find find, Usable usable) {
    std::string from_env;
    if (family.empty()) {
        if (const char* e = std::getenv(env_var); e && *e) {
            from_env = e;
            family = from_env;
        }
    }
    const std::string algo(algorithm), fam(family);
    if (family.empty() || family == "auto") {
        kernel_pair<Kernel> sel{nullptr, nullptr};
        for (auto name : wide_preference)
            if (const Kernel* k = find(name); k && usable(*k)) {
                sel.first = k;
                break;
            }
        for (auto name : narrow_preference)
            if (const Kernel* k = find(name); k && usable(*k)) {
                sel.second = k;
                break;
            }
        if (!sel.first || !sel.second) return error{"no " + algo + " kernel passed its self-test"};
        return sel;
    }
    const auto& cpu = detect_cpu_features();
    bool known = false, runs_here = false;
    kernel_pair<Kernel> sel{nullptr, nullptr};
    for (auto name : wide_preference) {
        const Kernel* k = find(name);
        if (!k || k->family != family) {
            if (!k && name.substr(0, name.find('-')) == family) known = true;
            continue;
        }
        known = true;
        if (!k->supported(cpu)) continue;
        runs_here = true;
        if (!usable(*k)) continue;
        if (!sel.first) sel.first = k;
        if (!sel.second || k->lanes < sel.second->lanes) sel.second = k;
    }
    if (!known)
        return error{"unknown " + algo + " kernel family '" + fam + "' (expected one of: " + std::string(families) +
                     ")"};
    if (!runs_here)
        return error{algo + " kernel family '" + fam + "' cannot run here: this CPU has only [" + cpu.describe() + "]"};
    if (!sel.first) return error{algo + " kernel family '" + fam + "' failed its self-test against the scalar kernel"};
    return sel;
}

}  // namespace bmm::crypto::detail
