#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (a build folder of its own, only the
# parsers and the targets) and runs each for a bounded time over a copy of its
# seed corpus. Fails on any crash, leak, sanitizer report, timeout or memory
# blow-up, and keeps the input that caused it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
all_targets=(fuzz_stratum_line fuzz_stratum_fields fuzz_rpc_reply fuzz_block_template fuzz_server_config fuzz_stream_record)

usage() {
  cat <<EOF
Usage: tests/fuzz/run.sh [options] [TARGET...]

Configures a clang build with -DBMM_FUZZ=ON (only the parsers and the fuzz
targets, with -fsanitize=fuzzer,address,undefined), builds it, then runs each
target for a bounded time, starting from a temporary copy of its seeds in
tests/fuzz/corpus/<target>/ (so nothing is written into the repository).
Exits non-zero on the first target that finds a crash, a leak, an
undefined-behaviour or address report, a slow input or a memory blow-up; the
input is kept (its path is printed) and can be replayed with
  <build-dir>/fuzz/<target> <input>

Targets (default: all): ${all_targets[*]}

Options:
  --seconds N      fuzzing time per target (env BMM_FUZZ_SECONDS; default 20)
  --build-dir DIR  the clang build folder (env BMM_FUZZ_BUILD_DIR;
                   default <repo>/build-fuzz)
  --keep-corpus DIR  after each run, copy the grown corpus to DIR/<target>/
                   (to review and add new seeds by hand); default: discarded
  --no-build       use the targets already built in the build folder
  -h, --help       this text

Needs clang and libclang-rt-14-dev (deploy/install-deps.sh installs them).
EOF
}

seconds="${BMM_FUZZ_SECONDS:-20}"
build_dir="${BMM_FUZZ_BUILD_DIR:-$repo/build-fuzz}"
keep_corpus=""
build=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --build-dir) build_dir="$2"; shift 2 ;;
    --keep-corpus) keep_corpus="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "fuzz: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
case "$seconds" in ''|*[!0-9]*) echo "fuzz: --seconds must be a whole number, got '$seconds'" >&2; exit 2 ;; esac
for t in "${targets[@]}"; do
  [ -d "$here/corpus/$t" ] || { echo "fuzz: unknown target $t (no tests/fuzz/corpus/$t/); targets: ${all_targets[*]}" >&2; exit 2; }
done

if [ "$build" = 1 ]; then
  cc="$(command -v clang || command -v clang-14 || true)"
  cxx="$(command -v clang++ || command -v clang++-14 || true)"
  if [ -z "$cc" ] || [ -z "$cxx" ]; then
    echo "fuzz: clang is not installed: run deploy/install-deps.sh (packages clang, libclang-rt-14-dev)" >&2
    exit 1
  fi
  generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    echo "fuzz: configuring $build_dir with $cxx"
    mkdir -p "$build_dir"
    CC="$cc" CXX="$cxx" cmake -S "$repo" -B "$build_dir" "${generator[@]}" -DBMM_FUZZ=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build_dir/configure.log" 2>&1 \
      || { cat "$build_dir/configure.log" >&2; echo "fuzz: cmake configure failed" >&2; exit 1; }
  fi
  echo "fuzz: building ${targets[*]}"
  cmake --build "$build_dir" -j "$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/bmm-fuzz.XXXXXX")"
failed=""
cleanup() { if [ -z "$failed" ]; then rm -rf "$work"; fi; }
trap cleanup EXIT

# Sanitizers: stop at the first report (libFuzzer then saves the input), leaks
# included; stack traces symbolised.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"

summary=()
for t in "${targets[@]}"; do
  bin="$build_dir/fuzz/$t"
  [ -x "$bin" ] || { echo "fuzz: $bin is not built (drop --no-build)" >&2; exit 1; }
  corpus="$work/corpus/$t"
  mkdir -p "$corpus" "$work/artifacts"
  cp "$here/corpus/$t/"* "$corpus/"
  dict=()
  [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
  log="$work/$t.log"
  echo "fuzz: $t for ${seconds}s from $(ls "$corpus" | wc -l) seeds"
  rc=0
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: a blow-up;
  # -max_len: Stratum lines are at most 16 KiB, templates larger (seeds set it).
  "$bin" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/artifacts/$t-" -print_final_stats=1 "$corpus" >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|fuzz property broken' "$log"; then
    failed="$t"
    tail -60 "$log" >&2
    echo "fuzz: $t FAILED (exit $rc); full log $log; inputs that fail:" >&2
    ls -1 "$work/artifacts/"* >&2 2>/dev/null || true
    echo "fuzz: replay with: $bin <input>" >&2
    exit 1
  fi
  # libFuzzer's closing line: "#<runs><TAB>DONE   cov: N ft: N corp: N/..."
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)" || true
  fuzz_stat() { grep -E "^stat::$1:" "$log" | awk '{print $2}' || true; }
  field() { echo "$done_line" | grep -oE "$1: [0-9]+" | awk '{print $2}' || true; }
  execs="$(fuzz_stat number_of_executed_units)"
  rate="$(fuzz_stat average_exec_per_sec)"
  cov="$(field cov)"
  ft="$(field ft)"
  corp="$(field corp)"
  summary+=("$(printf '%-22s %10s execs %8s/s  cov %5s  ft %6s  corpus %5s' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")")
  if [ -n "$keep_corpus" ]; then
    mkdir -p "$keep_corpus/$t"
    cp "$corpus/"* "$keep_corpus/$t/"
  fi
done

echo "fuzz: summary (${seconds}s per target)"
printf '  %s\n' "${summary[@]}"
echo "fuzz: all ${#targets[@]} targets ran clean"
