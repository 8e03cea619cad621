#!/usr/bin/env bash
# farm-bench.sh: bmm-stratum at farm scale, measured with tools/bmm-bench (a
# benchmark, not a test: it prints figures and asserts nothing about speed).
#
# Scenarios (run all, or name some: farm-bench.sh idle19k clean10k):
#   idle19k   19,000 idle connections on one bmm-stratum process: the server's
#             RSS growth per connection (VmRSS before and after)
#   idle50k   50,000 idle connections across three bmm-stratum processes on the
#             same port (SO_REUSEPORT, instance ids 1, 2, 3); the bench spreads
#             over three processes and source addresses 127.0.0.2..4
#   shares1k  1,000 connections submitting valid sha256d shares as fast as the
#             pool answers: answers per second and per core the server used
#             (/proc/<pid>/stat utime+stime); then at half that load, the p99
#             submit-to-answer latency
#   clean10k  10,000 connections; a new block on the node; when every miner got
#             the clean job, against when the node answered the pool's long poll
#   journalsync  [redis] journal_sync = batch, interval and none in turn (the
#             shares1k saturated and half-load passes each): what flushing the
#             journal before each answer costs in answers/s and latency
#   memory    BENCH_MEMORY_CONNECTIONS (default 19,000) idle subscribed and
#             authorised connections on one bmm-stratum process, over plain TCP
#             then over TLS (a self-signed P-256 certificate), the bench over
#             BENCH_MEMORY_PROCESSES (default 2) processes and 4 source
#             addresses (BENCH_MEMORY_TLS_CONNECTIONS: another count for TLS,
#             whose handshakes are slow on a busy machine): VmRSS and open files of the server before and after;
#             writes memory.json (docs/sizing.md)
#
# sha256d needs a Bitcoin node; none ships in Debian, so the pool's node here is
# tools/fake-node/bmm_fake_node.py, a benchmark stand-in serving a template
# made from the real block 413567. Redis is a private redis-server. Everything
# runs on loopback in a temporary folder (kept with --keep) and is stopped at
# the end; every step is bounded in time.
#
# Usage: tools/bench/farm-bench.sh [--build DIR] [--out DIR] [--keep] [scenario...]
#   --build DIR   the build folder with bin/bmm-stratum and bin/bmm-bench (default build)
#   --out DIR     where logs, configs and JSON reports go (default a new /tmp folder)
# Each shares pass also writes NAME.summary.json (answers/s, server CPU, latency).
# Environment: BENCH_THREADS (bmm-stratum loops per process, default 2),
# BENCH_SHARES_SECONDS (length of each shares run, default 20), BENCH_CLEAN_PROCESSES (bench
# processes in clean10k, default 4: the arrival times include the bench's own work).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
build="$src/build"
out=""
keep=0
scenarios=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$(cd "$2" && pwd)"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    idle19k|idle50k|shares1k|clean10k|journalsync|memory) scenarios+=("$1"); shift ;;
    *) echo "farm-bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#scenarios[@]} -gt 0 ] || scenarios=(idle19k idle50k shares1k clean10k)
stratum="$build/bin/bmm-stratum"
bench="$build/bin/bmm-bench"
for b in "$stratum" "$bench"; do
  [ -x "$b" ] || { echo "farm-bench: $b is missing; build it: cmake --build $build --target bmm-stratum bmm-bench" >&2; exit 2; }
done
command -v redis-server > /dev/null || { echo "farm-bench: redis-server is missing (deploy/install-deps.sh)" >&2; exit 2; }
[ -n "$out" ] || out="$(mktemp -d /tmp/bmm-farm-bench-XXXXXX)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
threads="${BENCH_THREADS:-2}"
shares_seconds="${BENCH_SHARES_SECONDS:-20}"

# Free loopback ports: node, Redis, Stratum, below the ephemeral range
# (32768-60999 here), where any client's connection (the bench's, another
# program's) may take a port between this pick and the server's bind. Free
# means no socket at all on the port, not only no listener.
pick_port() {
  local p
  for p in $(seq "$1" 7 "$(($1 + 1400))"); do
    if ! ss -tanH "( sport = :$p )" 2> /dev/null | grep -q .; then echo "$p"; return; fi
  done
  echo "farm-bench: no free port near $1" >&2; exit 2
}
node_port=$(pick_port 30400)
redis_port=$(pick_port 30600)
stratum_port=$(pick_port 30800)
metrics_port=$(pick_port 31000)  # instance i serves /metrics on metrics_port + i
tls_port=$(pick_port 31200)

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
    kill -9 "$p" 2> /dev/null || true
  done
  [ -f "$out/redis.pid" ] && kill "$(cat "$out/redis.pid")" 2> /dev/null || true
  if [ "$keep" = 0 ]; then rm -rf "$out/spool-"*; fi
}
trap cleanup EXIT

