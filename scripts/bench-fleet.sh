#!/usr/bin/env bash
# The fleet's rates against a local JetStream (one nats-server on a loopback port, file storage in
# a temporary directory):
#   alerts/s   a replay raising one alert per connection, published with acknowledgements
#   events/s   a replay publishing its flow events (events=flows), with acknowledgements
#   aggregate  events/s through one `flowsentry aggregate` instance (the shipped fleet rules),
#              reading the events stream written above from a durable pull consumer
# A replay's rate is its records over its whole run (reading the capture, rules, spooling, and
# waiting for the last acknowledgement). Prints a table; with --update-docs writes it into
# docs/PERFORMANCE.md between the bench:fleet markers. BIN=... runs another build (default: release).
set -euo pipefail
cd "$(dirname "$0")/.."

ALERTS=${ALERTS:-20000}
EVENTS=${EVENTS:-50000}
UPDATE_DOCS=0
[ "${1:-}" = "--update-docs" ] && UPDATE_DOCS=1
NATS_SERVER=${NATS_SERVER:-/usr/sbin/nats-server}
[ -x "$NATS_SERVER" ] || { echo "bench-fleet: nats-server missing; run scripts/install-deps.sh" >&2; exit 1; }

if [ -z "${BIN:-}" ]; then
  swift build -c release --product flowsentry >/dev/null
  BIN=.build/release/flowsentry
fi
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/nats.conf" <<CONF
listen: 127.0.0.1:$PORT
jetstream { store_dir: "$WORK/store", max_memory_store: 64MB, max_file_store: 4GB }
CONF
"$NATS_SERVER" -c "$WORK/nats.conf" 2>"$WORK/nats.log" &
SERVER=$!

