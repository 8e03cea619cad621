// bmm-verifier-bench: how fast the share verifier and its kernels run on one
// core, each beside an OpenSSL baseline measured in the same run.
//
//   sha256d shares/s for a share shaped like Bitcoin block 413567 (185-byte
//   coinbase, 11-level merkle branch), per kernel and batch size, with
//   "x_openssl" = 44 * shares/s divided by OpenSSL's SHA-256 compressions/s
//   (the yardstick: such a share costs about 44 compressions).
//
//   scrypt hashes/s per kernel and batch size, with "x_openssl" = hashes/s
//   divided by OpenSSL's EVP_PBE_scrypt hashes/s.
//
// Google Benchmark flags apply (--benchmark_filter, --benchmark_format=json,
// --benchmark_min_time). Pin to one core with taskset for steadier figures.

#include "bmm/cli.hpp"
#include "bmm/crypto/scrypt.hpp"
#include "bmm/crypto/sha256.hpp"
#include "bmm/verifier/share_verifier.hpp"

#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {

using namespace bmm;
using clock_type = std::chrono::steady_clock;

constexpr double k_compressions_per_share = 44.0;
constexpr std::size_t k_batch_sizes[] = {1, 8, 16, 64};

double g_openssl_compressions_per_s = 0;
double g_openssl_scrypt_per_s = 0;

// OpenSSL's SHA-256 compression rate: EVP_DigestUpdate over 16 KiB, 256
// compressions a call, so call overhead is negligible.
void bm_openssl_sha256_compress(benchmark::State& state) {
    std::vector<unsigned char> buf(16 * 1024, 0x5a);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    const auto t0 = clock_type::now();
    for (auto _ : state) {
        EVP_DigestUpdate(ctx, buf.data(), buf.size());
        benchmark::ClobberMemory();
    }
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    unsigned char out[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
    const double compressions = static_cast<double>(state.iterations()) * static_cast<double>(buf.size() / 64);
    g_openssl_compressions_per_s = compressions / secs;
    state.counters["compressions_per_s"] = g_openssl_compressions_per_s;
    state.SetItemsProcessed(static_cast<std::int64_t>(compressions));
}

int openssl_scrypt(const unsigned char* header, unsigned char* out) {
    return EVP_PBE_scrypt(reinterpret_cast<const char*>(header), 80, header, 80, 1024, 1, 1, 0, out, 32);
}

void bm_openssl_scrypt(benchmark::State& state) {
    unsigned char header[80] = {1, 2, 3};
    unsigned char out[32];
    const auto t0 = clock_type::now();
    for (auto _ : state) {
        if (openssl_scrypt(header, out) != 1) state.SkipWithError("EVP_PBE_scrypt failed");
        ++header[76];
        benchmark::DoNotOptimize(out);
    }
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    g_openssl_scrypt_per_s = static_cast<double>(state.iterations()) / secs;
    state.counters["hashes_per_s"] = g_openssl_scrypt_per_s;
    state.SetItemsProcessed(state.iterations());
}

// A job and shares shaped like block 413567: 185-byte coinbase split around
// 4 + 4 bytes of extranonce, 11 merkle levels.
struct share_fixture {
    verifier::job_data job;
    std::vector<unsigned char> en1{0xde, 0xad, 0xbe, 0xef};
    std::vector<std::string> en2, nonce;
    std::string ntime = "5747d8b3";
    std::vector<verifier::share> shares;

    explicit share_fixture(std::size_t n) {
        std::mt19937 rng(413567);
        job.algorithm = pow_algorithm::sha256d;
        job.coinb1.resize(88);
        job.coinb2.resize(185 - 88 - 8);
        for (auto& b : job.coinb1) b = static_cast<unsigned char>(rng());
        for (auto& b : job.coinb2) b = static_cast<unsigned char>(rng());
        job.merkle_branch.resize(11);
        for (auto& h : job.merkle_branch)
            for (auto& b : h) b = static_cast<unsigned char>(rng());
        job.version = 0x20000000;
        job.nbits = 0x18058436;
        job.extranonce2_size = 4;
        job.network_target = *target_from_nbits(job.nbits);
        char buf[24];
        for (std::size_t i = 0; i < n; ++i) {
            std::snprintf(buf, sizeof buf, "%08zx", i);
            en2.emplace_back(buf);
            std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rng()));
            nonce.emplace_back(buf);
        }
        const uint256 target = *target_from_difficulty(1.0, pow_algorithm::sha256d);
        for (std::size_t i = 0; i < n; ++i) shares.push_back({&job, en1, en2[i], ntime, nonce[i], {}, target});
    }
};

// The selection a benchmark runs: the forced kernel alone, or the process
// default when `kernel` is null. False (and the benchmark skipped with the
// reason) when this CPU cannot run the kernel.
template <class Kernel, class Selection>
bool pick(benchmark::State& state, const Kernel* kernel, const Selection& fallback, Selection& out) {
    if (!kernel) {
        out = fallback;
        return true;
    }
    if (!kernel->supported(crypto::detect_cpu_features())) {
        state.SkipWithError(("this CPU lacks the instructions for " + std::string(kernel->name)).c_str());
        return false;
    }
    out = {kernel, kernel};
    return true;
}

