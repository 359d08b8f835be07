#!/usr/bin/env bash
# Datapath overhead of flowsentry's eBPF programs, measured side by side in one run:
#   bulk throughput   iperf3 over loopback
#   connection rate   wrk with "Connection: close" against nginx on loopback
# each with the programs attached (monitor running, events to /dev/null) and not attached,
# alternating rounds so that the machine's noise hits both alike. Every process involved runs in
# a child cgroup that this script creates, so both ends of each connection pass the hooks.
# Then scripts/bench-updates.sh: the CPU of one socket walk over 100,000 open flows.
# Prints a table and, with --update-docs (or its old name --update-readme), writes it and the pipeline
# benchmark into docs/PERFORMANCE.md between their bench markers.
#
# --compare OLD_BINARY first runs a paired A/B of short connections: each round measures no sensor,
# OLD_BINARY and this tree's sensor (same rules, same output to /dev/null), in an order that rotates
# from round to round, then each sensor's per-program cost (bpf_stats) in runs of their own; it
# prints (and with --update-docs writes, bench:datapath-compare) each sensor's ratio to no sensor and
# the per-round difference new minus old. --only-compare stops after it. --compare-rules DIR runs
# both sensors on the rules of DIR alone (--no-default-rules --rules DIR), so that the comparison
# holds the rule set still (the old sensor's shipped rules, say) and measures the datapath and the
# pipeline; its table goes to bench:datapath-compare-rules.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
NGINX_PORT=${NGINX_PORT:-18480}
IPERF_PORT=${IPERF_PORT:-18481}
UPDATE_DOCS=0
OLD_BIN=""
ONLY_COMPARE=0
COMPARE_RULES=""
while [ $# -gt 0 ]; do
  case "$1" in
    --update-docs | --update-readme) UPDATE_DOCS=1 ;;
    --compare) OLD_BIN=${2:?--compare needs the old binary}; shift ;;
    --only-compare) ONLY_COMPARE=1 ;;
    --compare-rules) COMPARE_RULES=${2:?--compare-rules needs a rule directory}; shift ;;
    *) echo "bench: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ -z "$OLD_BIN" ] || [ -x "$OLD_BIN" ] || { echo "bench: $OLD_BIN is no executable" >&2; exit 1; }
[ "$ONLY_COMPARE" = 0 ] || [ -n "$OLD_BIN" ] || { echo "bench: --only-compare needs --compare OLD_BINARY" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (it attaches eBPF programs)" >&2; exit 1; }
for tool in nginx wrk iperf3 bpftool python3; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "bench: $tool missing; run scripts/install-deps.sh" >&2; exit 1; }
done

# FLOWSENTRY_BIN: an already built binary instead of this tree's release build.
if [ -n "${FLOWSENTRY_BIN:-}" ]; then
  BIN=$FLOWSENTRY_BIN
else
  swift build -c release --product flowsentry >/dev/null
  BIN=.build/release/flowsentry
fi
MOUNT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
CGROUP="$MOUNT/flowsentry-bench-$$"
WORK=$(mktemp -d)
mkdir "$CGROUP"
PIDS=()

MONITOR=""
cleanup() {
  # A monitor interrupted mid-round (perhaps stopped) must go too: it holds the programs attached.
  if [ -n "$MONITOR" ]; then kill -CONT "$MONITOR" 2>/dev/null || true; kill -TERM "$MONITOR" 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  sleep 0.5
  for pid in $(cat "$CGROUP/cgroup.procs" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  sleep 0.2
  rmdir "$CGROUP" 2>/dev/null || true
  rm -rf "$WORK"
  sysctl -q -w kernel.bpf_stats_enabled="$STATS_BEFORE" >/dev/null 2>&1 || true
}
STATS_BEFORE=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
trap cleanup EXIT

source scripts/lib-web.sh

start_test_nginx "127.0.0.1:$NGINX_PORT"
in_cgroup iperf3 -s -p "$IPERF_PORT" -B 127.0.0.1 >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5

bulk_gbits() {
  in_cgroup iperf3 -c 127.0.0.1 -p "$IPERF_PORT" -t "$SECONDS_PER_RUN" -J |
    python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))'
}
connections_per_second() {
  ${1:-in_cgroup} wrk -t 2 -c 32 -d "${SECONDS_PER_RUN}s" -H "Connection: close" "http://127.0.0.1:$NGINX_PORT/" |
    tee "$WORK/wrk.out" | awk '/Requests\/sec/ { printf "%.0f\n", $2 }'
}
# Connections of the last wrk run: "N requests in 5.00s" (each request its own connection).
connections_of_last_run() { awk '/requests in/ { print $1; exit }' "$WORK/wrk.out"; }

