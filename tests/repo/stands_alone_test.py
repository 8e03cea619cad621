#!/usr/bin/env python3
"""stands_alone_test: no tracked file may read a path outside the checkout.

A user clones this repository and nothing else, so every build, test, bench,
tool and document must point only inside it. This test reads every tracked
file (git ls-files; without git, every file under the root except build
folders and .git) and fails, naming file:line, on:

  - the old briefing folder beside the checkout (dot-dot, slash, "shared")
    and the environment variable that used to point there;
  - absolute paths into a developer's machine (the top-level work tree or a
    home folder);
  - a run of ".." path components that climbs above the repository's root
    from the file's own folder (a script at tools/x/y.sh may climb two);
  - a ".." right after a variable naming the root of the source or build
    tree (CMake's CMAKE_SOURCE_DIR and friends, BMM_SOURCE_DIR).

The patterns are assembled from pieces so that this file does not match
itself. Before scanning it checks that each rule flags a bad line and passes
a good one, so a rule that cannot fail fails the test.

Usage: stands_alone_test.py [REPO_ROOT]   (default: two folders up from here)
"""

import os
import re
import subprocess
import sys

DOT2 = "." + "."
BRIEFING = DOT2 + "/" + "shared"
OLD_VAR = "BMM_" + "SHARED_DIR"
# An absolute path into a developer's machine: the top-level work tree or a
# home folder as the path's first component.
ABSOLUTE = re.compile(r"(?<![\w.~$}-])/(?:" + "wo" + "rk" + "|" + "ho" + "me" + r")(?=/|\b)")
# One ".." path component: not part of "..." and not glued to a name.
DOTDOT = r"(?<![.\w])\.\.(?![.\w])"
# Separators between components: a slash, or the quotes and comma/slash of
# os.path.join("..", "..") or path / ".." / "x".
SEP = r"""(?:\s*/\s*|["']\s*[,/]\s*["']|["']\s*/\s*|\s*/\s*["'])"""
RUN = re.compile(DOTDOT + r"(?:" + SEP + DOTDOT + r")*")
ROOT_VARS = ["CMAKE_SOURCE_DIR", "PROJECT_SOURCE_DIR", "CMAKE_BINARY_DIR", "PROJECT_BINARY_DIR", "BMM_SOURCE_DIR",
             "BMM_BIN_DIR"]
ROOT_CLIMB = re.compile(r"(?:" + "|".join(ROOT_VARS) + r")[}\"')\s]*(?:/|,\s*[\"']|/\s*[\"'])\s*" + DOTDOT)

SKIP_DIRS = {".git", "build"}


def findings_in_line(path, line):
    """The reasons this line of `path` (relative to the root) leaves the checkout."""
    out = []
    if BRIEFING in line:
        out.append("reads the briefing folder beside the checkout (%s)" % BRIEFING)
    if OLD_VAR in line:
        out.append("uses %s (the vectors are in tests/vectors/)" % OLD_VAR)
    m = ABSOLUTE.search(line)
    if m:
        out.append("absolute path %s... into a developer's machine" % line[m.start():m.start() + 12])
    if ROOT_CLIMB.search(line):
        out.append("climbs out of the source or build root")
    depth = len(os.path.dirname(path).split("/")) if os.path.dirname(path) else 0
    for m in RUN.finditer(line):
        climbs = len(re.findall(DOTDOT, m.group(0)))
        if climbs > depth:
            out.append("%d parent steps from %s climb above the repository root" %
                       (climbs, os.path.dirname(path) or "the root"))
            break
    return out


def self_check():
    """Each rule flags a bad line and passes a good one; returns the failures."""
    bad = [
        ("CMakeLists.txt", 'set(X "${CMAKE_SOURCE_DIR}/' + BRIEFING + '")'),
        ("tests/support/x.hpp", 'std::getenv("' + OLD_VAR + '")'),
        ("deploy/x.sh", "cp /" + "work/vectors/a.raw ."),
        ("tools/fake-node/x.py", 'os.path.join(here, "' + DOT2 + '", "' + DOT2 + '", "' + DOT2 + '", "data")'),
        ("tools/bench/x.sh", 'src="$(cd "$here/' + DOT2 + '/' + DOT2 + '/' + DOT2 + '" && pwd)"'),
        ("cmake/x.cmake", "set(D ${CMAKE_SOURCE_DIR}/" + DOT2 + "/data)"),
        ("tests/x.hpp", 'std::filesystem::path(BMM_SOURCE_DIR) / "' + DOT2 + '" / "data"'),
        ("README.md", "see [the notes](" + DOT2 + "/notes.md)"),
    ]
    good = [
        ("tests/common/verifier/x.cpp", '#include "' + DOT2 + "/" + DOT2 + '/support/vectors.hpp"'),
        ("tests/deploy/x.sh", 'REPO_ROOT=$(cd "$(dirname "$0")/' + DOT2 + "/" + DOT2 + '" && pwd)'),
        ("tools/fake-node/x.py", 'os.path.join(here, "' + DOT2 + '", "' + DOT2 + '", "tests")'),
        ("README.md", "Wait for it" + DOT2 + ". then the std::shared_ptr and /tmp/x, a share/work ratio."),
        ("common/src/x.cpp", "for (auto i = 0; i < n; ++i) {}  // [a" + DOT2 + "b) and x" + DOT2 + "."),
    ]
    failures = []
    for path, line in bad:
        if not findings_in_line(path, line):
            failures.append("self-check: not flagged: %s: %s" % (path, line))
    for path, line in good:
        f = findings_in_line(path, line)
        if f:
            failures.append("self-check: flagged a good line: %s: %s (%s)" % (path, line, "; ".join(f)))
    return failures


def tracked_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], check=True, capture_output=True).stdout
        return [p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, names in os.walk(root):
            dirs[:] = [x for x in dirs if x not in SKIP_DIRS and not x.startswith("build")]
            files += [os.path.relpath(os.path.join(d, n), root) for n in names]
        return files


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(os.path.abspath(__file__)), DOT2, DOT2))
    problems = self_check()
    files = tracked_files(root)
    if not files:
        problems.append("no files found under %s: pass the repository's root" % root)
    scanned = 0
    for rel in files:
        full = os.path.join(root, rel)
        try:
            with open(full, "rb") as f:
                data = f.read()
        except OSError:
            continue  # tracked but deleted in the working tree: nothing to read
        if b"\0" in data:
            continue  # binary (a raw block): no paths in it
        scanned += 1
        for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            for why in findings_in_line(rel, line):
                problems.append("%s:%d: %s" % (rel, n, why))
    for p in problems:
        print(p)
    if problems:
        print("stands_alone_test: %d finding(s); every path must stay inside the checkout "
              "(chain data: tests/vectors/, documents: docs/)" % len(problems))
        return 1
    print("stands_alone_test: %d tracked text files read, none leaves the checkout" % scanned)
    return 0


if __name__ == "__main__":
    sys.exit(main())
