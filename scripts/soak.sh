#!/usr/bin/env bash
# Soak run (root; not part of the test suite): the sensor as deployed — built-in rules, flow events
# to stdout (/dev/null), alerts forwarded to a local rsyslog — for SOAK_SECONDS (default 600) under
#   - the machine's maximum loopback connection rate: wrk, "Connection: close", against nginx;
#   - a SYN flood and a refused-connection storm from spoofed sources of a test host's /24: a network
#     namespace on a veth pair (198.51.100.0/24), SYNs from 198.51.100.10-250 to an open and to a
#     closed port of the host side. Replies go to addresses of that /24 on the veth: nothing leaves
#     the machine.
# Every process measured runs in a child cgroup that the script creates. It samples the sensor's
# resident memory and CPU every SAMPLE_SECONDS, and prints at the end: RSS over time, CPU seconds per
# 1,000 connections, drops, alerts raised vs received by rsyslog. --update-docs (or its old name
# --update-readme) writes the result into docs/PERFORMANCE.md between the soak markers.
set -euo pipefail
cd "$(dirname "$0")/.."

SOAK_SECONDS=${SOAK_SECONDS:-600}
SAMPLE_SECONDS=${SAMPLE_SECONDS:-30}
FLOOD_PPS=${FLOOD_PPS:-200}
UPDATE_DOCS=0
case "${1:-}" in --update-docs | --update-readme) UPDATE_DOCS=1 ;; esac

[ "$(id -u)" -eq 0 ] || { echo "soak: needs root (eBPF, network namespaces)" >&2; exit 1; }
for tool in nginx wrk ip curl /usr/sbin/rsyslogd; do
  command -v "$tool" >/dev/null || { echo "soak: $tool missing; run scripts/install-deps.sh" >&2; exit 1; }
done
/usr/bin/python3 -c 'import scapy' 2>/dev/null || { echo "soak: python3-scapy missing; run scripts/install-deps.sh" >&2; exit 1; }

swift build -c release --product flowsentry >/dev/null
BIN=$PWD/.build/release/flowsentry
MOUNT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
CGROUP="$MOUNT/flowsentry-soak-$$"
NETNS="fs-soak-$$"
VETH_HOST="fssoak$$h"
VETH_PEER="fssoak$$p"
HOST_ADDRESS=198.51.100.1
PEER_ADDRESS=198.51.100.2
WEB_PORT=18580
FLOOD_PORT=18581
CLOSED_PORT=18582
SYSLOG_PORT=18583
METRICS_PORT=18584
WORK=$(mktemp -d)
PIDS=()
mkdir "$CGROUP"

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  [ -f "$WORK/rsyslog.pid" ] && kill -9 "$(cat "$WORK/rsyslog.pid")" 2>/dev/null || true
  ip netns pids "$NETNS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  sleep 0.5
  for pid in $(cat "$CGROUP/cgroup.procs" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  sleep 0.2
  rmdir "$CGROUP" 2>/dev/null || true
  ip link del "$VETH_HOST" 2>/dev/null || true
  ip netns del "$NETNS" 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] && echo "soak: kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

source scripts/lib-web.sh

# The test host: a namespace on a veth pair, the /24 routed on the veth alone.
ip netns add "$NETNS"
ip link add "$VETH_HOST" type veth peer name "$VETH_PEER"
ip link set "$VETH_PEER" netns "$NETNS"
ip addr add "$HOST_ADDRESS/24" dev "$VETH_HOST"
ip link set "$VETH_HOST" up
ip -n "$NETNS" addr add "$PEER_ADDRESS/24" dev "$VETH_PEER"
ip -n "$NETNS" link set "$VETH_PEER" up
ip -n "$NETNS" link set lo up