# Starts a monitor of BINARY on the cgroup, events to /dev/null, its log in LOG; returns once it
# watches (MONITOR holds its pid).
start_monitor() {
  local rules=()
  [ -z "$COMPARE_RULES" ] || rules=(--no-default-rules --rules "$COMPARE_RULES")
  "$1" monitor --log-format text --cgroup "$CGROUP" "${rules[@]}" >/dev/null 2>"$2" &
  MONITOR=$!
  for _ in $(seq 1 1200); do grep -qs "monitoring cgroup" "$2" && break; sleep 0.1; done
  # Seen twice while other work created and removed cgroups: say where it waits.
  grep -qs "monitoring cgroup" "$2" || {
    echo "bench: $1 did not start in 120 s; its log, then its kernel stack:" >&2
    cat "$2" "/proc/$MONITOR/stack" >&2 2>/dev/null || true
    exit 1
  }
}
stop_monitor() {
  kill -TERM "$MONITOR"
  wait "$MONITOR" || true
  MONITOR=""
}

# One wrk run with bpf_stats on, against a monitor of BINARY: writes the programs' bpftool JSON and
# the run's connections to $WORK/stats.LABEL.N.
program_stats() {
  local binary=$1 label=$2 index=$3
  start_monitor "$binary" "$WORK/stats.err"
  local ticks_before
  ticks_before=$(awk '{ print $14 + $15 }' "/proc/$MONITOR/stat")
  sysctl -q -w kernel.bpf_stats_enabled=1
  connections_per_second >/dev/null
  awk -v before="$ticks_before" '{ print $14 + $15 - before }' "/proc/$MONITOR/stat" >"$WORK/stats.$label.$index.ticks"
  local ids
  ids=$(sed -n 's/.* programs=\[\([0-9,]*\)\].*/\1/p' "$WORK/stats.err" | tr ',' ' ')
  for id in $ids; do bpftool prog show id "$id" -j; echo; done >"$WORK/stats.$label.$index.json"
  sysctl -q -w kernel.bpf_stats_enabled=0
  connections_of_last_run >"$WORK/stats.$label.$index.connections"
  stop_monitor
  python3 - "$WORK/stats.$label.$index" "$label $index" <<'PY' >&2
import json, os, sys
connections = int(open(sys.argv[1] + ".connections").read().split()[0])
ticks = int(open(sys.argv[1] + ".ticks").read().split()[0])
rows = [json.loads(l) for l in open(sys.argv[1] + ".json") if l.strip()]
print("stats %s: %d connections; monitor %.1f µs/connection; %s" % (
    sys.argv[2], connections, ticks * 1e6 / os.sysconf("SC_CLK_TCK") / max(1, connections), "; ".join(
    "%s %.1f runs x %.0f ns" % (r["name"], r["run_cnt"] / max(1, connections), r["run_time_ns"] / r["run_cnt"])
    for r in rows if r.get("run_cnt"))))
PY
}

