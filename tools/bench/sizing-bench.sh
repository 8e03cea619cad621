#!/usr/bin/env bash
# sizing-bench.sh: the figures behind docs/sizing.md, measured in one run on
# this machine, and the sizing they give for a target (default 1,000,000
# connected miners and 100,000 shares/s). A benchmark, not a test: it prints
# figures and asserts nothing about speed.
#
# Steps (each bounded in time):
#   1. the machine: cores, CPU model, open-file limit, ephemeral port range;
#      the CPU baseline: OpenSSL SHA-256 on 64-byte blocks, one process
#      (`openssl speed -seconds S -bytes 64 sha256`);
#   2. tools/bench/farm-bench.sh memory shares1k: bmm-stratum's memory and open
#      files per idle connection (TCP and TLS) and its answers per core-second;
#   3. bmm-accountd bench-ingest on a stack (PostgreSQL and Redis): the
#      stream records' XADD rate per Redis process (beside plain SET), Redis
#      memory per entry, the ingest rate of one consumer, and the WAL, rows and
#      bytes PostgreSQL writes per share, for SIZING_WORKERS distinct workers
#      (each a share every 10 s);
#   4. the sizing: every figure of docs/sizing.md's table, computed from the
#      figures above (the formulas are below, in `size`).
# Writes sizing.json (measured figures, then the sizing) in the output folder
# and prints both.
#
# Usage: tools/bench/sizing-bench.sh [--build DIR] [--out DIR] [--stack-env FILE]
#   --stack-env FILE  a running stack's stack.env (deploy/stack.sh); without it a
#                     stack is started in OUT/stack (no bcoin) and stopped after
# Environment (sizes): SIZING_CONNECTIONS (idle connections per pass, default
# 19000; SIZING_TLS_CONNECTIONS over TLS, default the same: a TLS process has ~48 MB
# more at start, so fewer connections show more bytes per connection),
# SIZING_RECORDS (bench-ingest records, default 200000),
# SIZING_WORKERS (default 100000), SIZING_SHARES_SECONDS (each shares1k pass,
# default 20), SIZING_OPENSSL_SECONDS (default 3); the target:
# SIZING_MINERS (default 1000000), SIZING_SHARES_PER_SECOND (default 100000),
# SIZING_FD_LIMIT (open files per bmm-stratum process, default the hard limit
# here), SIZING_STREAM_KEEP_SECONDS (bmm-accountd's [ingest]
# stream_keep_seconds, default 3600).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
build="$src/build"
out=""
stack_env=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$(cd "$2" && pwd)"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --stack-env) stack_env="$2"; shift 2 ;;
    -h|--help) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "sizing-bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
accountd="$build/bin/bmm-accountd"
[ -x "$accountd" ] || { echo "sizing-bench: $accountd is missing; build it: cmake --build $build --target bmm-accountd bmm-stratum bmm-bench" >&2; exit 2; }
command -v openssl > /dev/null || { echo "sizing-bench: openssl is missing (deploy/install-deps.sh)" >&2; exit 2; }
[ -n "$out" ] || out="$(mktemp -d /tmp/bmm-sizing-XXXXXX)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
log() { echo "sizing-bench: $*" >&2; }