log() { echo "farm-bench: $*" >&2; }
now_ms() { date +%s%3N; }

# --- the node and Redis ------------------------------------------------------
python3 "$src/tools/fake-node/bmm_fake_node.py" --port "$node_port" --rpc-user bench --rpc-password bench \
  --events "$out/node-events.log" > "$out/fake-node.log" 2>&1 &
pids+=($!)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$out" \
  --logfile "$out/redis.log" --pidfile "$out/redis.pid" --daemonize yes --maxclients 1000
for _ in $(seq 100); do
  curl -s -o /dev/null --data '{"id":0,"method":"getnetworkinfo","params":[]}' -u bench:bench \
    "http://127.0.0.1:$node_port/" && break
  sleep 0.1
done

# --- bmm-stratum's configuration: written here and nowhere else --------------
# write_config FILE INSTANCE_ID THREADS
# The difficulty is pinned at 1e-10: below 2^-32 every sha256d hash meets it,
# so the bench mines each valid share with one hash (the pool still hashes it
# in full, as every share). [limits] are generous: every bench connection
# comes from a few 127.0.0.x addresses, and bans are off.
write_config() {
  cat > "$1" <<EOF
[pool]
instance_id = $2
algorithm = "sha256d"
coin = "BTC"
address = "1BenchFakeNodeAddressForFarmBench"
tag = "/BMM bench/"
extranonce2_size = 4
version_mask = "1fffe000"
threads = $3

[node]
url = "http://127.0.0.1:$node_port/"
user = "bench"
password = "bench"
rules = ["segwit"]
template_refresh_seconds = 3600
poll_seconds = 1

[redis]
host = "127.0.0.1"
port = $redis_port
stream = "bmm:farm-bench"
spool_dir = "$out/spool-$2"
journal_sync = "${journal_sync:-batch}"

[log]
level = "warn"

[limits]
max_connections = 100000
max_connections_per_ip = 100000
max_pending_requests = 100000
ban_threshold = 0
tls_handshake_timeout_seconds = 120

[metrics]
host = "127.0.0.1"
port = $((metrics_port + $2))

[[port]]
host = "127.0.0.1"
port = $stratum_port
start_difficulty = 1e-10
min_difficulty = 1e-10
max_difficulty = 1e-10
target_share_seconds = 5
retarget_seconds = 3600
EOF
  if [ -s "$out/tls.crt" ]; then
    cat >> "$1" <<EOF

[[port]]
host = "127.0.0.1"
port = $tls_port
tls = true
tls_cert = "$out/tls.crt"
tls_key = "$out/tls.key"
start_difficulty = 1e-10
min_difficulty = 1e-10
max_difficulty = 1e-10
target_share_seconds = 5
retarget_seconds = 3600
EOF
  fi
}