# The paired A/B: no sensor, the old binary, this tree's; the order rotates so that no sensor is
# always measured first or last.
if [ -n "$OLD_BIN" ]; then
  declare -a CMP_OFF CMP_OLD CMP_NEW
  for round in $(seq 1 "$ROUNDS"); do
    case $((round % 3)) in
      1) order="off old new" ;;
      2) order="old new off" ;;
      0) order="new off old" ;;
    esac
    for which in $order; do
      case $which in
        off) CMP_OFF+=("$(connections_per_second)") ;;
        old) start_monitor "$OLD_BIN" "$WORK/old.err"; CMP_OLD+=("$(connections_per_second)"); stop_monitor ;;
        new) start_monitor "$BIN" "$WORK/new.err"; CMP_NEW+=("$(connections_per_second)"); stop_monitor ;;
      esac
    done
    echo "compare round $round ($order): connections no sensor ${CMP_OFF[-1]}, old ${CMP_OLD[-1]}, new ${CMP_NEW[-1]} /s" >&2
  done
  # Per-program cost of each, alternating old/new, new/old, in runs of their own (bpf_stats taxes
  # every run of the programs).
  STATS_RUNS=${STATS_RUNS:-2}
  for index in $(seq 1 "$STATS_RUNS"); do
    if [ $((index % 2)) = 1 ]; then
      program_stats "$OLD_BIN" old "$index"; program_stats "$BIN" new "$index"
    else
      program_stats "$BIN" new "$index"; program_stats "$OLD_BIN" old "$index"
    fi
  done
  COMPARE_TABLE=$(python3 - "${CMP_OFF[*]}" "${CMP_OLD[*]}" "${CMP_NEW[*]}" "$WORK" "$ROUNDS" "$SECONDS_PER_RUN" "$OLD_BIN" <<'PY'
import glob, json, os, statistics, sys
off, old, new = ([float(x) for x in arg.split()] for arg in sys.argv[1:4])
work, rounds, seconds, old_binary = sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
old_ratios = [100 * o / b for b, o in zip(off, old)]
new_ratios = [100 * n / b for b, n in zip(off, new)]
differences = [n - o for o, n in zip(old_ratios, new_ratios)]
def spread(values, unit):
    return "%.1f%s (rounds %.1f to %.1f)" % (statistics.median(values), unit, min(values), max(values))
print("| short connections (wrk, `Connection: close`, nginx; %s alternating rounds, %ss each) | conn/s (median) | sensor / no sensor, per round |" % (rounds, seconds))
print("|---|---|---|")
print("| no sensor | %.0f | |" % statistics.median(off))
print("| old sensor | %.0f | %s |" % (statistics.median(old), spread(old_ratios, "%")))
print("| new sensor (this tree) | %.0f | %s |" % (statistics.median(new), spread(new_ratios, "%")))
print("| new minus old, per round | | %s |" % spread(differences, " points"))
print()
def programs(label):
    """Per program: runs per connection over all runs, and each run's ns per program run."""
    runs, connections, per_run = {}, 0, {}
    for path in sorted(glob.glob("%s/stats.%s.*.json" % (work, label))):
        connections += int(open(path[:-len("json")] + "connections").read().split()[0])
        for line in open(path):
            if line.strip():
                row = json.loads(line)
                if row.get("run_cnt"):
                    runs[row["name"]] = runs.get(row["name"], 0) + row["run_cnt"]
                    per_run.setdefault(row["name"], []).append(row["run_time_ns"] / row["run_cnt"])
    return runs, connections, per_run
def monitor_cpu(label):
    """The monitor process's CPU (user and system) per connection over the same runs, in µs."""
    ticks = sum(int(open(path).read().split()[0]) for path in glob.glob("%s/stats.%s.*.ticks" % (work, label)))
    connections = sum(int(open(path).read().split()[0]) for path in glob.glob("%s/stats.%s.*.connections" % (work, label)))
    return ticks * 1e6 / os.sysconf("SC_CLK_TCK") / max(1, connections)
print("| per connection (bpf_stats, %d wrk runs of their own each; ns per run: median of the runs, range) | old sensor | new sensor |"
      % len(glob.glob("%s/stats.old.*.json" % work)))
print("|---|---|---|")
old_stats, new_stats = programs("old"), programs("new")
def cell(stats, name):
    runs, connections, per_run = stats
    if name not in runs or not connections:
        return "not run"
    ns = statistics.median(per_run[name])
    return "%.1f runs × %.0f ns (%.0f–%.0f) = %.2f µs" % (
        runs[name] / connections, ns, min(per_run[name]), max(per_run[name]), runs[name] / connections * ns / 1000)
def total(stats):
    runs, connections, per_run = stats
    return sum(runs[name] / connections * statistics.median(per_run[name]) for name in runs) / 1000 if connections else 0
for name in sorted(set(old_stats[0]) | set(new_stats[0])):
    if name != "fs_walk_tcp":  # a walk that fell in a run: not a per-connection cost
        print("| `%s` | %s | %s |" % (name, cell(old_stats, name), cell(new_stats, name)))
print("| all programs | %.2f µs (%d connections) | %.2f µs (%d connections) |"
      % (total(old_stats), old_stats[1], total(new_stats), new_stats[1]))
print("| the monitor process (decoding, tracking, rules, JSON to /dev/null), CPU | %.1f µs | %.1f µs |"
      % (monitor_cpu("old"), monitor_cpu("new")))
print()
print("Old sensor: `%s`." % old_binary)
PY
)
  [ -z "$COMPARE_RULES" ] || COMPARE_TABLE="Both sensors on the rules of \`$COMPARE_RULES\` alone ($(
    .build/release/flowsentry rules check --no-default-rules "$COMPARE_RULES" 2>&1 | grep -o '[0-9]* rules' | head -1)).

$COMPARE_TABLE"
  COMPARE_TABLE="$COMPARE_TABLE