void bm_sha256d_shares(benchmark::State& state, const crypto::sha256_kernel* kernel, std::size_t batch) {
    crypto::sha256_selection sel;
    if (!pick(state, kernel, crypto::sha256_default_selection(), sel)) return;
    auto scalar_scrypt = crypto::scrypt_select("scalar");
    verifier::batch_verifier v(sel, *scalar_scrypt);
    share_fixture f(batch);
    std::vector<verifier::verdict> out(batch);
    const auto t0 = clock_type::now();
    for (auto _ : state) {
        v.verify(f.shares, out);
        benchmark::DoNotOptimize(out.data());
    }
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    const double shares_per_s = static_cast<double>(state.iterations() * batch) / secs;
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
    state.counters["shares_per_s"] = shares_per_s;
    if (g_openssl_compressions_per_s > 0)
        state.counters["x_openssl"] = k_compressions_per_share * shares_per_s / g_openssl_compressions_per_s;
    state.SetLabel(sel.describe());
}

void bm_scrypt(benchmark::State& state, const crypto::scrypt_kernel* kernel, std::size_t batch) {
    crypto::scrypt_selection sel;
    if (!pick(state, kernel, crypto::scrypt_default_selection(), sel)) return;
    crypto::scrypt_batch hasher(sel);
    std::vector<unsigned char> headers(80 * batch);
    std::vector<const unsigned char*> ptrs(batch);
    for (std::size_t i = 0; i < batch; ++i) {
        headers[80 * i] = static_cast<unsigned char>(i);
        ptrs[i] = headers.data() + 80 * i;
    }
    std::vector<crypto::digest32> out(batch);
    const auto t0 = clock_type::now();
    for (auto _ : state) {
        hasher.hash(ptrs.data(), out.data(), batch);
        benchmark::DoNotOptimize(out.data());
    }
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    const double per_s = static_cast<double>(state.iterations() * batch) / secs;
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
    state.counters["hashes_per_s"] = per_s;
    if (g_openssl_scrypt_per_s > 0) state.counters["x_openssl"] = per_s / g_openssl_scrypt_per_s;
    state.SetLabel(sel.describe());
}

void register_all() {
    // Baselines first: Google Benchmark runs in registration order, and the
    // ratios below read the baselines' rates.
    benchmark::RegisterBenchmark("openssl/sha256_compress", bm_openssl_sha256_compress);
    for (std::size_t batch : k_batch_sizes) {
        benchmark::RegisterBenchmark(("sha256d_share/auto/" + std::to_string(batch)).c_str(), bm_sha256d_shares,
                                     nullptr, batch);
        for (const auto& k : crypto::sha256_all_kernels())
            benchmark::RegisterBenchmark(("sha256d_share/" + std::string(k.name) + "/" + std::to_string(batch)).c_str(),
                                         bm_sha256d_shares, &k, batch);
    }
    benchmark::RegisterBenchmark("openssl/scrypt", bm_openssl_scrypt)->Unit(benchmark::kMicrosecond);
    for (std::size_t batch : k_batch_sizes) {
        benchmark::RegisterBenchmark(("scrypt/auto/" + std::to_string(batch)).c_str(), bm_scrypt, nullptr, batch)
            ->Unit(benchmark::kMicrosecond);
        for (const auto& k : crypto::scrypt_all_kernels())
            benchmark::RegisterBenchmark(("scrypt/" + std::string(k.name) + "/" + std::to_string(batch)).c_str(),
                                         bm_scrypt, &k, batch)
                ->Unit(benchmark::kMicrosecond);
    }
}

}  // namespace

int main(int argc, char** argv) {
    // Our own options through CLI11; everything else (the --benchmark_* flags)
    // goes on to Google Benchmark, which refuses what it does not know.
    CLI::App app{"bmm-verifier-bench: the share verifier's kernels against OpenSSL, on one core", "bmm-verifier-bench"};
    cli::setup(app, "bmm-verifier-bench");
    app.allow_extras();
    app.footer(
        "\nMeasures, on one core, sha256d shares/s (shaped like Bitcoin block 413567) and\n"
        "scrypt hashes/s for every kernel compiled in and batch sizes 1, 8, 16, 64, each\n"
        "with its ratio (x_openssl) to OpenSSL measured in the same run. Kernels this CPU\n"
        "lacks are reported as skipped. Useful flags:\n"
        "  --benchmark_filter=REGEX     run a subset, e.g. 'openssl|sha256d_share/.*/64'\n"
        "                               (keep the openssl baselines in the filter for ratios)\n"
        "  --benchmark_min_time=SECS    time per benchmark (default 0.5)\n"
        "  --benchmark_format=json      machine-readable output\n"
        "CPU: " +
        crypto::detect_cpu_features().describe());
    if (auto rc = cli::parse(app, argc, argv)) return *rc;
    std::vector<std::string> rest = app.remaining();
    std::vector<char*> bench_argv{argv[0]};
    for (auto& r : rest) bench_argv.push_back(r.data());
    int bench_argc = static_cast<int>(bench_argv.size());
    bench_argv.push_back(nullptr);
    register_all();
    benchmark::Initialize(&bench_argc, bench_argv.data());
    if (benchmark::ReportUnrecognizedArguments(bench_argc, bench_argv.data())) return 2;
    std::printf("CPU features: %s\n", crypto::detect_cpu_features().describe().c_str());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