servers=()
# start_servers N THREADS: N bmm-stratum processes on the same port, instance ids 1..N.
start_servers() {
  servers=()
  local i
  for i in $(seq 1 "$1"); do
    write_config "$out/bmm-stratum-$i.toml" "$i" "$2"
    "$stratum" --config "$out/bmm-stratum-$i.toml" >> "$out/bmm-stratum-$i.log" 2>&1 &
    servers+=($!)
    pids+=($!)
  done
  for _ in $(seq 600); do
    local ready=0
    local listeners
    listeners=$(ss -ltnpH "sport = :$stratum_port" 2> /dev/null || true)
    for i in "${servers[@]}"; do grep -q "pid=$i," <<< "$listeners" && ready=$((ready + 1)); done
    [ "$ready" = "$1" ] && { sleep 0.5; return; }
    sleep 0.1
  done
  tail -n 3 "$out"/bmm-stratum-*.log >&2 || true
  echo "farm-bench: bmm-stratum did not start; see $out/bmm-stratum-*.log" >&2; exit 1
}
stop_servers() {
  local p
  for p in "${servers[@]}"; do kill "$p" 2> /dev/null || true; done
  for p in "${servers[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
    kill -9 "$p" 2> /dev/null || true
  done
  servers=()
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$@"; }

# wait_ready FILE SECONDS
wait_ready() {
  for _ in $(seq $(($2 * 10))); do [ -s "$1" ] && return 0; sleep 0.1; done
  return 1
}

# held_now NAME: connections held per the bench's last progress line.
held_now() {
  tail -1 "$out/$1.progress" 2> /dev/null | sed -n 's/.*connections \([0-9]*\)\/.*/\1/p'
}

# idle_run NAME CONNECTIONS SERVERS BENCH_PROCESSES SOURCES
# Each source address carries at most a few thousand connections: connect()'s
# search for a free ephemeral port gets slow (in the kernel, blocking the
# bench's loop) once one address has used most of its ~28,000 ports.
idle_run() {
  local name=$1 n=$2 ns=$3 bp=$4 sources=$5 i
  log "$name: $n idle connections on $ns bmm-stratum process(es), bench over $bp process(es)"
  start_servers "$ns" "$([ "$ns" = 1 ] && echo "$threads" || echo 1)"
  local before=() after=()
  for i in "${servers[@]}"; do before+=("$(rss_kb "$i")"); done
  rm -f "$out/$name.ready"
  local t0
  t0=$(now_ms)
  "$bench" --url "stratum+tcp://127.0.0.1:$stratum_port" --connections "$n" --ramp 5000 --processes "$bp" \
    --source-count "$sources" --mode idle --duration $((n / 1000 + 60)) --ready-file "$out/$name.ready" --json "$out/$name.json" \
    > "$out/$name.out" 2> "$out/$name.progress" &
  local bpid=$!
  pids+=("$bpid")
  if wait_ready "$out/$name.ready" $((n / 1000 + 50)); then
    echo "$name: all $n connections settled in $(( ($(now_ms) - t0) / 1000 )) s"
  else
    log "$name: the bench had not settled after $((n / 1000 + 50)) s; measuring what is held; see $out/$name.progress"
  fi
  sleep 3  # let the pool finish its per-connection work (jobs sent, buffers settled)
  for i in "${servers[@]}"; do after+=("$(rss_kb "$i")"); done
  local held
  held=$(held_now "$name")
  held=${held:-0}
  kill -TERM "$bpid" 2> /dev/null || true
  wait "$bpid" || true
  stop_servers
  local total_before=0 total_after=0
  for i in "${!before[@]}"; do
    total_before=$((total_before + before[i]))
    total_after=$((total_after + after[i]))
    echo "$name: server $((i + 1)) VmRSS ${before[i]} kB -> ${after[i]} kB"
  done
  local per=0
  [ "$held" -gt 0 ] && per=$(((total_after - total_before) * 1024 / held))
  echo "$name: held $held of $n; server RSS +$((total_after - total_before)) kB = $per bytes per connection"
  head -1 "$out/$name.out"
}

# shares_pass NAME ARGS...: one bmm-bench run of 1,000 connections in valid
# mode against server ${servers[0]}; prints its figures with the server's CPU.
shares_pass() {
  local name=$1 pid=${servers[0]} c0 c1 t0 t1
  shift
  local load0 load1 bench_cpu
  load0=$(cut -d' ' -f1 /proc/loadavg)
  c0=$(cpu_ticks "$pid"); t0=$(now_ms)
  local TIMEFORMAT='%U %S'
  bench_cpu=$( { time "$bench" --url "stratum+tcp://127.0.0.1:$stratum_port" --connections 1000 --ramp 5000 \
    --mode valid --duration "$shares_seconds" --json "$out/$name.json" "$@" > "$out/$name.out" \
    2> "$out/$name.progress" || true; } 2>&1 )
  c1=$(cpu_ticks "$pid"); t1=$(now_ms)
  load1=$(cut -d' ' -f1 /proc/loadavg)
  python3 - "$out/$name.json" "$name" "$c0" "$c1" "$(getconf CLK_TCK)" "$t0" "$t1" "$bench_cpu" "$load0" "$load1" <<'EOF2'
import json, sys
d = json.load(open(sys.argv[1]))
name, c0, c1, hz, t0, t1, bench_cpu, load0, load1 = sys.argv[2:]
cpu = (int(c1) - int(c0)) / int(hz)
wall = (int(t1) - int(t0)) / 1000
bcpu = sum(float(x) for x in bench_cpu.split())
s, l = d["shares"], d["latency_ms"]
json.dump({"answered": s["answered"], "rejected": s["rejected"], "answers_per_second": s["answers_per_second"],
           "server_cpu_seconds": cpu, "wall_seconds": wall, "server_cores": cpu / wall,
           "answers_per_core_second": s["answered"] / cpu if cpu else 0, "latency_ms": l,
           "bench_cores": bcpu / wall}, open(sys.argv[1].replace(".json", ".summary.json"), "w"))
print("%s: %d answers (%d rejected), %.0f answers/s; server CPU %.2f s over %.1f s = %.2f cores -> %.0f answers/s "
      "per core used; latency p50 %.2f p90 %.2f p99 %.2f max %.2f ms (bench CPU %.2f cores; load average %s -> %s)"
      % (name, s["answered"], s["rejected"], s["answers_per_second"], cpu, wall, cpu / wall,
         s["answered"] / cpu if cpu else 0, l["p50"], l["p90"], l["p99"], l["max"], bcpu / wall, load0, load1))
EOF2
}

# shares1k: saturation first, with every miner waiting for each answer before
# its next share (one share per write, as miners submit), and again with 16
# shares in flight per connection (pipelined: bigger batches per loop turn);
# then half the first load as a steady rate, for the latency.
shares_run() {
  log "shares1k: 1000 connections, valid sha256d shares, ${shares_seconds} s per pass"
  start_servers 1 "$threads"
  shares_pass shares1k-saturated --rate 0 --window 1
  shares_pass shares1k-pipelined --rate 0 --window 16
  local rate
  rate=$(python3 -c "import json; print(round(json.load(open('$out/shares1k-saturated.json'))['shares']['answers_per_second'] / 2 / 1000, 3))")
  log "shares1k: half load: $rate shares/s per connection"
  shares_pass shares1k-half --rate "$rate" --window 64
  stop_servers
}

clean_run() {
  local n=10000 name=clean10k
  log "$name: $n connections; a new block on the node; the clean job's arrival at every connection"
  start_servers 1 "$threads"
  rm -f "$out/$name.ready"
  "$bench" --url "stratum+tcp://127.0.0.1:$stratum_port" --connections $n --ramp 5000 --processes "${BENCH_CLEAN_PROCESSES:-4}" --mode idle \
    --duration 40 --clean-jobs-report --ready-file "$out/$name.ready" --json "$out/$name.json" \
    > "$out/$name.out" 2> "$out/$name.progress" &
  local bpid=$!
  pids+=("$bpid")
  wait_ready "$out/$name.ready" 60 || log "$name: the bench never settled; see $out/$name.progress"
  sleep 2
  local tip
  curl -s "http://127.0.0.1:$((metrics_port + 1))/metrics" > "$out/$name.metrics-before" || true
  # The server's CPU over the 5 s after the block: the clean job's cost.
  local cpu0 cpu1 cpu_quiet0 cpu_quiet1
  cpu_quiet0=$(cpu_ticks "${servers[0]}")
  sleep 5
  cpu_quiet1=$(cpu_ticks "${servers[0]}")
  cpu0=$(cpu_ticks "${servers[0]}")
  tip=$(curl -s -u bench:bench --data '{"id":1,"method":"bench_newblock","params":[]}' "http://127.0.0.1:$node_port/")
  sleep 5
  cpu1=$(cpu_ticks "${servers[0]}")
  curl -s "http://127.0.0.1:$((metrics_port + 1))/metrics" > "$out/$name.metrics-after" || true
  python3 -c 'import sys; q0, q1, c0, c1, hz, held = (int(x) for x in sys.argv[1:])
held = held or 1
job = (c1 - c0 - (q1 - q0)) / hz
print("clean10k: server CPU over the 5 s after the block %.0f ms (%.0f ms in the 5 quiet seconds before): the clean job"
      " cost %.0f ms = %.1f us per connection" % ((c1 - c0) * 1000 / hz, (q1 - q0) * 1000 / hz, job * 1000, job * 1e6 / held))' \
    "$cpu_quiet0" "$cpu_quiet1" "$cpu0" "$cpu1" "$(getconf CLK_TCK)" "$(held_now "$name")"
  kill -TERM "$bpid" 2> /dev/null || true
  wait "$bpid" || true
  stop_servers
  python3 - "$out/$name.metrics-before" "$out/$name.metrics-after" <<'EOF'
import re, sys
# The server's own side: bmm_stratum_job_broadcast_seconds observations
# (one per job and loop) between the two scrapes; the largest one's bucket.
def buckets(path):
    b = {}
    for line in open(path):
        m = re.match(r'bmm_stratum_job_broadcast_seconds_bucket\{.*le="([^"]+)".*\} (\S+)', line)
        if m: b[m.group(1)] = float(m.group(2))
    return b
try:
    before, after = buckets(sys.argv[1]), buckets(sys.argv[2])
except OSError:
    sys.exit(0)
bounds = sorted((k for k in after if k != "+Inf"), key=float)
new = after.get("+Inf", 0) - before.get("+Inf", 0)
top = next((b for b in bounds if after[b] - before.get(b, 0) >= new), "+Inf")
print("clean10k: server side: %d job broadcast(s) by the loops, the slowest under %s ms"
      % (new, "inf" if top == "+Inf" else "%g" % (float(top) * 1000)))
EOF
  python3 - "$out/$name.json" "$out/node-events.log" "$tip" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
tip = json.loads(sys.argv[3])["result"]
answered = [json.loads(l) for l in open(sys.argv[2]) if '"longpoll_answered"' in l]
answered = [e for e in answered if e["prevhash"] == tip["prevhash"]]
jobs = [j for j in report["clean_jobs"] if j["prevhash"] == tip["prevhash"]]
if not answered or not jobs:
    print("clean10k: no measurement (long poll answered: %d, clean jobs seen: %d)" % (len(answered), len(jobs)))
    sys.exit(0)
a = answered[0]["unix_ms"]
j = jobs[0]
print("clean10k: block at height %d; node finished the long-poll answer at %.1f; %d of %d held connections got the "
      "clean job: first +%.1f ms, p50 +%.1f ms, p99 +%.1f ms, last +%.1f ms after it"
      % (tip["height"], a, j["connections"], report["connections"]["held"], j["first_unix_ms"] - a,
         j["p50_unix_ms"] - a, j["p99_unix_ms"] - a, j["last_unix_ms"] - a))
EOF
}

# journalsync: the same load under each [redis] journal_sync mode, each on a
# fresh spool folder, the saturated pass then a fixed steady rate (the same for
# every mode, so that latencies compare).
journal_sync_run() {
  local mode
  for mode in batch interval none; do
    log "journalsync: journal_sync = $mode"
    journal_sync=$mode
    rm -rf "$out/spool-1"
    start_servers 1 "$threads"
    shares_pass "journalsync-$mode-saturated" --rate 0 --window 1
    shares_pass "journalsync-$mode-steady" --rate "${BENCH_SYNC_RATE:-2}" --window 64
    stop_servers
  done
  journal_sync=batch
}

fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2> /dev/null | wc -l; }
# The kernel's side, machine-wide (other programs move it too: a rough figure;
# both ends of every loopback connection are sockets of this kernel).
slab_kb() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
tcp_mem_pages() { awk '/^TCP:/ {for (i = 1; i < NF; i++) if ($i == "mem") print $(i + 1)}' /proc/net/sockstat; }

