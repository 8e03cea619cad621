#!/usr/bin/env bash
# tools/bench/sizing-bench.sh (and what it runs: farm-bench.sh's memory and
# shares1k scenarios, bmm-accountd bench-ingest --workers --json) produces a
# well-formed report on a small run against the real bmm-stratum, PostgreSQL
# and Redis: every figure present and of the right kind, the connections all
# held, every record stored once, and the sizing computed from the measured
# figures by its documented formulas. Timings are not judged (no speed is
# asserted); only that they are positive numbers.
# Usage: sizing_bench_test.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
build="${1:?usage: sizing_bench_test.sh BUILD_DIR}"
T=$(mktemp -d /tmp/bmm-sizing-test-XXXXXX)
trap 'rm -rf "$T"' EXIT

# Bad arguments: a clear message and exit 2, nothing run.
set +e
msg=$(tools/bench/sizing-bench.sh --bogus 2>&1)
code=$?
set -e
[ "$code" = 2 ] || { echo "FAIL: an unknown argument exits $code, not 2: $msg"; exit 1; }
grep -q "unknown argument '--bogus'" <<< "$msg" || { echo "FAIL: the message does not name the argument: $msg"; exit 1; }
echo "PASS: an unknown argument is refused"

SIZING_CONNECTIONS=300 SIZING_RECORDS=3000 SIZING_WORKERS=1000 SIZING_SHARES_SECONDS=2 SIZING_OPENSSL_SECONDS=1 \
  tools/bench/sizing-bench.sh --build "$build" --out "$T/out" > "$T/stdout" 2> "$T/stderr" \
  || { echo "FAIL: sizing-bench exited non-zero"; tail -40 "$T/stderr"; exit 1; }
cat "$T/stdout"
grep -q "^sizing for 1000000 miners and 100000 shares/s" "$T/stdout" || { echo "FAIL: no summary line"; exit 1; }

python3 - "$T/out/sizing.json" <<'EOF'
import json, math, sys
d = json.load(open(sys.argv[1]))
m, s = d["measured"], d["sizing"]
failed = []
def check(cond, what):
    print(("PASS: " if cond else "FAIL: ") + what)
    if not cond:
        failed.append(what)
def positive(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0

check(m["machine"]["cores"] >= 1 and m["machine"]["open_files_limit"] > 0, "machine described")
check(positive(m["baseline"]["openssl_sha256_64byte_blocks_per_second"]), "OpenSSL baseline measured")
for k in ("tcp", "tls"):
    mem = m["stratum"]["memory"][k]
    check(mem["connections"] == 300 and mem["held"] == 300 and mem["failed"] == 0, k + ": all 300 connections held")
    check(mem["open_files_after"] - mem["open_files_before"] == 300, k + ": one open file per connection")
    check(mem["rss_kb_after"] >= mem["rss_kb_before"] > 0, k + ": VmRSS read before and after")
    check(mem["server_held"] == 300 and mem["settled"] is True, k + ": the server holds all 300, settled")
    check(abs(mem["bytes_per_connection"] - (mem["rss_kb_after"] - mem["rss_kb_before"]) * 1024 / 300) < 1,
          k + ": bytes per connection = RSS growth / held")
sh = m["stratum"]["shares_saturated"]
check(sh["answered"] > 0 and positive(sh["answers_per_core_second"]), "shares answered, per core-second")
a = m["accountd"]
check(a["records"] == 3000 and a["workers"] == 1000 and a["spread_in_time"] is True, "bench-ingest's shape")
check(a["ingest"]["rows_stored"] == 3000, "every record stored once")
for k in ("xadd_entries_per_second", "set_baseline_per_second", "xadd_over_set", "memory_bytes_per_entry",
          "field_bytes_per_entry", "xreadgroup_xack_entries_per_second"):
    check(positive(a["redis"][k]), "redis." + k + " is a positive number")
check(positive(a["ingest"]["shares_per_second"]) and positive(a["ingest"]["over_copy"]), "ingest rate and ratio")
pg = a["postgres"]
check(positive(pg["wal_bytes_per_share"]) and positive(pg["copy_wal_bytes_per_row"]), "WAL per share and per COPY row")
check(positive(pg["copy_table_bytes_per_row"]), "bytes per row of the fresh COPY table")
check(pg["rollup_rows"] > 0 and abs(pg["rows_per_share"] - (1 + pg["rollup_rows"] / 3000)) < 1e-9,
      "rows per share = 1 share + its rollup rows")
check(pg["accounts_made"] == 125, "1000 workers are 125 accounts of 8")
c = m["accountd_classic"]
check(c["workers"] == 1600 and c["spread_in_time"] is False and c["ingest"]["rows_stored"] == 3000,
      "the classic bench-ingest ran: 1600 workers at one instant, every record stored")
check(positive(s["ratios"]["ingest_many_workers_over_classic"]), "many workers against the classic shape")

st = s["stratum"]
check(st["processes"] == math.ceil(1000000 / st["connections_per_process"]), "processes = miners / per process")
check(0 < st["connections_per_process"] < m["machine"]["open_files_limit"], "per process under the file limit")
check(abs(s["redis"]["entries_per_second_per_process"] - 1 / (1 / a["redis"]["xadd_entries_per_second"]
      + 1 / a["redis"]["xreadgroup_xack_entries_per_second"])) < 1e-6, "Redis per process from XADD and XREADGROUP")
check(s["redis"]["shards_at_half_load"] >= 1 and s["ingest"]["consumers"] >= 1, "shards and consumers counted")
check(s["ingest"]["consumers"] == math.ceil(100000 / a["ingest"]["shares_per_second"]), "consumers = target / rate")
check(abs(s["postgres"]["wal_bytes_per_second"] - 100000 * pg["wal_bytes_per_share"]) < 1e-3, "WAL rate = target x per share")
sys.exit(1 if failed else 0)
EOF
echo "sizing_bench_test: all passed"
