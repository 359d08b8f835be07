#!/usr/bin/env python3
"""Replaces the text between <!-- bench:NAME:start --> and <!-- bench:NAME:end --> in a page of
measured figures (docs/PERFORMANCE.md unless a third argument names another).

    scripts/update-doc-section.py NAME BODY [PAGE]
"""
import sys

name, body = sys.argv[1], sys.argv[2]
page = sys.argv[3] if len(sys.argv) > 3 else "docs/PERFORMANCE.md"
start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
text = open(page).read()
if start not in text or end not in text:
    sys.exit(f"{page} lacks the markers {start} ... {end}")
head, rest = text.split(start, 1)
_, tail = rest.split(end, 1)
open(page, "w").write(head + start + "\n" + body + "\n" + end + tail)
print(f"{page}: {name} figures updated", file=sys.stderr)
