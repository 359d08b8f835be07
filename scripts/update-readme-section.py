#!/usr/bin/env python3
"""Replaces README.md's text between <!-- bench:NAME:start --> and <!-- bench:NAME:end -->."""
import sys

name, body = sys.argv[1], sys.argv[2]
start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
text = open("README.md").read()
if start not in text or end not in text:
    sys.exit(f"README.md lacks the markers {start} ... {end}")
head, rest = text.split(start, 1)
_, tail = rest.split(end, 1)
open("README.md", "w").write(head + start + "\n" + body + "\n" + end + tail)
print(f"README.md: {name} figures updated", file=sys.stderr)