# JetStream's API is request and reply on $JS.API.*: a few lines of the NATS protocol do.
jetstream() {
  python3 - "$PORT" "$1" "$2" <<'PY'
import json, socket, sys, time
port, subject, body = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
for _ in range(100):
    try:
        sock = socket.create_connection(("127.0.0.1", port)); break
    except OSError:
        time.sleep(0.1)
sock.recv(4096)
sock.sendall(b'CONNECT {"verbose":false}\r\nSUB _INBOX.bench 1\r\n'
             + b"PUB %s _INBOX.bench %d\r\n%s\r\n" % (subject.encode(), len(body), body))
data = b""
while True:
    data += sock.recv(65536)
    if b"MSG " in data and b"\r\n" in data.split(b"MSG ", 1)[1]:
        head, rest = data.split(b"MSG ", 1)[1].split(b"\r\n", 1)
        size = int(head.split()[-1])
        while len(rest) < size:
            rest += sock.recv(65536)
        print(rest[:size].decode())
        break
PY
}
stream() {
  jetstream "\$JS.API.STREAM.CREATE.$1" "{\"name\":\"$1\",\"subjects\":[\"$2\"],\"storage\":\"file\",\"num_replicas\":1}" >/dev/null
}
messages() { jetstream "\$JS.API.STREAM.INFO.$1" "" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"]["messages"])'; }

stream BENCH_ALERTS 'bench.al.>'
stream BENCH_EVENTS 'bench.ev.>'

# N handshakes from distinct clients to 203.0.113.80:8443, a millisecond apart.
python3 - "$WORK/connections.pcap" "$(( ALERTS > EVENTS ? ALERTS : EVENTS ))" <<'PY'
import struct, sys
path, count = sys.argv[1], int(sys.argv[2])
def checksum(data):
    if len(data) % 2: data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF
def frame(src, dst, sport, dport, flags, seq, ack):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + ip + tcp
with open(path, "wb") as out:
    out.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
    server = bytes([203, 0, 113, 80])
    for i in range(count):
        client = bytes([10, (i >> 16) & 255, (i >> 8) & 255, i & 255])
        port = 20000 + i % 40000
        t = 1_780_000_000_000_000_000 + i * 1_000_000
        for delta, (a, b, sp, dp, fl, sq, ak) in enumerate([
            (client, server, port, 8443, 0x02, 100, 0),
            (server, client, 8443, port, 0x12, 500, 101),
            (client, server, port, 8443, 0x10, 101, 501)]):
            data = frame(a, b, sp, dp, fl, sq, ak)
            ts = t + delta * 100_000
            out.write(struct.pack("<IIII", ts // 1_000_000_000, ts % 1_000_000_000, len(data), len(data)) + data)
PY
python3 - "$WORK/connections.pcap" "$WORK/alerts.pcap" "$ALERTS" "$WORK/events.pcap" "$EVENTS" <<'PY'
import sys
source = open(sys.argv[1], "rb").read()
header, body = source[:24], source[24:]
def first(n):
    out, offset = bytearray(header), 0
    for _ in range(3 * n):
        size = int.from_bytes(body[offset + 8:offset + 12], "little")
        out += body[offset:offset + 16 + size]; offset += 16 + size
    return bytes(out)
open(sys.argv[2], "wb").write(first(int(sys.argv[3])))
open(sys.argv[4], "wb").write(first(int(sys.argv[5])))
PY
cat >"$WORK/rule.yaml" <<'RULE'
- rule:
    id: BENCH-001
    name: Every connection to the benchmark port
    description: One alert per connection.
    severity: medium
    events: [net_flow_tcp_begin]
    condition: local_port == 8443
    output: "{remote}:{remote_port}"
RULE

now() { date +%s.%N; }
rate() { python3 -c "print(f'{$1 / ($3 - $2):,.0f}')"; }

start=$(now)
"$BIN" replay --no-default-rules --rules "$WORK/rule.yaml" --host bench --local 203.0.113.0/24 \
  --output "nats://127.0.0.1:$PORT?subject=bench.al.{rule}" --spool-dir "$WORK/spool-alerts" \
  "$WORK/alerts.pcap" 2>"$WORK/alerts.log"
end=$(now)
stored=$(messages BENCH_ALERTS)
[ "$stored" -eq "$ALERTS" ] || { echo "bench-fleet: $stored of $ALERTS alerts stored" >&2; tail -5 "$WORK/alerts.log" >&2; exit 1; }
ALERT_RATE=$(rate "$ALERTS" "$start" "$end")

start=$(now)
"$BIN" replay --no-default-rules --host bench --local 203.0.113.0/24 \
  --output "nats://127.0.0.1:$PORT?subject=bench.ev.{remote}&events=flows" --spool-dir "$WORK/spool-events" \
  "$WORK/events.pcap" 2>"$WORK/events.log"
end=$(now)
stored=$(messages BENCH_EVENTS)
[ "$stored" -eq "$EVENTS" ] || { echo "bench-fleet: $stored of $EVENTS events stored" >&2; tail -5 "$WORK/events.log" >&2; exit 1; }
EVENT_RATE=$(rate "$EVENTS" "$start" "$end")

"$BIN" aggregate --input "nats://127.0.0.1:$PORT?stream=BENCH_EVENTS&consumer=bench&subject=bench.ev.>" \
  --until-idle 2 --log-format json 2>"$WORK/aggregate.log" >/dev/null
AGGREGATE=$(python3 - "$WORK/aggregate.log" "$EVENTS" <<'PY'
import json, re, sys
for line in open(sys.argv[1]):
    match = re.search(r"(\d+) messages, (\d+) of them after the first batch in ([\d.]+) s", line)
    if match:
        total, counted, seconds = int(match[1]), int(match[2]), float(match[3])
        if total != int(sys.argv[2]): sys.exit(f"aggregate read {total} of {sys.argv[2]} events")
        print(f"{counted / seconds:,.0f}"); break
else:
    sys.exit("aggregate did not report")
PY
)

CPU=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
TABLE="| what | rate |
|---|---|
| alerts published to JetStream, each acknowledged ($ALERTS alerts, one replay) | $ALERT_RATE alerts/s |
| flow events published to JetStream, each acknowledged ($EVENTS events, one replay) | $EVENT_RATE events/s |
| events through one \`aggregate\` instance (shipped fleet rules, one partition, ack after window) | $AGGREGATE events/s |

Measured by \`scripts/bench-fleet.sh\` on $(nproc) CPUs ($CPU), $(date -u +%Y-%m-%d), one nats-server $("$NATS_SERVER" --version | awk '{print $NF}') on loopback with file storage."
echo "$TABLE"
[ "$UPDATE_DOCS" -eq 1 ] && scripts/update-doc-section.py fleet "$TABLE"
exit 0
