#!/usr/bin/env bash
# Cost of one socket walk (net_flow_tcp_update) over many open flows: a helper in a child cgroup
# holds FLOWS/2 loopback connection pairs open (both ends in the cgroup: FLOWS sockets), the monitor
# watches that cgroup with a short --flow-update-interval, and the walking thread's CPU time per walk
# (the kernel's iter/tcp program, read(2) of its output, decoding, handing to the pipeline) is read
# from /metrics after each walk. The pipeline's work on the update events is not in it (measured by
# the pipeline benchmark). With --update-docs, writes the result into docs/PERFORMANCE.md between the
# bench:updates markers.
#
# --compare OLD_BINARY: the same held flows walked by OLD_BINARY's monitor and this one's, one
# monitor at a time, ROUNDS rounds of WALKS walks each in alternating order; prints both (never
# written to the docs).
set -euo pipefail
cd "$(dirname "$0")/.."

FLOWS=${FLOWS:-100000}
WALKS=${WALKS:-5}
INTERVAL=${INTERVAL:-4}
METRICS_PORT=${METRICS_PORT:-19464}
UPDATE_DOCS=0
OLD_BIN=""
while [ $# -gt 0 ]; do
  case "$1" in
    --update-docs) UPDATE_DOCS=1 ;;
    --compare) OLD_BIN=${2:?--compare needs the old binary}; shift ;;
    *) echo "bench-updates: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

[ "$(id -u)" -eq 0 ] || { echo "bench-updates: needs root (it attaches eBPF programs)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench-updates: python3 missing" >&2; exit 1; }

# FLOWSENTRY_BIN: an already built binary (to compare two builds under the same conditions).
if [ -n "${FLOWSENTRY_BIN:-}" ]; then
  BIN=$FLOWSENTRY_BIN
else
  swift build -c release --product flowsentry >/dev/null
  BIN=.build/release/flowsentry
fi
MOUNT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
CGROUP="$MOUNT/flowsentry-bench-updates-$$"
WORK=$(mktemp -d)
mkdir "$CGROUP"
HOLDERS=()
MONITOR=""
cleanup() {
  [ -n "$MONITOR" ] && kill -TERM "$MONITOR" 2>/dev/null || true
  for pid in "${HOLDERS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in $(cat "$CGROUP/cgroup.procs" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  # Helpers closing 100,000 sockets take a while to leave the cgroup.
  for _ in $(seq 100); do rmdir "$CGROUP" 2>/dev/null && break; sleep 0.1; done
  rm -rf "$WORK"
}
trap cleanup EXIT

start_monitor() {
  "$1" monitor --no-default-rules --events none --cgroup "$CGROUP" --flow-update-interval "$INTERVAL" \
    --metrics-address "127.0.0.1:$METRICS_PORT" >/dev/null 2>"$WORK/monitor.log" &
  MONITOR=$!
  for _ in $(seq 300); do grep -qs "monitoring cgroup" "$WORK/monitor.log" && break; sleep 0.2; done
}
stop_monitor() {
  kill -TERM "$MONITOR"
  wait "$MONITOR" || true
  MONITOR=""
}
# The monitor first, so that sock_ops follows every connection from its handshake (the steady
# state: each walk reports followed sockets, none preexisting; the marks stay on the sockets for a
# later monitor's walks).
start_monitor "$BIN"

# FLOWS sockets need more descriptors than the default limit: each helper raises its soft limit to
# the hard one and holds at most PAIRS_PER_HELPER pairs (where the hard limit cannot be raised, as
# in a container without CAP_SYS_RESOURCE, more helpers share the flows). Connections go to several
# listening ports so that the ephemeral ports do not run out.
HARD=$(ulimit -Hn)
PAIRS_PER_HELPER=$(( (HARD - 1024) / 2 ))
[ "$PAIRS_PER_HELPER" -gt 0 ] || { echo "bench-updates: open-file hard limit $HARD too low" >&2; exit 1; }
cat >"$WORK/hold.py" <<'PY'
import resource, socket, sys, time
pairs = int(sys.argv[1])
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
listeners = []
for _ in range(8):
    l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(4096); listeners.append(l)
held = []
for i in range(pairs):
    l = listeners[i % len(listeners)]
    c = socket.create_connection(l.getsockname())
    a, _ = l.accept()
    c.send(b"x" * 100)
    held += [c, a]