Measured on $(nproc) cores, kernel $(uname -r), $(date -u +%Y-%m-%d), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
  echo "$COMPARE_TABLE"
  if [ "$UPDATE_DOCS" = 1 ]; then
    scripts/update-doc-section.py "datapath-compare${COMPARE_RULES:+-rules}" "$COMPARE_TABLE"
  fi
  [ "$ONLY_COMPARE" = 0 ] || exit 0
fi

declare -a BULK_OFF BULK_ON CONN_OFF CONN_ON CONN_KERNEL CONN_SERVER
DROPS_TOTAL=0
EVENTS_TOTAL=0
PROG_NS=""
for round in $(seq 1 "$ROUNDS"); do
  BULK_OFF+=("$(bulk_gbits)")
  CONN_OFF+=("$(connections_per_second)")

  "$BIN" monitor --log-format text --cgroup "$CGROUP" >/dev/null 2>"$WORK/monitor.err" &
  MONITOR=$!
  for _ in $(seq 1 100); do grep -q "monitoring cgroup" "$WORK/monitor.err" && break; sleep 0.1; done
  BULK_ON+=("$(bulk_gbits)")
  CONN_ON+=("$(connections_per_second)")
  # A server host's view: wrk outside the cgroup, so only nginx's end of each connection is watched.
  CONN_SERVER+=("$(connections_per_second env)")
  kill -TERM "$MONITOR"
  wait "$MONITOR" || true
  # The exit record (text): drops{queue=N ring_buffer=N} … lines_written{stdout{alert=N event=N} …}
  DROPS=$(sed -n 's/.* drops{queue=\([0-9]*\) ring_buffer=\([0-9]*\)}.*/\1 \2/p' "$WORK/monitor.err" | awk '{ print $1 + $2 }')
  EVENTS=$(sed -n 's/.* lines_written{.*stdout{alert=[0-9]* event=\([0-9]*\)}.*/\1/p' "$WORK/monitor.err")
  DROPS_TOTAL=$((DROPS_TOTAL + ${DROPS:-0}))
  EVENTS_TOTAL=$((EVENTS_TOTAL + ${EVENTS:-0}))

  # The programs alone: a monitor stopped (SIGSTOP) keeps them attached but reads nothing, so once
  # its ring buffer is full the kernel refuses the records (its drops are not the sensor's, and are
  # not counted above). What the kernel side costs, apart from user space's share of the 2 cores.
  "$BIN" monitor --log-format text --cgroup "$CGROUP" >/dev/null 2>"$WORK/stopped.err" &
  MONITOR=$!
  for _ in $(seq 1 100); do grep -q "monitoring cgroup" "$WORK/stopped.err" && break; sleep 0.1; done
  kill -STOP "$MONITOR"
  CONN_KERNEL+=("$(connections_per_second)")
  kill -CONT "$MONITOR"
  kill -TERM "$MONITOR"
  wait "$MONITOR" || true
  echo "round $round: bulk ${BULK_OFF[-1]} -> ${BULK_ON[-1]} Gbit/s; connections ${CONN_OFF[-1]} -> ${CONN_ON[-1]} /s (programs alone ${CONN_KERNEL[-1]} /s, server end only ${CONN_SERVER[-1]} /s); events $EVENTS, drops $DROPS" >&2
done

