#!/usr/bin/env bash
# Regex rules through the rule engine (Benchmarks/PatternsBenchmark, `PatternsBenchmark rules`):
# 1,000 and 10,000 generated rules on dst_dns, events/s (per wall second and per CPU second of the
# thread) and p50/p99 per event with pattern sets and with PCRE2 alone, the pattern databases' build
# time (wall and CPU) and their load time from the on-disk cache. Release build; a few minutes
# (mostly compiling the 10,000 patterns and running PCRE2 alone). With --update-docs, writes the
# figures into docs/PERFORMANCE.md between the bench:patterns markers.
set -euo pipefail
cd "$(dirname "$0")/.."

UPDATE_DOCS=0
case "${1:-}" in --update-docs) UPDATE_DOCS=1 ;; esac

swift build -c release --product PatternsBenchmark >/dev/null
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
OUTPUT=$(.build/release/PatternsBenchmark rules | grep '^regex rules')
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
echo "$OUTPUT"

if [ "$UPDATE_DOCS" = 1 ]; then
  BODY="Corpus (seeded, \`Benchmarks/PatternsBenchmark/RuleCorpus.swift\`): each rule \`dst_dns matches\`
(every other one \`imatches\`) one domain-like pattern with alternations, classes and bounded repeats
up to {0,40}, a third anchored with \`^\`, a tenth with a lookahead, a lookbehind or a back
reference, its backslashes escaped in the condition string as a rule author writes them. Traffic is
mostly benign, as on a real network: 200,000 flow begins each naming one destination built from
words no rule names, one in 100 built to match some rule. Load: parsing the rules and compiling each
regex with PCRE2. Pattern databases: the field's patterns cut into databases of 5,000, built cold on
the machine's cores (wall time, and the CPU time of all threads; the build phases line gives the
threads' CPU time for the steps they share), then loaded from the cache (\`state_dir/patterns\`) as a restart does.
Events/s are given per wall second and per CPU second of the evaluating thread (the second says
what the work costs when other work shares the cores); p50/p99 are wall times of single events, and
the p99 of the thread's CPU time per event (its clock read included). PCRE2 alone runs on a prefix
of the events, and the alerts of both on that prefix are compared. Measured by
\`scripts/bench-patterns.sh\` on $(nproc) cores shared with other work (load average before/after:
${LOAD_BEFORE} / ${LOAD_AFTER}), $(date -u +%Y-%m-%d).

$(echo "$OUTPUT" | sed 's/^/    /')"
  scripts/update-doc-section.py patterns "$BODY"
fi