print("ready", len(held), flush=True)
sys.stdin.read()
PY
mkfifo "$WORK/hold.in"
HOLDERS=()
remaining=$((FLOWS / 2))
index=0
while [ "$remaining" -gt 0 ]; do
  pairs=$((remaining < PAIRS_PER_HELPER ? remaining : PAIRS_PER_HELPER))
  sh -c 'echo $$ > "$0/cgroup.procs" && ulimit -n "$(ulimit -Hn)" && exec python3 "$1" "$2"' "$CGROUP" "$WORK/hold.py" \
    "$pairs" <"$WORK/hold.in" >"$WORK/hold.$index.out" 2>&1 &
  HOLDERS+=($!)
  remaining=$((remaining - pairs))
  index=$((index + 1))
done
exec 7>"$WORK/hold.in"
for holder in $(seq 0 $((index - 1))); do
  for _ in $(seq 600); do grep -q ready "$WORK/hold.$holder.out" 2>/dev/null && break; sleep 0.5; done
  grep -q ready "$WORK/hold.$holder.out" || {
    echo "bench-updates: a helper did not open its flows:" >&2; cat "$WORK/hold.$holder.out" >&2; exit 1; }
done
HELD=$(cat "$WORK"/hold.*.out | awk '/ready/ { n += $2 } END { print n }')
echo "bench-updates: $HELD sockets held open by $index helpers" >&2

metric() {
  python3 - "$METRICS_PORT" "$1" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
for line in text.splitlines():
    if line.startswith(sys.argv[2] + " ") or line.startswith(sys.argv[2] + "{"):
        print(line.split()[-1]); break
else:
    print(0)
PY
}

# WALKS walks of the running monitor, a line "cpu_seconds system_seconds sockets" each, appended to
# FILE. A sample is taken after each walk; one that spans two walks (a slow poll) is left out.
collect_walks() {
  local file=$1 taken=0 last now before after
  last=$(metric flowsentry_socket_walks_total)
  # The first walk may have begun while the helpers were still opening (or before this monitor
  # attached): it only starts the count.
  while [ "$(metric flowsentry_socket_walks_total)" = "$last" ]; do sleep 0.2; done
  last=$(metric flowsentry_socket_walks_total)
  before=$(metric flowsentry_socket_walk_sockets_total)
  while [ "$taken" -lt "$WALKS" ]; do
    sleep 0.5
    now=$(metric flowsentry_socket_walks_total)
    [ "$now" = "$last" ] && continue
    after=$(metric flowsentry_socket_walk_sockets_total)
    if [ "$(python3 -c "print(int(float('$now') - float('$last')))")" = 1 ]; then
      echo "$(metric flowsentry_socket_walk_last_cpu_seconds) $(metric flowsentry_socket_walk_last_system_cpu_seconds)" \
        "$(python3 -c "print(int(float('$after') - float('$before')))")" >>"$file"
      taken=$((taken + 1))
    fi
    last=$now
    before=$after
  done
}

# The running monitor's iter/tcp program over one more walk with kernel.bpf_stats_enabled:
# "run_time_ns run_cnt" appended to FILE (its id from the monitor's log: other monitors may run).
walk_program_stats() {
  local file=$1 last before ids
  before=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
  ids=$(grep -o 'programs[^0-9]*[0-9][0-9, "]*' "$WORK/monitor.log" | head -1 | grep -o '[0-9][0-9]*' | tr '\n' ' ')
  sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null 2>&1 || true
  last=$(metric flowsentry_socket_walks_total)
  while [ "$(metric flowsentry_socket_walks_total)" = "$last" ]; do sleep 0.2; done
  for id in $ids; do bpftool -j prog show id "$id"; echo; done | python3 -c '
import json, sys
for line in sys.stdin:
    if line.strip():
        row = json.loads(line)
        if row.get("name") == "fs_walk_tcp" and row.get("run_cnt"):
            print(row["run_time_ns"], row["run_cnt"])' >>"$file"
  sysctl -q -w kernel.bpf_stats_enabled="$before" >/dev/null 2>&1 || true
}

if [ -n "$OLD_BIN" ]; then
  ROUNDS=${ROUNDS:-3}
  for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then order="new old"; else order="old new"; fi
    for which in $order; do
      [ -n "$MONITOR" ] || start_monitor "$([ "$which" = old ] && echo "$OLD_BIN" || echo "$BIN")"
      collect_walks "$WORK/walks.$which"
      walk_program_stats "$WORK/program.$which"
      stop_monitor
    done
    echo "bench-updates: compare round $round ($order) done" >&2
  done
  python3 - "$WORK" "$OLD_BIN" <<'PY'
