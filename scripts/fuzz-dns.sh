#!/usr/bin/env bash
# Fuzzes the DNS parser and cache with libFuzzer (seed corpus: real responses in Fuzz/corpus/dns).
# Usage: scripts/fuzz-dns.sh [seconds]   (default 60). Exits non-zero on a crash or a hang.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
SCRATCH=.build-fuzz
swift build -c release --scratch-path "$SCRATCH" --target FlowsentryDNS \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library >/dev/null
BIN=$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)
swiftc -O -sanitize=fuzzer,address -parse-as-library -I "$BIN/Modules" \
  Fuzz/DNSParserFuzzer.swift "$BIN"/FlowsentryDNS.build/*.o "$BIN"/FlowsentryCore.build/*.o \
  -o "$SCRATCH/dns-parser-fuzzer"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp Fuzz/corpus/dns/* "$WORK/"
"$SCRATCH/dns-parser-fuzzer" -max_total_time="$SECONDS_TO_RUN" -timeout=2 -rss_limit_mb=1024 -print_final_stats=1 "$WORK"
