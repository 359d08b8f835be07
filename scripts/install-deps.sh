#!/usr/bin/env bash
# Installs the Debian packages flowsentry needs to build, test and benchmark, only those missing.
set -euo pipefail

packages=(
  libbpf-dev libelf-dev zlib1g-dev libpcre2-dev libhyperscan-dev # the C libraries we link
  libpcap-dev                                   # capture files for flowsentry replay
  bpftool                                       # skeleton generation; tests read `bpftool cgroup show`
  iproute2 procps                               # network namespaces for test hosts
  curl nginx-light iperf3 wrk                   # run-command demo and the datapath benchmark
  time                                          # /usr/bin/time: the CPU time of a whole run (bench-intel)
  dnsmasq-base bind9-dnsutils                   # a real resolver and client for the DNS tests
  python3-scapy                                 # crafted packets from a test host (attack tests)
  tcpdump tshark                                # real captures, and an independent count of their TCP conversations
  rsyslog rsyslog-gnutls rsyslog-relp openssl   # a real syslog receiver (TCP, TLS, RELP) and test certificates
  libnats-dev nats-server                       # the NATS C client (nats:// output) and a real JetStream for its tests
)

# Kubernetes' schemas, offline, for the DaemonSet test (PyPI, for the python3 first on PATH).
if ! python3 -c "import kubernetes_validate" 2>/dev/null; then
  echo "install-deps: installing kubernetes-validate (PyPI)" >&2
  python3 -m pip install --quiet kubernetes-validate >/dev/null
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run as root or install them with apt-get" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
