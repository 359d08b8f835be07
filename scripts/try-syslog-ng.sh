#!/usr/bin/env bash
# Tries docs/FORWARDING.md's syslog-ng receiving configuration end to end, as a user would: takes
# syslog-ng 3.38 from Debian without installing it (syslog-ng-core conflicts with rsyslog, which the
# tests need), runs it in the foreground from a temporary directory, replays a capture with
# flowsentry to it in json, ecs and cef over framed TCP and mutual TLS, and compares what syslog-ng
# parsed (RFC 5424 header, structured data, the json-parser'd body) with what flowsentry sent, as
# written by a file output in the same run. Exits non-zero on any mismatch. Not part of CI.
#
#   scripts/try-syslog-ng.sh [FLOWSENTRY_BINARY]   (default .build/debug/flowsentry)
#   KEEP=1 keeps the temporary directory (configuration, what was sent and received, logs).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
flowsentry=${1:-$root/.build/debug/flowsentry}
capture=$root/rules/captures/refused-storm.pcap
[[ -x $flowsentry ]] || { echo "no flowsentry binary at $flowsentry (swift build --product flowsentry)" >&2; exit 2; }

work=$(mktemp -d /tmp/try-syslog-ng.XXXXXX)
[[ -n ${KEEP:-} ]] && echo "work: $work"
syslog_ng_pid=
cleanup() {
  if [[ -n $syslog_ng_pid ]] && kill -0 "$syslog_ng_pid" 2>/dev/null; then
    kill "$syslog_ng_pid"
    wait "$syslog_ng_pid" 2>/dev/null || true
  fi
  [[ -n ${KEEP:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

# syslog-ng-core and the libraries it needs that this machine lacks, downloaded and unpacked only.
mkdir -p "$work/debs" "$work/root"
chmod 755 "$work" && chmod 777 "$work/debs" # apt-get download runs as _apt
packages=(syslog-ng-core)
for dependency in $(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances syslog-ng-core | awk '/Depends:/ && $2 !~ /^</ {print $2}' | sort -u); do
  dpkg-query -W -f='${Status}' "$dependency" 2>/dev/null | grep -q 'ok installed' || packages+=("$dependency")
done
echo "downloading ${packages[*]}"
(cd "$work/debs" && apt-get download -q "${packages[@]}" >/dev/null)
for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$work/root"; done
export LD_LIBRARY_PATH=$work/root/usr/lib/x86_64-linux-gnu:$work/root/lib/x86_64-linux-gnu:$work/root/usr/lib/syslog-ng
syslog_ng=$work/root/usr/sbin/syslog-ng
"$syslog_ng" --version | head -1

# Test PKI: a CA, the receiver's certificate for 127.0.0.1, the sensor's client certificate.
pki=$work/pki
mkdir -p "$pki/ca.d"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=try-ca \
  -keyout "$pki/ca-key.pem" -out "$pki/ca.pem" 2>/dev/null
for name in server client; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=try-$name" \
    -keyout "$pki/$name-key.pem" -out "$pki/$name.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=%s\n' \
    "$([[ $name == server ]] && echo serverAuth || echo clientAuth)" >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca-key.pem" -CAcreateserial \
    -days 2 -extfile "$pki/$name.ext" -out "$pki/$name.pem" 2>/dev/null
done
cp "$pki/ca.pem" "$pki/ca.d/"
openssl rehash "$pki/ca.d"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
sensor_host=try-sensor.example
tcp_port=$(free_port)
tls_port=$(free_port)

# The configuration shown in docs/FORWARDING.md, taken from it with only its ports and paths
# changed, plus a log path whose template prints the parsed macros, written per source and kind.
out=$work/out
mkdir -p "$out"
awk '/^syslog-ng \(3\.38/ {section = 1} section && /^```$/ {if (inside) exit; inside = 1; next} inside' \
  "$root/docs/FORWARDING.md" |
  sed -e "s|port(514)|ip(127.0.0.1) port($tcp_port)|; s|port(6514)|ip(127.0.0.1) port($tls_port)|" \
    -e "s|/etc/syslog-ng/|$pki/|g; s|/var/log/flowsentry/|$out/|g" >"$work/syslog-ng.conf"
grep -q "port($tls_port)" "$work/syslog-ng.conf" || { echo "no syslog-ng configuration in docs/FORWARDING.md" >&2; exit 2; }
checked='$(format-json host=${HOST} program=${PROGRAM} pid=${PID} msgid=${MSGID} facility=${FACILITY}
  level=${LEVEL} date=${ISODATE} sd_alert_id=${.SDATA.flowsentry@32473.alert_id}
  sd_rule_id=${.SDATA.flowsentry@32473.rule_id} sd_severity=${.SDATA.flowsentry@32473.severity}
  sd_event=${.SDATA.flowsentry@32473.event} message=${MESSAGE} --key flowsentry.*)\n'
cat >>"$work/syslog-ng.conf" <<EOF
destination d_checked_json { file("$out/\${SOURCE}-json.jsonl" template("$checked")); };
destination d_checked_cef { file("$out/\${SOURCE}-cef.jsonl" template("$checked")); };
log {
  source(s_flowsentry_tcp); source(s_flowsentry_tls);
  if (filter(f_flowsentry_cef)) { destination(d_checked_cef); }
  else { parser(p_flowsentry); destination(d_checked_json); };
};
EOF
"$syslog_ng" --syntax-only -f "$work/syslog-ng.conf" --module-path "$work/root/usr/lib/syslog-ng/3.38"
"$syslog_ng" -F --no-caps -f "$work/syslog-ng.conf" -R "$work/persist" -p "$work/pid" \
  --control "$work/ctl" --module-path "$work/root/usr/lib/syslog-ng/3.38" >"$work/syslog-ng.log" 2>&1 &
syslog_ng_pid=$!
for _ in $(seq 50); do
  [[ -S $work/ctl ]] && break
  kill -0 "$syslog_ng_pid" 2>/dev/null || { cat "$work/syslog-ng.log" >&2; exit 1; }
  sleep 0.1
done
[[ -S $work/ctl ]] || { echo "syslog-ng did not start:" >&2; cat "$work/syslog-ng.log" >&2; exit 1; }

# What syslog-ng parsed against what flowsentry sent, record by record (one connection keeps order).
cat >"$work/compare.py" <<'PY'
import datetime, json, sys

transport, fmt, sent_path, received_path, sensor_host, replay_pid = sys.argv[1:]
sent = [line.rstrip("\n") for line in open(sent_path)]
received = [json.loads(line) for line in open(received_path)]
problems = []
if not sent:
    problems.append("the replay sent no alert")
if len(sent) != len(received):
    problems.append(f"{len(sent)} sent, {len(received)} received")
syslog_level = {"critical": "crit", "high": "err", "medium": "warning", "low": "notice", "info": "info"}
from_ecs = {99: "critical", 73: "high", 47: "medium", 21: "low", 1: "info"}
from_cef = {10: "critical", 8: "high", 5: "medium", 3: "low", 1: "info"}


def identity(body):
    """MSGID, severity, structured data and time (to the second, UTC) as the body states them."""
    if fmt == "json":
        doc = json.loads(body)
        if "event" in doc:
            return doc["event"], "info", {"sd_event": doc["event"]}, doc["time"][:19]
        alert_id, rule_id, severity, second = doc["alert_id"], doc["rule"]["id"], doc["rule"]["severity"], doc["time"][:19]
    elif fmt == "ecs":
        doc = json.loads(body)
        if doc["event"]["kind"] == "event":
            name = doc["event"]["action"]
            return name, "info", {"sd_event": name}, doc["@timestamp"][:19]
        alert_id, rule_id = doc["event"]["id"], doc["rule"]["id"]
        severity, second = from_ecs[doc["event"]["severity"]], doc["@timestamp"][:19]
    else:
        header = body.split("|", 7)
        extension = dict(item.split("=", 1) for item in header[7].split(" ") if "=" in item)
        when = datetime.datetime.fromtimestamp(int(extension["rt"]) / 1000, datetime.timezone.utc)
        second = when.strftime("%Y-%m-%dT%H:%M:%S")
        if "externalId" not in extension:
            return header[4], "info", {"sd_event": header[4]}, second
        alert_id, rule_id, severity = extension["externalId"], header[4], from_cef[int(header[6])]
    return rule_id, severity, {"sd_alert_id": alert_id, "sd_rule_id": rule_id, "sd_severity": severity}, second


def leaves(value, path=""):
    """json-parser's view of a document: nested objects become dotted names, scalars strings,
    arrays of scalars comma-joined lists, arrays holding objects their JSON text, null and [] empty."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from leaves(inner, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        if any(isinstance(item, (dict, list)) for item in value):
            yield path, value
        else:
            yield path, ",".join(leaves_scalar(item) for item in value)
    else:
        yield path, "" if value is None else leaves_scalar(value)


def leaves_scalar(value):
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


for index, (body, record) in enumerate(zip(sent, received)):
    msgid, severity, structured_data, second = identity(body)
    expected = {
        "message": body, "host": sensor_host, "program": "flowsentry", "pid": replay_pid,
        "msgid": msgid, "facility": "local0", "level": syslog_level[severity],
        "sd_alert_id": "", "sd_rule_id": "", "sd_severity": "", "sd_event": "", **structured_data,
    }
    for key, want in expected.items():
        if record.get(key) != want:
            problems.append(f"record {index}: {key} {str(record.get(key))[:80]!r}, sent {want[:80]!r}")
    if not record.get("date", "").startswith(second):
        problems.append(f"record {index}: date {record.get('date')!r}, sent {second}")
    if fmt in ("json", "ecs"):
        parsed = dict(leaves(record.get("flowsentry", {})))
        for path, want in leaves(json.loads(body)):
            got = parsed.pop(path, None)
            if isinstance(want, list):
                got = json.loads(got) if got else None
            if got != want:
                problems.append(f"record {index}: parsed {path} {str(got)[:80]!r}, sent {str(want)[:80]!r}")
        for path in parsed:
            problems.append(f"record {index}: parsed {path} was not sent")
for problem in problems[:20]:
    print(f"{transport} {fmt}: {problem}")
alerts = sum(1 for body in sent if identity(body)[2].get("sd_alert_id"))
print(f"{transport} {fmt}: {len(received)} of {len(sent)} messages ({alerts} alerts, the rest flow events), " + ("all fields match" if not problems else f"{len(problems)} mismatches"))
sys.exit(1 if problems else 0)
PY

# One replay per format and transport; the same run's file output holds the bodies it sent. Each
# received file grows over runs (syslog-ng keeps it open): a run is compared from where it stood.
status=0
for transport in tcp tls; do
  for format in json ecs cef; do
    sent=$work/sent-$transport-$format.jsonl
    if [[ $transport == tcp ]]; then
      url="syslog+tcp://127.0.0.1:$tcp_port?format=$format&events=flows"
    else
      url="syslog+tls://127.0.0.1:$tls_port?format=$format&events=flows&ca=$pki/ca.pem&cert=$pki/client.pem&key=$pki/client-key.pem"
    fi
    received=$out/s_flowsentry_$transport-$([[ $format == cef ]] && echo cef || echo json).jsonl
    before=$( [[ -f $received ]] && wc -l <"$received" || echo 0)
    "$flowsentry" replay --events none --host "$sensor_host" --spool-dir "$work/spool-$transport-$format" \
      --output "$url" --output "file://$sent?format=$format&events=flows" "$capture" >"$work/replay-$transport-$format.log" 2>&1 &
    replay_pid=$!
    if ! wait "$replay_pid"; then
      echo "replay $transport $format failed:"
      cat "$work/replay-$transport-$format.log"
      status=1
      continue
    fi
    for _ in $(seq 100); do
      [[ -f $received ]] && (($(wc -l <"$received") - before >= $(wc -l <"$sent"))) && break
      sleep 0.1
    done
    touch "$received"
    tail -n +"$((before + 1))" "$received" >"$work/received-$transport-$format.jsonl"
    python3 "$work/compare.py" "$transport" "$format" "$sent" "$work/received-$transport-$format.jsonl" \
      "$sensor_host" "$replay_pid" || status=1
  done
done

# The documented destinations got every message of both transports: json and ecs through
# json-parser and format-json, cef as it came.
python3 - "$out/alerts.jsonl" "$out/alerts.cef" "$work"/sent-*.jsonl <<'PY' || status=1
import json, sys

documented, cef, sent = sys.argv[1], sys.argv[2], sys.argv[3:]
want_json = sum(sum(1 for _ in open(path)) for path in sent if not path.endswith("-cef.jsonl"))
want_cef = sum(sum(1 for _ in open(path)) for path in sent if path.endswith("-cef.jsonl"))
lines = open(documented).readlines()
for line in lines:
    doc = json.loads(line)
    data = doc["_SDATA"]["flowsentry@32473"]
    if doc["PROGRAM"] != "flowsentry" or not (data.get("alert_id") or data.get("event")) or not doc["flowsentry"]:
        sys.exit(f"documented destination: {line[:200]}")
cef_lines = [line for line in open(cef) if "CEF:0|flowsentry|" in line]
if (len(lines), len(cef_lines)) != (want_json, want_cef):
    sys.exit(f"documented destinations: {len(lines)} json lines of {want_json}, {len(cef_lines)} cef of {want_cef}")
print(f"documented destinations: {len(lines)} json and ecs lines, {len(cef_lines)} cef lines")
PY
# peer-verify(required-trusted): a sensor without a client certificate delivers nothing; its
# alerts stay in its spool.
before=$(wc -l <"$out/alerts.jsonl")
"$flowsentry" replay --events none --host "$sensor_host" --spool-dir "$work/spool-no-client-cert" \
  --output "syslog+tls://127.0.0.1:$tls_port?format=json&ca=$pki/ca.pem" "$capture" >"$work/replay-no-client-cert.log" 2>&1 || true
sleep 1
if (($(wc -l <"$out/alerts.jsonl") != before)) || ! grep -q 'left in the spool' "$work/replay-no-client-cert.log"; then
  echo "tls without a client certificate: delivered, or not kept in the spool"
  status=1
else
  echo "tls without a client certificate: refused, the alerts kept in the spool"
fi
if grep -qiE 'error|warning' "$work/syslog-ng.log"; then
  echo "syslog-ng said:"
  cat "$work/syslog-ng.log"
fi
((status == 0)) && echo "syslog-ng parsed everything flowsentry sent" || echo "MISMATCH"
exit $status
