#!/usr/bin/env bash
# The systemd units in deploy/systemd/: each passes `systemd-analyze verify`
# (with ExecStart pointed at this build's programs, which must exist), and
# each service's exposure by `systemd-analyze security --offline` stays at or
# below 2.5 ("OK"). A unit with a mistake (an unknown setting) is caught the
# same way, so the check can fail. Also checks the logrotate file's syntax.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIN_DIR=${BMM_BIN_DIR:-build/bin}
BIN_DIR=$(cd "$BIN_DIR" && pwd)
command -v systemd-analyze >/dev/null || { echo "systemd_test: systemd-analyze not found (apt-get install systemd)"; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# verify FILE...: exit 0 and not a word about our units.
verify() {
  local out
  out=$(systemd-analyze verify --man=no "$@" 2>&1) || { echo "$out"; return 1; }
  if grep -q "$T" <<<"$out"; then echo "$out"; return 1; fi
  return 0
}

# A template (name@.service) is checked as an instance of it: bmm-stratum@ltc.
units=()
for f in deploy/systemd/*.service deploy/systemd/*.timer; do
  [ -e "$f" ] || continue
  name=$(basename "$f")
  name=${name/@./@ltc.}
  sed "s|/usr/local/bin/|$BIN_DIR/|g" "$f" >"$T/$name"
  units+=("$T/$name")
done
[ "${#units[@]}" -ge 2 ] || { echo "systemd_test: no units found in deploy/systemd"; exit 1; }

for u in "${units[@]}"; do
  if verify "$u"; then pass "systemd-analyze verify $(basename "$u")"; else fail "systemd-analyze verify $(basename "$u")"; fi
done

for u in "${units[@]}"; do
  case $u in *.service) ;; *) continue ;; esac
  grep -q '^Type=oneshot' "$u" && continue
  level=$(systemd-analyze security --offline=yes "$u" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  if [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 2.5) }'; then
    pass "$(basename "$u") exposure $level <= 2.5"
  else
    fail "$(basename "$u") exposure '${level:-none}' (want <= 2.5)"
  fi
  grep -q '^Restart=on-failure' "$u" && pass "$(basename "$u") restarts on failure" || fail "$(basename "$u") restarts on failure"
  grep -q '^User=bmm' "$u" && pass "$(basename "$u") runs as bmm" || fail "$(basename "$u") runs as bmm"
  grep -q '^LimitNOFILE=[0-9]' "$u" && pass "$(basename "$u") sets LimitNOFILE" || fail "$(basename "$u") sets LimitNOFILE"
done

# The payout timer: it triggers a unit that exists here, which only runs
# reconcile (plan, approve and execute stay with a person).
for t in deploy/systemd/*.timer; do
  [ -e "$t" ] || continue
  svc=$(sed -n 's/^Unit=//p' "$t")
  [ -n "$svc" ] || svc=$(basename "$t" .timer).service
  if [ -e "deploy/systemd/$svc" ] && verify "$T/$(basename "$t")" "$T/$svc"; then
    pass "$(basename "$t") triggers $svc, and both verify together"
  else
    fail "$(basename "$t") triggers $svc, and both verify together"
  fi
  grep -q '^OnUnitActiveSec=\|^OnCalendar=' "$t" && pass "$(basename "$t") runs on a schedule" || fail "$(basename "$t") runs on a schedule"
done
if grep -q '^ExecStart=/usr/local/bin/bmm-payout reconcile ' deploy/systemd/bmm-payout-reconcile.service &&
  ! grep -Eq 'bmm-payout (plan|approve|execute|settle)' deploy/systemd/bmm-payout-reconcile.service; then
  pass "bmm-payout-reconcile.service runs reconcile only"
else
  fail "bmm-payout-reconcile.service runs reconcile only"
fi

# LimitNOFILE is sized for the connection target: every miner is a
# descriptor, and bmm-stratum keeps 64 for Redis, the node, logs and loops
# (stratum/src/app.cpp), so the limit must be at least [limits]
# max_connections + 64 for every production example in deploy/config/.
nofile=$(sed -n 's/^LimitNOFILE=//p' deploy/systemd/bmm-stratum@.service)
for cfg in deploy/config/bmm-stratum-*net.toml; do
  [ -e "$cfg" ] || continue
  maxc=$(sed -n 's/^max_connections *= *\([0-9]*\).*/\1/p' "$cfg" | head -1)
  maxc=${maxc:-100000}  # the default
  if [ "$nofile" -ge $((maxc + 64)) ]; then
    pass "LimitNOFILE=$nofile holds $(basename "$cfg")'s max_connections $maxc + 64"
  else
    fail "LimitNOFILE=$nofile is below $(basename "$cfg")'s max_connections $maxc + 64"
  fi
done

# bmm-stratum@.service: each instance (bmm-stratum@ltc, bmm-stratum@btc) has
# its own config and its own state folder, so two never share a journal.
u=deploy/systemd/bmm-stratum@.service
if grep -q '^ExecStart=.* --config /etc/bmm/bmm-stratum-%i\.toml$' "$u" && grep -q '^StateDirectory=bmm/stratum-%i$' "$u"; then
  pass "bmm-stratum@.service: config /etc/bmm/bmm-stratum-%i.toml, state folder /var/lib/bmm/stratum-%i"
else
  fail "bmm-stratum@.service: config /etc/bmm/bmm-stratum-%i.toml, state folder /var/lib/bmm/stratum-%i"
fi
# And every production example's spool folder is the state folder of the
# instance its coin names (bmm-stratum-ltc-*.toml -> bmm-stratum@ltc).
for cfg in deploy/config/bmm-stratum-*-*net.toml; do
  coin=$(basename "$cfg" | cut -d- -f3)
  if grep -q "^spool_dir = \"/var/lib/bmm/stratum-$coin/spool\"" "$cfg"; then
    pass "$(basename "$cfg"): spool in /var/lib/bmm/stratum-$coin (bmm-stratum@$coin)"
  else
    fail "$(basename "$cfg"): spool in /var/lib/bmm/stratum-$coin (bmm-stratum@$coin)"
  fi
done

# The cluster's drop-ins (deploy/cluster/systemd/UNIT.d/) load on their unit
# without a word: the unit found by name on a unit path holding both, as
# systemd finds them in /etc/systemd/system (a template's drop-in serves
# every instance: checked on bmm-stratum@btc).
mkdir -p "$T/unitpath"
for d in deploy/cluster/systemd/*.service.d; do
  [ -d "$d" ] || continue
  unit=$(basename "$d" .d)
  sed "s|/usr/local/bin/|$BIN_DIR/|g" "deploy/systemd/$unit" >"$T/unitpath/$unit"
  mkdir -p "$T/unitpath/$unit.d"
  cp "$d"/*.conf "$T/unitpath/$unit.d/"
  name=${unit/@./@btc.}
  if [ -e "deploy/systemd/$unit" ] && SYSTEMD_UNIT_PATH="$T/unitpath:" verify "$name"; then
    pass "$name with its cluster drop-in ($d)"
  else
    fail "$name with its cluster drop-in ($d)"
  fi
  grep -q '^EnvironmentFile=/etc/bmm/bmm.env$' "$d"/*.conf && pass "$d gives the unit /etc/bmm/bmm.env" ||
    fail "$d gives the unit /etc/bmm/bmm.env"
  # Negative control: a mistake in the drop-in is named.
  echo "Restrat=on-failure" >>"$T/unitpath/$unit.d/$(basename "$(ls "$d"/*.conf | head -1)")"
  if SYSTEMD_UNIT_PATH="$T/unitpath:" verify "$name" >/dev/null; then
    fail "a mistake in $name's drop-in is refused"
  else
    pass "a mistake in $name's drop-in is refused"
  fi
done

# The negative control: the same check must refuse a unit with a typo.
bad=$T/bmm-broken.service
sed 's/^Restart=on-failure/Restrat=on-failure/' "${units[0]}" >"$bad"
if verify "$bad" >/dev/null; then fail "a unit with an unknown setting is refused"; else pass "a unit with an unknown setting is refused"; fi
rm -f "$bad"

if command -v logrotate >/dev/null; then
  state=$T/logrotate.state
  # The user bmm exists on a pool host, not here: check the rest as root's.
  sed 's/create 0640 bmm bmm/create 0640 root root/' deploy/systemd/bmm.logrotate >"$T/bmm.logrotate"
  if logrotate -d -s "$state" "$T/bmm.logrotate" >"$T/lr.out" 2>&1 && ! grep -qi 'error' "$T/lr.out"; then
    pass "logrotate -d accepts deploy/systemd/bmm.logrotate"
  else
    cat "$T/lr.out"
    fail "logrotate -d accepts deploy/systemd/bmm.logrotate"
  fi
fi

echo "systemd_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
