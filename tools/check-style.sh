#!/usr/bin/env bash
# Checks the C++ code against the project's style (docs/style.md):
# clang-format (.clang-format) on every tracked C++ file (the tree was
# formatted once, at the commit in .ci/style-base), and clang-tidy
# (.clang-tidy) on the .cpp files changed since the base, reporting only
# findings on changed lines (older lines are left alone until edited).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: tools/check-style.sh [--base REV] [--build-dir DIR] [--no-tidy] [--jobs N]

Checks that clang-format would change no tracked C++ file (.cpp, .hpp, .h),
and compares the working tree with REV for the rest. Default REV: the later
of the commit in .ci/style-base and the merge base of HEAD with main (or
origin/main): on a branch, what the branch changes; on main (and in CI),
everything since .ci/style-base.
  format  clang-format would change the file or the line (fix: clang-format
          -i FILE, or git clang-format REV)
  tidy    a clang-tidy finding on a changed line of a changed .cpp file, or of
          a changed public header (through its bmm_header_check translation
          unit). Needs DIR/compile_commands.json (default DIR: build/).
Prints one "file:line: ..." per finding and exits 1 if there is any, 0 when
the changed lines are clean, 77 when there is nothing to compare (not a git
checkout, or REV not in the history: fetch it or pass --base).
USAGE
}

die() { echo "check-style: $*" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null) || {
  echo "check-style: $here is not in a git checkout: nothing to compare"; exit 77; }