# Per-program cost in a run of its own: bpf_stats timing taxes every run of the programs, so it
# stays out of the rounds above.
"$BIN" monitor --log-format text --cgroup "$CGROUP" >/dev/null 2>"$WORK/monitor.err" &
MONITOR=$!
for _ in $(seq 1 100); do grep -q "monitoring cgroup" "$WORK/monitor.err" && break; sleep 0.1; done
CPU_BEFORE=$(awk '{ print $14 + $15 }' "/proc/$MONITOR/stat")
sysctl -q -w kernel.bpf_stats_enabled=1
STATS_RATE=$(connections_per_second)
PROG_IDS=$(sed -n 's/.* programs=\[\([0-9,]*\)\].*/\1/p' "$WORK/monitor.err" | tr ',' ' ')
PROG_JSON=$(for id in $PROG_IDS; do bpftool prog show id "$id" -j; echo; done)
sysctl -q -w kernel.bpf_stats_enabled=0
MONITOR_TICKS=$(awk -v before="$CPU_BEFORE" '{ print $14 + $15 - before }' "/proc/$MONITOR/stat")
# Per connection of that run: what the programs and the monitor cost, beside what a connection
# costs the machine without the sensor (its cores divided by the unattached rate).
PROG_NS=$(echo "$PROG_JSON" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
print("; ".join("%s %.0f ns/run over %d runs" % (r["name"], r["run_time_ns"] / r["run_cnt"], r["run_cnt"])
                for r in rows if r.get("run_cnt")))')
PER_CONNECTION=$(echo "$PROG_JSON" | python3 -c '
import json, os, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
connections = float(sys.argv[1]) * float(sys.argv[2])
ticks = os.sysconf("SC_CLK_TCK")
kernel = sum(r.get("run_time_ns", 0) for r in rows) / connections / 1000
runs = sum(r.get("run_cnt", 0) for r in rows) / connections
cpu = float(sys.argv[3]) / ticks
print("the programs %.1f µs per connection (%.0f runs), the monitor process %.1f µs (%.2f s of CPU: decoding, "
      "tracking, rules, JSON to /dev/null)" % (kernel, runs, cpu * 1e6 / connections, cpu))' \
  "$STATS_RATE" "$SECONDS_PER_RUN" "$MONITOR_TICKS")
kill -TERM "$MONITOR"
wait "$MONITOR" || true

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# Rounds alternate, so each round's attached/not-attached pair saw the same machine: the ratio
# reported is the median of the per-round ratios, with their range.
paired_ratio() {
  python3 - "$1" "$2" <<'PY'
import statistics, sys
off = [float(x) for x in sys.argv[1].split()]
on = [float(x) for x in sys.argv[2].split()]
ratios = [100.0 * b / a for a, b in zip(off, on)]
print("%.1f%% (rounds %.0f–%.0f%%)" % (statistics.median(ratios), min(ratios), max(ratios)))
PY
}
B_OFF=$(median "${BULK_OFF[@]}"); B_ON=$(median "${BULK_ON[@]}")
C_OFF=$(median "${CONN_OFF[@]}"); C_ON=$(median "${CONN_ON[@]}")
B_RATIO=$(paired_ratio "${BULK_OFF[*]}" "${BULK_ON[*]}")
C_RATIO=$(paired_ratio "${CONN_OFF[*]}" "${CONN_ON[*]}")
K_CONN=$(median "${CONN_KERNEL[@]}")
K_RATIO=$(paired_ratio "${CONN_OFF[*]}" "${CONN_KERNEL[*]}")
S_CONN=$(median "${CONN_SERVER[@]}")
S_RATIO=$(paired_ratio "${CONN_OFF[*]}" "${CONN_SERVER[*]}")

TABLE=$(cat <<TABLE
| measure ($ROUNDS alternating rounds, ${SECONDS_PER_RUN}s each) | not attached (median) | attached (median) | attached / not attached, per round | target |
|---|---|---|---|---|
| loopback bulk throughput (iperf3), Gbit/s | $B_OFF | $B_ON | $B_RATIO | ≥ 95% |
| short connections (wrk, \`Connection: close\`, nginx), conn/s | $C_OFF | $C_ON | $C_RATIO | ≥ 90% |
| the same, the programs alone (monitor stopped with SIGSTOP: nothing read), conn/s | | $K_CONN | $K_RATIO | |
| the same, only the server's end watched (wrk outside the cgroup, as on a server host), conn/s | | $S_CONN | $S_RATIO | |
| events printed / ring buffer + queue drops while attached | | $EVENTS_TOTAL | $DROPS_TOTAL drops | 0 drops |

Per-program cost (kernel.bpf_stats_enabled, one extra wrk run of ${SECONDS_PER_RUN}s): $PROG_NS.
In that run ($STATS_RATE conn/s): $PER_CONNECTION. Without the sensor a connection costs the machine $(python3 -c "print('%.1f' % ($(nproc) * 1e6 / $C_OFF))") µs ($(nproc) cores / $C_OFF conn/s, the median above).
Measured on $(nproc) cores, kernel $(uname -r), $(date -u +%Y-%m-%d).
TABLE
)
echo "$TABLE"

# The user-space stages on one core, without the kernel: what the monitor can absorb.
swift build -c release --product PipelineBenchmark >/dev/null
PIPELINE=$(.build/release/PipelineBenchmark | sed 's/^/    /')
echo "$PIPELINE"

if [ "$UPDATE_DOCS" = 1 ]; then
  scripts/update-doc-section.py datapath "$TABLE"
  scripts/update-doc-section.py pipeline "$PIPELINE"
fi

# One socket walk (net_flow_tcp_update) over 100,000 open flows: its own script, its own cgroup.
scripts/bench-updates.sh $([ "$UPDATE_DOCS" = 1 ] && echo --update-docs)
