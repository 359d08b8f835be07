#!/usr/bin/env bash
# Fuzzes hostile-input parsers with libFuzzer and AddressSanitizer:
#   dns    the DNS parser and cache   (seeds: real responses in Fuzz/corpus/dns)
#   rules    the rule loader, as SIGHUP reloads it, and the engine on what loads
#            (seeds: the shipped rule files and inputs that once crashed, Fuzz/corpus/rules)
#   rule-files  rule files built from the input's bytes as choices (structure-aware: conditions nested
#            and chained, macros, lists, numbers at and past their ranges, tests), some then mutated
#            (seeds: Fuzz/corpus/rule-files)
#   packets  the capture-file packet decoder and what a packet means for flows and DNS
#            (seeds: frames of every link type, Fuzz/corpus/packets; the first byte picks the link type)
#   captures pcapng files (interface options, times) and recordings (JSON lines), replayed whole; the
#            input is a recipe for a well-framed file (seeds: Fuzz/corpus/captures)
#   intel    threat-intel feed readers (lines, CSV, Zeek intel) and the lists built from them
#            (seeds: Fuzz/corpus/intel; the first byte picks the type and format)
# Usage: scripts/fuzz.sh dns|rules|rule-files|packets|captures|intel [seconds]   (default 60). Exits non-zero on a crash or a hang.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${1:?usage: scripts/fuzz.sh dns|rules|rule-files|packets|captures|intel [seconds]}
SECONDS_TO_RUN=${2:-60}
SCRATCH=.build-fuzz
FLAGS=(-c release --scratch-path "$SCRATCH" -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library)
BIN=$(swift build "${FLAGS[@]}" --show-bin-path)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The object files of these targets, as the last build wrote them: a Swift target's from its output
# file map (so a source moved to another target leaves no stale object behind), a C target's all.
objects_of() {
  for target in "$@"; do
    local map="$BIN/$target.build/output-file-map.json"
    if [ -f "$map" ]; then
      python3 -c 'import json, sys
print("\n".join(v["object"] for k, v in json.load(open(sys.argv[1])).items() if k and "object" in v))' "$map"
    else
      find "$BIN/$target.build" -name '*.o'
    fi
  done
}

# Object files a Swift target's output file map no longer names (its source moved or went away):
# a link that takes every object of the build would pull them in, stale.
prune_stale_objects() {
  for map in "$BIN"/*.build/output-file-map.json; do
    python3 - "$map" <<'PY'
import json, os, sys
map_path = sys.argv[1]
listed = {v["object"] for k, v in json.load(open(map_path)).items() if "object" in v}
directory = os.path.dirname(map_path)
for name in os.listdir(directory):
    path = os.path.join(directory, name)
    if name.endswith(".o") and path not in listed:
        os.remove(path)
PY
  done
}

case "$TARGET" in
  dns)
    swift build "${FLAGS[@]}" --target FlowsentryDNS >/dev/null
    swiftc -O -sanitize=fuzzer,address -parse-as-library -I "$BIN/Modules" \
      Fuzz/DNSParserFuzzer.swift "$BIN"/FlowsentryDNS.build/*.o "$BIN"/FlowsentryCore.build/*.o \
      -o "$SCRATCH/dns-parser-fuzzer"
    cp Fuzz/corpus/dns/* "$WORK/"
    FUZZER="$SCRATCH/dns-parser-fuzzer"
    ;;
  rules|rule-files)
    SOURCE=Fuzz/RuleLoaderFuzzer.swift
    FUZZER="$SCRATCH/rule-loader-fuzzer"
    if [ "$TARGET" = rule-files ]; then SOURCE=Fuzz/RuleFileGeneratorFuzzer.swift FUZZER="$SCRATCH/rule-file-fuzzer"; fi
    swift build "${FLAGS[@]}" --target FlowsentryRules >/dev/null
    # The rule module and what it links: intel lists, the pattern engine (PCRE2, Hyperscan, and
    # swift-crypto for its cache keys), Yams.
    swiftc -O -sanitize=fuzzer,address -parse-as-library -I "$BIN/Modules" -I Sources/CFlowsentryPCRE2 \
      -I Sources/CFlowsentryHyperscan -I "$SCRATCH/checkouts/Yams/Sources/CYaml/include" \
      $(find "$SCRATCH/checkouts/swift-crypto/Sources" -maxdepth 3 -type d -name include -printf '-I %p ') \
      "$SOURCE" $(objects_of FlowsentryRules FlowsentryIntel FlowsentryPatterns FlowsentryCore Yams CYaml Crypto \
      CryptoBoringWrapper CCryptoBoringSSL CCryptoBoringSSLShims CXKCP CXKCPShims) \
      -lpcre2-8 -lhs -lstdc++ -o "$FUZZER"
    if [ "$TARGET" = rules ]; then cp Fuzz/corpus/rules/* rules/*.yaml "$WORK/"; else cp Fuzz/corpus/rule-files/* "$WORK/"; fi
    ;;
  packets)
    swift build "${FLAGS[@]}" --target FlowsentryPackets >/dev/null
    swiftc -O -sanitize=fuzzer,address -parse-as-library -I "$BIN/Modules" \
      Fuzz/PacketDecoderFuzzer.swift "$BIN"/FlowsentryPackets.build/*.o "$BIN"/FlowsentryCore.build/*.o \
      -o "$SCRATCH/packet-decoder-fuzzer"
    cp Fuzz/corpus/packets/* "$WORK/"
    FUZZER="$SCRATCH/packet-decoder-fuzzer"
    ;;
  captures)
    swift build "${FLAGS[@]}" --target FlowsentryReplay >/dev/null
    prune_stale_objects
    swiftc -O -sanitize=fuzzer,address -parse-as-library -I "$BIN/Modules" -I Sources/CFlowsentryPCRE2 \
      -I Sources/CFlowsentryHyperscan -I Sources/CFlowsentryPcap -I "$SCRATCH/checkouts/Yams/Sources/CYaml/include" \
      $(find "$SCRATCH/checkouts/swift-crypto/Sources" -maxdepth 3 -type d -name include -printf '-I %p ') \
      Fuzz/CaptureFileFuzzer.swift $(find "$BIN" -path '*.build/*.o' ! -path '*/flowsentry.build/*' \
      ! -path '*Fuzzer*' ! -path '*Benchmark*' ! -path '*Tests.build/*') -lpcap -lpcre2-8 -lhs -lstdc++ \
      -o "$SCRATCH/capture-file-fuzzer"
    cp Fuzz/corpus/captures/* "$WORK/"
    FUZZER="$SCRATCH/capture-file-fuzzer"
    ;;
  intel)
    swift build "${FLAGS[@]}" --target FlowsentryIntel >/dev/null
    swiftc -O -sanitize=fuzzer,address -parse-as-library -I "$BIN/Modules" \
      Fuzz/IntelFeedFuzzer.swift "$BIN"/FlowsentryIntel.build/*.o "$BIN"/FlowsentryCore.build/*.o \
      -o "$SCRATCH/intel-feed-fuzzer"
    cp Fuzz/corpus/intel/* "$WORK/"
    FUZZER="$SCRATCH/intel-feed-fuzzer"
    ;;
  *)
    echo "fuzz: unknown target '$TARGET' (dns, rules, rule-files, packets, captures or intel)" >&2
    exit 2
    ;;
esac
"$FUZZER" -max_total_time="$SECONDS_TO_RUN" -timeout=5 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 "$WORK"