own_stack=0
cleanup() {
  if [ "$own_stack" = 1 ]; then "$src/deploy/stack.sh" down --dir "$out/stack" > /dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# --- 1. the machine and the CPU baseline -------------------------------------
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
fd_limit=${SIZING_FD_LIMIT:-$(ulimit -Hn)}
ports=$(tr '\t' ' ' < /proc/sys/net/ipv4/ip_local_port_range)
log "machine: $(nproc) cores ($cpu_model), open files $fd_limit, ephemeral ports $ports; load average $(cut -d' ' -f1-3 /proc/loadavg)"
openssl speed -seconds "${SIZING_OPENSSL_SECONDS:-3}" -bytes 64 sha256 > "$out/openssl-speed.txt" 2> /dev/null
# The last line: "sha256   <bytes per second>k" (thousands of bytes per second).
sha256_kbps=$(awk '/^sha256 / {v=$NF} END {sub(/k$/, "", v); print v}' "$out/openssl-speed.txt")
[ -n "$sha256_kbps" ] || { log "cannot read openssl speed's figure; see $out/openssl-speed.txt"; exit 1; }
load_before=$(cut -d' ' -f1 /proc/loadavg)

# --- 2. bmm-stratum: memory per connection, answers per core -----------------
log "farm-bench memory shares1k (${SIZING_CONNECTIONS:-19000} connections over TCP, ${SIZING_TLS_CONNECTIONS:-as many} over TLS)"
conns=${SIZING_CONNECTIONS:-19000}
tls_conns=${SIZING_TLS_CONNECTIONS:-$conns}
BENCH_MEMORY_CONNECTIONS="$conns" BENCH_MEMORY_TLS_CONNECTIONS="$tls_conns" BENCH_SHARES_SECONDS="${SIZING_SHARES_SECONDS:-20}" \
  "$here/farm-bench.sh" --build "$build" --out "$out/farm" memory shares1k > "$out/farm-bench.out" 2> "$out/farm-bench.err" \
  || { tail -20 "$out/farm-bench.err" >&2; log "farm-bench failed; see $out/farm-bench.err"; exit 1; }
cat "$out/farm-bench.out" >&2

# --- 3. Redis and PostgreSQL: bench-ingest on a stack ------------------------
if [ -z "$stack_env" ]; then
  log "starting a stack in $out/stack"
  own_stack=1
  # A base port whose eleven ports (deploy/stack.sh --help) are all free.
  base=""
  for _ in $(seq 50); do
    local_base=$((22000 + (RANDOM % 900) * 11))  # below the ephemeral range
    busy=0
    for p in $(seq "$local_base" $((local_base + 10))); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2> /dev/null; then busy=1; break; fi
    done
    [ "$busy" = 0 ] && { base=$local_base; break; }
  done
  [ -n "$base" ] || { log "no eleven free ports for a stack between 22000 and 32000"; exit 1; }
  "$src/deploy/stack.sh" up --no-bcoin --dir "$out/stack" --base-port "$base" > "$out/stack.log" 2>&1 \
    || { log "the stack did not start; see $out/stack.log"; exit 1; }
  stack_env="$out/stack/stack.env"
fi
# shellcheck disable=SC1090
. "$stack_env"
cat > "$out/bench-ingest.toml" <<EOF
[postgres]
host = "$BMM_PG_HOST"
port = $BMM_PG_PORT
user = "$BMM_PG_USER"
dbname = "$BMM_PG_DB"
password = "$BMM_PG_PASSWORD"
migrations_dir = "$src/sql"

[redis]
host = "$BMM_REDIS_HOST"
port = $BMM_REDIS_PORT
password_file = "$BMM_REDIS_PASSWORD_FILE"
stream = "bmm:sizing"
group = "accountd"
consumer = "sizing"

[node]
url = "$BMM_NODE_RPC_URL"
user = "$BMM_NODE_RPC_USER"
password = "$BMM_NODE_RPC_PASSWORD"
currency = "LTC"

[log]
level = "warn"
EOF
redis_fsync=$(REDISCLI_AUTH=$(cat "$BMM_REDIS_PASSWORD_FILE") redis-cli -h "$BMM_REDIS_HOST" -p "$BMM_REDIS_PORT" config get appendfsync 2> /dev/null | tail -1 || true)
log "bench-ingest: ${SIZING_RECORDS:-200000} records, ${SIZING_WORKERS:-100000} workers (Redis appendfsync ${redis_fsync:-?})"
"$accountd" bench-ingest -n "${SIZING_RECORDS:-200000}" --workers "${SIZING_WORKERS:-100000}" \
  --json "$out/bench-ingest.json" --config "$out/bench-ingest.toml" > "$out/bench-ingest.out" 2>&1 \
  || { cat "$out/bench-ingest.out" >&2; log "bench-ingest failed"; exit 1; }
cat "$out/bench-ingest.out" >&2
# The same records in bench-ingest's classic shape (1,600 workers, every share
# at one instant: few rollup rows), to show what the rollups of many miners cost.
log "bench-ingest: the classic shape (1,600 workers at one instant)"
"$accountd" bench-ingest -n "${SIZING_RECORDS:-200000}" --json "$out/bench-ingest-classic.json" \
  --config "$out/bench-ingest.toml" > "$out/bench-ingest-classic.out" 2>&1 \
  || { cat "$out/bench-ingest-classic.out" >&2; log "bench-ingest (classic) failed"; exit 1; }
cat "$out/bench-ingest-classic.out" >&2
load_after=$(cut -d' ' -f1 /proc/loadavg)

# --- 4. the sizing -----------------------------------------------------------
python3 - "$out" "$(nproc)" "$cpu_model" "$fd_limit" "$ports" "$sha256_kbps" "$load_before" "$load_after" \
  "${redis_fsync:-unknown}" "${SIZING_MINERS:-1000000}" "${SIZING_SHARES_PER_SECOND:-100000}" \
  "${SIZING_STREAM_KEEP_SECONDS:-3600}" <<'EOF'
import json, math, sys
(out, cores, model, fd_limit, ports, sha_kbps, load0, load1, fsync, miners, sps, keep) = sys.argv[1:]
miners, sps, keep, fd_limit = int(miners), float(sps), int(keep), int(fd_limit)
memory = json.load(open(out + "/farm/memory.json"))
shares = json.load(open(out + "/farm/shares1k-saturated.summary.json"))
ingest = json.load(open(out + "/bench-ingest.json"))
classic = json.load(open(out + "/bench-ingest-classic.json"))
lo, hi = (int(p) for p in ports.split())
sha256_per_s = float(sha_kbps) * 1000 / 64  # 64-byte blocks per second, one process

measured = {
    "machine": {"cores": int(cores), "cpu": model, "open_files_limit": fd_limit,
                "ephemeral_ports": hi - lo + 1, "load_average_before": float(load0), "load_average_after": float(load1)},
    "baseline": {"openssl_sha256_64byte_blocks_per_second": sha256_per_s},
    "stratum": {"memory": memory, "shares_saturated": shares},
    "accountd": ingest,
    "accountd_classic": classic,
    "redis_appendfsync": fsync,
}

# --- the sizing, from the figures above -------------------------------------
tcp, tls = memory["tcp"], memory["tls"]
base_files = tcp["open_files_before"]
# Connections one process holds: the open-file limit less the files it has
# with no miner, at the measured files per connection, 5 % kept free.
per_process = int((fd_limit - base_files) / max(tcp["open_files_per_connection"], 1) * 0.95)
processes = math.ceil(miners / per_process)
answers_per_core = shares["answers_per_core_second"]
stratum_cores = sps / answers_per_core
r = ingest["redis"]
# One Redis process takes each entry once (XADD in the publisher's batches)
# and hands it out once (XREADGROUP + XACK): its time per entry is the sum.
redis_per_process = 1 / (1 / r["xadd_entries_per_second"] + 1 / r["xreadgroup_xack_entries_per_second"])
redis_shards = math.ceil(sps / (redis_per_process * 0.5))  # each at half its measured ceiling
redis_memory = sps * keep * r["memory_bytes_per_entry"]
ing, pg = ingest["ingest"], ingest["postgres"]
rollup_row_bytes = pg["rollup_bytes_per_share"] * ingest["records"] / pg["rollup_rows"] if pg["rollup_rows"] > 0 else 0
consumers = math.ceil(sps / ing["shares_per_second"])
sizing = {
    "target": {"miners": miners, "shares_per_second": sps, "stream_keep_seconds": keep},
    "stratum": {
        "connections_per_process": per_process, "processes": processes,
        "rss_bytes_tcp": miners * tcp["bytes_per_connection"], "rss_bytes_tls": miners * tls["bytes_per_connection"],
        "cores_for_shares": stratum_cores,
        "source_addresses_to_simulate_the_miners": math.ceil(miners / (hi - lo + 1)),
    },
    "redis": {"entries_per_second_per_process": redis_per_process, "shards_at_half_load": redis_shards,
              "memory_bytes_kept": redis_memory, "memory_bytes_per_second": sps * r["memory_bytes_per_entry"]},
    "ingest": {"shares_per_second_per_consumer": ing["shares_per_second"], "consumers": consumers},
    # Each round of the ingest sees a worker at most once when rounds are
    # shorter than a worker's 10 s between shares, as in the bench: one
    # rollup row written (inserted, or updated) per share; one row inserted
    # per worker and minute. WAL per share was measured in that regime.
    "postgres": {"share_rows_per_second": sps, "rollup_rows_inserted_per_second": miners / 60,
                 "rollup_rows_updated_per_second": max(sps - miners / 60, 0),
                 "rows_per_second": sps + miners / 60, "row_writes_per_second": 2 * sps,
                 "wal_bytes_per_second": sps * pg["wal_bytes_per_share"],
                 # the shares' rows as a fresh table holds them (heap and indexes), and one
                 # rollup row per worker and minute at the bytes a rollup row took here
                 "share_table_bytes_per_day": sps * 86400 * pg["copy_table_bytes_per_row"],
                 "rollup_table_bytes_per_day": miners * 1440 * rollup_row_bytes,
                 "copy_ceiling_rows_per_second": pg["copy_rows_per_second"]},
    "ratios": {
        "stratum_answers_per_core_over_sha256_blocks": answers_per_core / sha256_per_s,
        "redis_xadd_over_set": r["xadd_over_set"],
        "ingest_over_xreadgroup_xack": ing["over_xreadgroup_xack"],
        "ingest_over_copy": ing.get("over_copy", 0),
        "ingest_many_workers_over_classic": ing["shares_per_second"] / classic["ingest"]["shares_per_second"],
        "wal_per_share_over_copy_wal_per_row": pg["wal_bytes_per_share"] / pg["copy_wal_bytes_per_row"]
        if pg["copy_wal_bytes_per_row"] > 0 else 0,
    },
}
json.dump({"measured": measured, "sizing": sizing}, open(out + "/sizing.json", "w"), indent=1)
s = sizing
print("sizing for %d miners and %.0f shares/s (figures measured on %s cores, load average %s -> %s):"
      % (miners, sps, cores, load0, load1))
print("  bmm-stratum: %d connections per process (open files %d, %d without miners, %.2f per connection) -> %d processes;"
      " RSS %.2f GB over TCP (%.0f B/connection), %.2f GB over TLS (%.0f B/connection); shares need %.2f cores"
      " at %.0f answers/core-s (%.4f x OpenSSL SHA-256 64-byte blocks/s)"
      % (per_process, fd_limit, base_files, tcp["open_files_per_connection"], processes, s["stratum"]["rss_bytes_tcp"] / 1e9,
         tcp["bytes_per_connection"], s["stratum"]["rss_bytes_tls"] / 1e9, tls["bytes_per_connection"], stratum_cores,
         answers_per_core, s["ratios"]["stratum_answers_per_core_over_sha256_blocks"]))
print("  Redis: XADD %.0f/s (%.2f x SET), XREADGROUP+XACK %.0f/s -> %.0f entries/s per process -> %d shards at half load;"
      " %.0f B per entry -> %.1f GB kept for %d s"
      % (r["xadd_entries_per_second"], r["xadd_over_set"], r["xreadgroup_xack_entries_per_second"], redis_per_process,
         redis_shards, r["memory_bytes_per_entry"], redis_memory / 1e9, keep))
print("  ingest: %.0f shares/s per consumer (%.2f x XREADGROUP+XACK, %.2f x COPY) -> %d consumers"
      % (ing["shares_per_second"], ing["over_xreadgroup_xack"], ing.get("over_copy", 0), consumers))
p = s["postgres"]
print("  PostgreSQL: %.0f WAL bytes per share (plain COPY %.0f per row), %.0f bytes per share row, %.0f per rollup row ->"
      " %.0f rows inserted/s (%.0f row writes/s), %.1f MB/s WAL, %.2f TB/day of shares + %.2f TB/day of rollups"
      % (pg["wal_bytes_per_share"], pg["copy_wal_bytes_per_row"], pg["copy_table_bytes_per_row"], rollup_row_bytes,
         p["rows_per_second"], p["row_writes_per_second"], p["wal_bytes_per_second"] / 1e6,
         p["share_table_bytes_per_day"] / 1e12, p["rollup_table_bytes_per_day"] / 1e12))
print("sizing-bench: report in %s/sizing.json" % out)
EOF
