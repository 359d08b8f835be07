#!/usr/bin/env python3
"""Checks that every relative link in README.md and docs/*.md resolves: the file or directory
exists, and a `#fragment` names a heading of the target page (GitHub's anchors). Run by `make lint`.

    scripts/check-links.py [FILE.md ...]
"""
import glob
import os
import re
import sys

# [text](target) and [text](target "title"); images too. Code spans and fenced blocks are skipped.
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"`+[^`]*`+")


def prose_lines(path):
    """(line number, text) of the lines outside fenced code blocks, code spans removed."""
    fenced = False
    with open(path, encoding="utf-8") as page:
        for number, line in enumerate(page, 1):
            if FENCE.match(line):
                fenced = not fenced
                continue
            if not fenced:
                yield number, CODE_SPAN.sub("", line)


def anchors(path):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    seen = {}
    result = set()
    fenced = False
    with open(path, encoding="utf-8") as page:
        for line in page:
            if FENCE.match(line):
                fenced = not fenced
                continue
            heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if fenced or not heading:
                continue
            text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1)).lower()
            slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            result.add(slug if count == 0 else f"{slug}-{count}")
    for name in re.findall(r'<a\s+(?:name|id)="([^"]+)"', open(path, encoding="utf-8").read()):
        result.add(name)
    return result


def problems(path):
    for number, line in prose_lines(path):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                continue  # http:, https:, mailto:, …: not ours to check offline
            file_part, _, fragment = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            if not os.path.exists(resolved):
                yield f"{path}:{number}: {target}: {resolved} does not exist"
            elif fragment and resolved.endswith(".md") and fragment not in anchors(resolved):
                yield f"{path}:{number}: {target}: {resolved} has no heading #{fragment}"


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    paths = sys.argv[1:] or ["README.md"] + sorted(glob.glob("docs/*.md"))
    found = [problem for path in paths for problem in problems(path)]
    for problem in found:
        print(problem, file=sys.stderr)
    if found:
        sys.exit(f"scripts/check-links.py: {len(found)} broken link(s)")
    print(f"scripts/check-links.py: every relative link of {len(paths)} pages resolves", file=sys.stderr)


if __name__ == "__main__":
    main()