base=""
build_dir="$root/build"
tidy=1
jobs=2
while [ $# -gt 0 ]; do
  case $1 in
    --base) [ $# -ge 2 ] || die "--base needs a revision"; base=$2; shift ;;
    --base=*) base=${1#*=} ;;
    --build-dir) [ $# -ge 2 ] || die "--build-dir needs a folder"; build_dir=$2; shift ;;
    --build-dir=*) build_dir=${1#*=} ;;
    --no-tidy) tidy=0 ;;
    --jobs) [ $# -ge 2 ] || die "--jobs needs a number"; jobs=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done
cd "$root"

# The default base is the later of the recorded base and the point where HEAD
# left main: a branch is checked on what it changes; main itself and a
# checkout without main on everything since the recorded base.
if [ -z "$base" ]; then
  recorded=""
  [ -s .ci/style-base ] && recorded=$(tr -d '[:space:]' < .ci/style-base)
  fork=""
  for ref in main origin/main; do
    fork=$(git merge-base HEAD "$ref" 2>/dev/null) && break
  done
  # On main itself (the fork is HEAD) the branch's changes are already in:
  # check everything since the recorded base instead, as CI does.
  [ -n "$fork" ] && [ "$fork" = "$(git rev-parse HEAD)" ] && fork=""
  if [ -n "$fork" ] && { [ -z "$recorded" ] || ! git rev-parse --quiet --verify "$recorded^{commit}" >/dev/null ||
                         git merge-base --is-ancestor "$recorded" "$fork"; }; then
    base=$fork
  else
    base=$recorded
  fi
  [ -n "$base" ] || die "no .ci/style-base and no branch main: pass --base REV"
fi
if ! git rev-parse --quiet --verify "$base^{commit}" >/dev/null; then
  echo "check-style: base $base is not in this clone's history (shallow clone?): fetch it or pass --base REV"
  exit 77
fi

for tool in clang-format git-clang-format; do
  command -v "$tool" >/dev/null || die "$tool is missing: run deploy/install-deps.sh (Debian package clang-format)"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# -- clang-format on every tracked C++ file: the tree was formatted once
# (commit in .ci/style-base), so any file clang-format would change is named.
git ls-files -z -- '*.cpp' '*.hpp' '*.h' |
  xargs -0 -r clang-format --dry-run 2> "$tmp/format-all.err" || true
{ grep -oE '^[^:]+:[0-9]+:[0-9]+: (warning|error): code should be clang-formatted' "$tmp/format-all.err" || true; } |
  awk -F: '!seen[$1]++ { print $1 ":" $2 ": format: clang-format would change this file (run clang-format -i " $1 ")" }' |
  tee "$tmp/findings"

mapfile -t files < <(git diff --name-only --diff-filter=ACMR "$base" -- '*.cpp' '*.hpp' '*.h' | sort)
if [ ${#files[@]} -eq 0 ]; then
  if [ -s "$tmp/findings" ]; then
    echo "check-style: $(wc -l < "$tmp/findings") file(s) not formatted (docs/style.md)"
    exit 1
  fi
  echo "check-style: every C++ file is formatted; no C++ file changed since ${base:0:12}"
  exit 0
fi

# Changed line numbers of every changed file, as "file line" rows (from the
# "+start,count" of each zero-context hunk).
for f in "${files[@]}"; do
  git diff -U0 --no-color "$base" -- "$f" | awk -v f="$f" '
    /^@@/ { split($3, a, ","); s = substr(a[1], 2) + 0; n = (a[2] == "") ? 1 : a[2] + 0;
            for (i = 0; i < n; i++) print f, s + i }'
done > "$tmp/changed"

findings=0

# -- clang-format on changed lines. git clang-format's diff is against the
# working tree, so its "-" lines are the current lines it would change.
git clang-format --quiet --diff --extensions cpp,hpp,h "$base" -- "${files[@]}" > "$tmp/format.diff" 2>&1 || true
if grep -q '^diff --git' "$tmp/format.diff"; then
  awk '
    /^diff --git/ { sub(/^a\//, "", $3); f = $3; next }
    /^@@/ { split($2, a, ","); line = substr(a[1], 2) + 0; reported = 0; next }
    /^(---|\+\+\+) / { next }
    /^-/ { if (!reported) { print f ":" line ": format: clang-format would change this (run git clang-format)"; reported = 1 } line++; next }
    /^\+/ { next }
    /^ / { line++; reported = 0 }
  ' "$tmp/format.diff" | tee -a "$tmp/findings"
elif [ -s "$tmp/format.diff" ] && ! grep -qiE 'no modified files|did not modify' "$tmp/format.diff"; then
  cat "$tmp/format.diff" >&2
  die "git clang-format failed (output above)"
fi

# -- clang-tidy on changed .cpp files and on the header-check units of changed
# public headers, keeping findings on changed lines only.
if [ "$tidy" -eq 1 ]; then
  command -v clang-tidy >/dev/null || die "clang-tidy is missing: run deploy/install-deps.sh (Debian package clang-tidy)"
  db="$build_dir/compile_commands.json"
  [ -f "$db" ] || die "$db is missing: configure the build first (cmake -S . -B build), or pass --no-tidy"
  units=()
  for f in "${files[@]}"; do
    case $f in
      *.cpp) grep -qF "\"$root/$f\"" "$db" && units+=("$root/$f") ;;
      */include/bmm/*.hpp|*/include/bmm/*.h)
        rel=${f#*/include/}
        rel=${rel#*/include/}
        unit=$(grep -o "\"file\": *\"[^\"]*/header_check/${rel%.*}\.cpp\"" "$db" | head -n1 |
          sed 's/^"file": *"//; s/"$//') || true
        [ -n "$unit" ] && units+=("$unit") ;;
    esac
  done
  if [ ${#units[@]} -gt 0 ]; then
    printf '%s\0' "${units[@]}" | sort -zu |
      xargs -0 -r -n 1 -P "$jobs" clang-tidy -p "$build_dir" --quiet \
        --extra-arg=-Wno-unknown-warning-option --extra-arg=-Wno-ignored-optimization-argument \
        > "$tmp/tidy.out" 2> "$tmp/tidy.err" || true
    # clang-tidy names headers as the compiler reached them (a/b/../c.hpp):
    # normalise to repository paths before matching the changed lines.
    python3 - "$root" "$tmp/changed" "$tmp/tidy.out" <<'PY' | tee -a "$tmp/findings"
import os, re, sys
root, changed_file, out_file = sys.argv[1:4]
changed = set(open(changed_file).read().splitlines())
seen = set()
for row in open(out_file, errors="replace"):
    m = re.match(r"^(/[^:]+):(\d+):\d+: (?:warning|error): (.*)$", row.rstrip("\n"))
    if not m:
        continue
    rel = os.path.relpath(os.path.normpath(m.group(1)), root)
    key = "%s %s" % (rel, m.group(2))
    if key in changed and (key, m.group(3)) not in seen:
        seen.add((key, m.group(3)))
        print("%s:%s: tidy: %s" % (rel, m.group(2), m.group(3)))
PY
    # A unit clang-tidy could not parse has no findings at all: say so.
    { grep -o 'Error while processing [^ ]*' "$tmp/tidy.err" || true; } | sed 's/^Error while processing //; s/\.$//' | sort -u |
      while IFS= read -r unit; do
        echo "${unit#"$root"/}: tidy: clang-tidy could not parse it (run: clang-tidy -p $build_dir $unit)"
      done | tee -a "$tmp/findings"
  fi
fi

if [ -s "$tmp/findings" ]; then
  n=$(wc -l < "$tmp/findings")
  echo "check-style: $n finding(s) on lines changed since ${base:0:12} (docs/style.md; fix, or git clang-format ${base:0:12})"
  exit 1
fi
echo "check-style: ${#files[@]} changed C++ file(s) since ${base:0:12}: changed lines are clean"