# memory_pass NAME URL N PROCESSES RAMP: N idle connections (subscribed and
# authorised) to server ${servers[0]} at URL, RAMP new ones a second; prints
# one JSON object.
memory_pass() {
  local name=$1 url=$2 n=$3 bp=$4 ramp=$5 pid=${servers[0]}
  local rss0 rss1 fd0 fd1 slab0 slab1 tcpmem0 tcpmem1 held t0 settled=true
  sleep 1
  rss0=$(rss_kb "$pid"); fd0=$(fd_count "$pid"); slab0=$(slab_kb); tcpmem0=$(tcp_mem_pages)
  rm -f "$out/$name.ready"
  t0=$(now_ms)
  "$bench" --url "$url" --insecure --connections "$n" --ramp "$ramp" --processes "$bp" --source-count 4 --mode idle \
    --duration $((n / ramp + 120)) --ready-file "$out/$name.ready" --json "$out/$name.json" \
    > "$out/$name.out" 2> "$out/$name.progress" &
  local bpid=$!
  pids+=("$bpid")
  wait_ready "$out/$name.ready" $((n / ramp + 60)) || { settled=false; log "$name: not settled; measuring what is held"; }
  local settle_ms=$(($(now_ms) - t0))
  sleep 3  # the pool's per-connection work done (jobs sent, buffers settled)
  rss1=$(rss_kb "$pid"); fd1=$(fd_count "$pid"); slab1=$(slab_kb); tcpmem1=$(tcp_mem_pages)
  held=$(held_now "$name"); held=${held:-0}
  kill -TERM "$bpid" 2> /dev/null || true
  wait "$bpid" || true
  # Per connection the server holds (its open files beyond those it had), so
  # that a connection the bench counts but the server has closed, or the
  # reverse, does not skew the figure.
  python3 -c 'import json,sys; n,held,r0,r1,f0,f1,ms,ok,ramp=sys.argv[1:10]; held=int(held); server=int(f1)-int(f0)
print(json.dumps({"connections": int(n), "held": held, "server_held": server, "settled": ok == "true",
  "settle_ms": int(ms), "ramp": int(ramp),
  "rss_kb_before": int(r0), "rss_kb_after": int(r1), "open_files_before": int(f0), "open_files_after": int(f1),
  "bytes_per_connection": (int(r1) - int(r0)) * 1024 / server if server > 0 else 0,
  "open_files_per_connection": (int(f1) - int(f0)) / held if held else 0,
  "failed": json.load(open(sys.argv[10]))["connections"]["failed"],
  "kernel_slab_kb_before": int(sys.argv[11]), "kernel_slab_kb_after": int(sys.argv[12]),
  "kernel_tcp_mem_pages_before": int(sys.argv[13]), "kernel_tcp_mem_pages_after": int(sys.argv[14]),
  "kernel_slab_bytes_per_socket": (int(sys.argv[12]) - int(sys.argv[11])) * 1024 / (2 * server) if server > 0 else 0}))' \
    "$n" "$held" "$rss0" "$rss1" "$fd0" "$fd1" "$settle_ms" "$settled" "$ramp" "$out/$name.json" \
    "$slab0" "$slab1" "$tcpmem0" "$tcpmem1"
}