# rsyslog on loopback, one line per message received.
cat > "$WORK/rsyslog.conf" <<CONF
global(workDirectory="$WORK" maxMessageSize="256k")
module(load="imtcp")
template(name="line" type="string" string="%msg%\n")
ruleset(name="in") { action(type="omfile" file="$WORK/received.log" template="line") }
input(type="imtcp" port="$SYSLOG_PORT" address="127.0.0.1" ruleset="in")
CONF
/usr/sbin/rsyslogd -n -f "$WORK/rsyslog.conf" -i "$WORK/rsyslog.pid" >"$WORK/rsyslog.out" 2>&1 &
PIDS+=($!)

start_test_nginx "127.0.0.1:$WEB_PORT" "$HOST_ADDRESS:$FLOOD_PORT"
sleep 0.5

"$BIN" monitor --cgroup "$CGROUP" --log-format json --metrics-address "127.0.0.1:$METRICS_PORT" \
  --spool-dir "$WORK/spool" --output stdout --output "syslog+tcp://127.0.0.1:$SYSLOG_PORT?name=soak" \
  >/dev/null 2>"$WORK/monitor.log" &
MONITOR=$!
PIDS+=($MONITOR)
for _ in $(seq 1 100); do grep -q "monitoring cgroup" "$WORK/monitor.log" && break; sleep 0.1; done
grep -q "monitoring cgroup" "$WORK/monitor.log" || { cat "$WORK/monitor.log" >&2; exit 1; }

# The flood: SYNs from spoofed sources of the test host's /24, to the open port (half-open) and to
# the closed one (refused), FLOOD_PPS each, for the whole run.
cat >"$WORK/flood.py" <<'PY'
import random, sys, time
from scapy.all import IP, TCP, conf
conf.verb = 0
target, open_port, closed_port, pps, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
sock = conf.L3socket()
sent = 0
end = time.monotonic() + seconds
next_send = time.monotonic()
while time.monotonic() < end:
    for port in (open_port, closed_port):
        source = "198.51.100.%d" % random.randint(10, 250)
        sock.send(IP(src=source, dst=target) / TCP(sport=random.randint(1024, 65535), dport=port, flags="S", seq=random.getrandbits(32)))
        sent += 1
    next_send += 1.0 / pps
    delay = next_send - time.monotonic()
    if delay > 0:
        time.sleep(delay)
print(sent)
PY
ip netns exec "$NETNS" /usr/bin/python3 "$WORK/flood.py" "$HOST_ADDRESS" "$FLOOD_PORT" "$CLOSED_PORT" \
  "$FLOOD_PPS" "$SOAK_SECONDS" >"$WORK/flood.out" 2>"$WORK/flood.err" &
FLOOD=$!
PIDS+=($FLOOD)

in_cgroup wrk -t 2 -c 32 -d "${SOAK_SECONDS}s" -H "Connection: close" "http://127.0.0.1:$WEB_PORT/" >"$WORK/wrk.out" 2>&1 &
WRK=$!
PIDS+=($WRK)

