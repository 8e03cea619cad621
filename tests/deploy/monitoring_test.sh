#!/usr/bin/env bash
# deploy/monitoring/: the alert rules pass `promtool check rules` and their
# unit tests (`promtool test rules`); a rule made wrong on purpose fails those
# tests (so they can fail); the Grafana dashboard is valid JSON with a query
# in every panel; and every metric the rules and the dashboard name is one
# the code exports (a renamed metric breaks this test, not a dashboard).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
command -v promtool >/dev/null || { echo "monitoring_test: promtool not found (apt-get install prometheus)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
M=deploy/monitoring

if promtool check rules "$M/bmm-alerts.yml"; then pass "promtool check rules"; else fail "promtool check rules"; fi
if (cd "$M" && promtool test rules bmm-alerts.test.yml); then pass "promtool test rules"; else fail "promtool test rules"; fi

# Negative controls: a stale-template threshold ten times too high, and a
# backlog alert that no longer needs the backlog to grow, each fail the tests.
cp "$M/bmm-alerts.test.yml" "$T/"
sed 's/bmm_stratum_template_age_seconds > 300/bmm_stratum_template_age_seconds > 3000/' "$M/bmm-alerts.yml" >"$T/bmm-alerts.yml"
if (cd "$T" && promtool test rules bmm-alerts.test.yml >/dev/null 2>&1); then
  fail "a wrong BmmTemplateStale threshold is caught"
else
  pass "a wrong BmmTemplateStale threshold is caught"
fi
sed 's/ and delta(bmm_stratum_stream_backlog_records\[10m\]) > 0//' "$M/bmm-alerts.yml" >"$T/bmm-alerts.yml"
if (cd "$T" && promtool test rules bmm-alerts.test.yml >/dev/null 2>&1); then
  fail "a BmmStreamBacklogGrowing without growth is caught"
else
  pass "a BmmStreamBacklogGrowing without growth is caught"
fi

# The dashboard: JSON, every panel but rows queries something, and it is the
# output of make_dashboard.py (edit the script, not the JSON).
if python3 - "$M/bmm-pool.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["uid"] == "bmm-pool" and d["panels"], "no panels"
for p in d["panels"]:
    if p["type"] == "row":
        continue
    assert p.get("targets") and all(t.get("expr") for t in p["targets"]), "panel without a query: " + p["title"]
print(len(d["panels"]), "panels")
PY
then pass "bmm-pool.json is a dashboard with a query in every panel"; else fail "bmm-pool.json is a dashboard with a query in every panel"; fi
cp "$M/make_dashboard.py" "$T/"
if python3 "$T/make_dashboard.py" && cmp -s "$T/bmm-pool.json" "$M/bmm-pool.json"; then
  pass "bmm-pool.json is make_dashboard.py's output"
else
  fail "bmm-pool.json is make_dashboard.py's output (run deploy/monitoring/make_dashboard.py)"
fi

# Every metric named in the rules and the dashboard exists in the code: a
# family name in a quoted string of the metrics sources.
sources=(stratum/src/metrics.cpp accounting/api/api.cpp accounting/api/ops_metrics.cpp common/src/http/prometheus.cpp)
names=$( (grep -ho 'expr: .*' "$M/bmm-alerts.yml"; grep -A3 'expr: >-' "$M/bmm-alerts.yml"; python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
for p in d["panels"]:
    for t in p.get("targets", []):
        print(t["expr"])' "$M/bmm-pool.json") | grep -oE '\b(bmm_[a-z0-9_]+|process_[a-z0-9_]+)' | sed -E 's/_(bucket|sum|count)$//' | sort -u)
n=0
for name in $names; do
  n=$((n + 1))
  if grep -q "\"$name\"" "${sources[@]}"; then :; else fail "$name (in deploy/monitoring/) is not exported by the code"; fi
done
[ "$n" -ge 30 ] && pass "$n metric names checked against the code" || fail "only $n metric names found"
# The check itself: a made-up name is reported missing.
if grep -q '"bmm_stratum_no_such_metric"' "${sources[@]}"; then fail "a made-up metric is not found"; else pass "a made-up metric is not found"; fi

echo "monitoring_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