# memory: plain TCP then TLS, each on a freshly started server.
memory_run() {
  local n=${BENCH_MEMORY_CONNECTIONS:-19000} bp=${BENCH_MEMORY_PROCESSES:-2} tcp tls
  [ -s "$out/tls.crt" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$out/tls.key" -out "$out/tls.crt" -subj /CN=farm-bench -days 2 2> /dev/null
  log "memory: $n idle connections over TCP, then over TLS, one bmm-stratum ($threads loops)"
  start_servers 1 "$threads"
  tcp=$(memory_pass memory-tcp "stratum+tcp://127.0.0.1:$stratum_port" "$n" "$bp" 2000)
  stop_servers
  start_servers 1 "$threads"
  # TLS handshakes (both ends on these cores) are slower: a gentler ramp, so
  # that none outlasts the pool's tls_handshake_timeout_seconds.
  tls=$(memory_pass memory-tls "stratum+ssl://127.0.0.1:$tls_port" "${BENCH_MEMORY_TLS_CONNECTIONS:-$n}" "$bp" 500)
  stop_servers
  printf '{"threads": %s, "tcp": %s, "tls": %s}\n' "$threads" "$tcp" "$tls" > "$out/memory.json"
  python3 - "$out/memory.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("tcp", "tls"):
    m = d[k]
    print("memory-%s: held %d of %d in %.1f s; VmRSS %d -> %d kB = %.0f bytes per connection; open files %d -> %d;"
          " kernel slab ~%.0f bytes per socket (machine-wide)%s"
          % (k, m["held"], m["connections"], m["settle_ms"] / 1000, m["rss_kb_before"], m["rss_kb_after"],
             m["bytes_per_connection"], m["open_files_before"], m["open_files_after"], m["kernel_slab_bytes_per_socket"],
             ("" if m["failed"] == 0 else "; %d FAILED: the figure includes their half-made sessions" % m["failed"])
             + ("" if m["settled"] else "; NOT SETTLED: sessions still in their handshake count in the figure")))
EOF
}

echo "farm-bench: $(nproc) cores, open-file limit $(ulimit -Hn), ports $(cat /proc/sys/net/ipv4/ip_local_port_range | tr '\t' -); logs in $out"
for s in "${scenarios[@]}"; do
  case "$s" in
    idle19k) idle_run idle19k 19000 1 2 4 ;;
    idle50k) idle_run idle50k 50000 3 3 12 ;;
    shares1k) shares_run ;;
    clean10k) clean_run ;;
    journalsync) journal_sync_run ;;
    memory) memory_run ;;
  esac
done