cpu_seconds() { awk '{ printf "%.1f", ($14 + $15) / 100 }' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
metric() { curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" | awk -v name="$1" '$1 == name { printf "%.0f", $2 }'; }

echo "soak: ${SOAK_SECONDS}s, samples every ${SAMPLE_SECONDS}s (elapsed s, RSS MiB, CPU s, begins)" >&2
SAMPLES=""
START=$(date +%s)
while kill -0 "$WRK" 2>/dev/null; do
  sleep "$SAMPLE_SECONDS"
  kill -0 "$MONITOR" 2>/dev/null || { echo "soak: the sensor died" >&2; cat "$WORK/monitor.log" >&2; exit 1; }
  ROW="$(($(date +%s) - START)) $(rss_mib "$MONITOR") $(cpu_seconds "$MONITOR") $(metric 'flowsentry_events_total{event="net_flow_tcp_begin"}')"
  echo "  $ROW" >&2
  SAMPLES+="$ROW"$'\n'
done
wait "$WRK" || true
wait "$FLOOD" || true
FINAL_RSS=$(rss_mib "$MONITOR")
FINAL_CPU=$(cpu_seconds "$MONITOR")
kill -TERM "$MONITOR"
wait "$MONITOR" || true
# The sensor delivered before it exited (or left the rest spooled, counted); omfile writes at the
# end of each transaction.
sleep 2

RESULT=$(/usr/bin/python3 - "$WORK" "$SOAK_SECONDS" "$FINAL_RSS" "$FINAL_CPU" "$SAMPLES" "$SAMPLE_SECONDS" <<'PY'
import json, os, re, sys
work, seconds, final_rss, final_cpu, samples = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
interval = sys.argv[6]
records = [json.loads(line) for line in open(os.path.join(work, "monitor.log")) if line.startswith("{")]
stopped = [r for r in records if r.get("message") == "stopped"][-1]
wrk = open(os.path.join(work, "wrk.out")).read()
requests = int(re.search(r"(\d+) requests in", wrk).group(1))
flood = int(open(os.path.join(work, "flood.out")).read().strip() or 0)
# Each message is one alert as JSON: counted by its id, so duplicates and damage would show.
ids, unreadable = [], 0
path = os.path.join(work, "received.log")
for line in (open(path) if os.path.exists(path) else []):
    try:
        ids.append(json.loads(line[line.index("{"):])["alert_id"])
    except (ValueError, KeyError):
        unreadable += 1
received, duplicates = len(set(ids)), len(ids) - len(set(ids))
alerts = stopped.get("alerts", 0)
raised = sum(alerts.values()) if isinstance(alerts, dict) else alerts
by_rule = ", ".join("%s %d" % kv for kv in sorted(alerts.items())) if isinstance(alerts, dict) else "none"
drops = stopped["drops"]
events = stopped["events"]
output_dropped = stopped.get("output_dropped", {}).get("soak", {})
def total(node):
    return sum(total(v) for v in node.values()) if isinstance(node, dict) else node
rows = [line.split() for line in samples.strip().splitlines() if line.strip()]
rss = [float(r[1]) for r in rows]
first_minute = next((float(r[1]) for r in rows if int(r[0]) >= 60), rss[0] if rss else final_rss)
connections = requests
print("| measure | value |")
print("|---|---|")
print("| duration | %d s (wrk 2 threads, 32 connections, `Connection: close`; SYN flood + refused storm %d SYNs from 241 spoofed sources) |" % (seconds, flood))
print("| loopback connections (wrk requests, each its own connection) | %d (%.0f/s) |" % (connections, connections / seconds))
print("| flow events made (begin / end) | %d / %d |" % (events["net_flow_tcp_begin"], events["net_flow_tcp_end"]))
print("| sensor RSS: after 1 min / at the end / highest sample | %.1f / %.1f / %.1f MiB (target ≤ 150 MiB, flat) |" % (first_minute, final_rss, max(rss + [final_rss])))
print("| RSS samples every %s s (MiB) | %s |" % (interval, " ".join("%.0f" % v for v in rss)))
print("| sensor CPU | %.1f s: %.3f s per 1,000 connections (both ends watched: 2 flows each) |" % (final_cpu, 1000 * final_cpu / max(connections, 1)))
print("| drops: ring buffer / queue | %d / %d |" % (drops["ring_buffer"], drops["queue"]))
print("| half-open attempts counted | %d |" % stopped.get("half_open_attempts", 0))
print("| alerts raised / received by rsyslog (unique ids) | %d / %d (%s); duplicates %d, unreadable %d; output drops %d, left in spool %s |" % (raised, received, by_rule, duplicates, unreadable, total(output_dropped), stopped.get("output_spool_records", {}).get("soak", "?")))
PY
)
TABLE="$RESULT

Measured by \`scripts/soak.sh\` on $(nproc) cores, kernel $(uname -r), $(date -u +%Y-%m-%d)."
echo "$TABLE"
if [ "$UPDATE_DOCS" = 1 ]; then scripts/update-doc-section.py soak "$TABLE"; fi