import statistics, sys
for label, name in (("old", sys.argv[2]), ("new", "this tree")):
    rows = [line.split() for line in open("%s/walks.%s" % (sys.argv[1], label))]
    cpu = [float(r[0]) * 1000 for r in rows]
    system = [float(r[1]) * 1000 for r in rows]
    sockets = [int(r[2]) for r in rows]
    try:
        program = [line.split() for line in open("%s/program.%s" % (sys.argv[1], label)) if line.strip()]
    except OSError:
        program = []
    per_walk = [int(p[0]) / 1e6 for p in program]
    per_run = [int(p[0]) / int(p[1]) for p in program]
    program_text = ("; iter/tcp program (bpf_stats) median %.1f ms per walk, %.0f ns per socket"
                    % (statistics.median(per_walk), statistics.median(per_run))) if program else ""
    print("    %s (%s): CPU per walk median %.1f ms, range %.1f–%.1f ms over %d walks; kernel median %.1f ms; sockets per walk %s%s"
          % (label, name, statistics.median(cpu), min(cpu), max(cpu), len(cpu), statistics.median(system),
             "/".join(sorted(set(map(str, sockets)))), program_text))
PY
  exit 0
fi

collect_walks "$WORK/walks"
CPU=($(awk '{ print $1 }' "$WORK/walks"))
SYSTEM=($(awk '{ print $2 }' "$WORK/walks"))
SOCKETS=($(awk '{ print $3 }' "$WORK/walks"))
# The iter/tcp program's own share (kernel.bpf_stats_enabled over one more walk).
STATS_BEFORE=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo 0)
sysctl -q -w kernel.bpf_stats_enabled=1 >/dev/null 2>&1 || true
last=$(metric flowsentry_socket_walks_total)
while [ "$(metric flowsentry_socket_walks_total)" = "$last" ]; do sleep 0.5; done
PROGRAM_MS=$(bpftool -j prog show name fs_walk_tcp 2>/dev/null | python3 -c '
import json, sys
rows = json.load(sys.stdin)
rows = rows if isinstance(rows, list) else [rows]
print("%.1f" % (sum(r.get("run_time_ns", 0) for r in rows) / 1e6))' 2>/dev/null || echo "?")
sysctl -q -w kernel.bpf_stats_enabled="$STATS_BEFORE" >/dev/null 2>&1 || true
UPDATES=$(metric 'flowsentry_events_total{event="net_flow_tcp_update"}' || echo 0)

RESULT=$(python3 - "${CPU[*]}" "${SOCKETS[*]}" "$FLOWS" "$INTERVAL" "${SYSTEM[*]}" <<'PY'
import statistics, sys
cpu = [float(x) * 1000 for x in sys.argv[1].split()]
system = [float(x) * 1000 for x in sys.argv[5].split()]
sockets = [int(x) for x in sys.argv[2].split()]
print("    socket walk: %d open loopback flows (sockets) in the watched cgroup, a walk every %s s" % (int(sys.argv[3]), sys.argv[4]))
print("    sockets reported per walk: %s" % " ".join(map(str, sockets)))
print("    CPU per walk (walking thread: iter/tcp in the kernel, read, decode): median %.1f ms, range %.1f–%.1f ms (target ≤ 100 ms)"
      % (statistics.median(cpu), min(cpu), max(cpu)))
print("    of which in the kernel (iter/tcp and its program, read): median %.1f ms; in user space (decoding, batching): %.1f ms"
      % (statistics.median(system), statistics.median(cpu) - statistics.median(system)))
print("    per socket: %.2f µs" % (statistics.median(cpu) * 1000 / max(1, statistics.median(sockets))))
PY
)
RESULT="$RESULT
    the iter/tcp program itself (bpf_stats, one walk): $PROGRAM_MS ms; the rest of the kernel's share is the iterator's own work (bucket walk, socket locks, seq_file)
    measured on $(nproc) cores, kernel $(uname -r), $(date -u +%Y-%m-%d)"
echo "$RESULT"
if [ "$UPDATE_DOCS" = 1 ]; then scripts/update-doc-section.py updates "$RESULT"; fi
