#!/usr/bin/env python3
"""migrations_test: sql/ stays numbered without gaps from here on.

Every file in sql/ ending in .sql must be named NNNN_what.sql (what: lower-case
snake_case), no number may appear twice, and the numbers must run from 0001 to
the highest one with no gap except the historic ones listed in
k_historic_gaps (sql/README.md says why they exist). Those must stay empty: a
migration numbered into one of them would run after later ones on every
database already migrated past it.

Before reading sql/ the check runs on a few made-up folders, so a rule that
cannot fail fails the test.

Usage: migrations_test.py [SQL_DIR]   (default: sql/ of this checkout)
"""

import os
import re
import sys

# Numbers never used (sql/README.md, "The historic gaps"). Never add to this:
# a new migration takes the number after the highest one.
k_historic_gaps = {4, 10, 11}
k_name = re.compile(r"^(\d{4})_[a-z0-9]+(?:_[a-z0-9]+)*\.sql$")


def problems_in(names):
    """What is wrong with a folder holding these file names (empty: nothing)."""
    out = []
    numbers = {}
    for n in sorted(names):
        if not n.endswith(".sql"):
            continue
        m = k_name.match(n)
        if not m:
            out.append("%s: name it NNNN_what.sql (four digits, lower-case snake_case), e.g. 0015_payouts.sql" % n)
            continue
        v = int(m.group(1))
        if v in numbers:
            out.append("%s and %s have the same number: give the newer one the next free number" % (numbers[v], n))
        numbers.setdefault(v, n)
    if not numbers:
        out.append("no NNNN_what.sql files: is this the sql/ folder?")
        return out
    top = max(numbers)
    for v in sorted(k_historic_gaps & set(numbers)):
        out.append("%s fills historic gap %04d: migrations already past it would run it out of order; "
                   "renumber it %04d" % (numbers[v], v, top + 1))
    for v in range(1, top + 1):
        if v not in numbers and v not in k_historic_gaps:
            later = min(x for x in numbers if x > v)
            out.append("%04d is missing before %s: number migrations without gaps (renumber %s to %04d)" %
                       (v, numbers[later], numbers[later], v))
    return out


def self_check():
    cases = {
        "consecutive": (["0001_a.sql", "0002_b.sql", "0003_c.sql", "0005_d.sql", "0006_e.sql", "0007_f.sql",
                         "0008_g.sql", "0009_h.sql", "0012_i.sql", "0013_j.sql", "README.md"], False),
        "new gap": (["0001_a.sql", "0002_b.sql", "0003_c.sql", "0005_d.sql", "0006_e.sql", "0007_f.sql",
                     "0008_g.sql", "0009_h.sql", "0012_i.sql", "0013_j.sql", "0015_k.sql"], True),
        "historic gap filled": (["0001_a.sql", "0002_b.sql", "0003_c.sql", "0004_late.sql", "0005_d.sql"], True),
        "same number": (["0001_a.sql", "0002_b.sql", "0002_c.sql", "0003_d.sql"], True),
        "bad name": (["0001_a.sql", "2_b.sql"], True),
        "upper case": (["0001_a.sql", "0002_Payouts.sql"], True),
    }
    out = []
    for what, (names, bad) in cases.items():
        if bool(problems_in(names)) != bad:
            out.append("self-check '%s': expected %s, got %s" % (what, "problems" if bad else "none",
                                                                  problems_in(names) or "none"))
    return out


def main():
    sql_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                  "..", "..", "sql")
    try:
        names = os.listdir(sql_dir)
    except OSError as e:
        print("migrations_test: cannot list %s: %s (pass the sql/ folder)" % (sql_dir, e))
        return 1
    problems = self_check() + problems_in(names)
    for p in problems:
        print("migrations_test: " + p)
    if problems:
        return 1
    print("migrations_test: %d migrations, numbered without gaps but the historic %s" %
          (len([n for n in names if n.endswith(".sql")]), ", ".join("%04d" % g for g in sorted(k_historic_gaps))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
