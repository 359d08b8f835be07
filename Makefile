# The two commands a newcomer runs on a fresh Debian 12 machine, as root:
#   make run    monitor the whole host, events as JSON lines on stdout
#   make test   install what is missing, build, run every test (privileged ones included)
# Both install missing system packages first (scripts/install-deps.sh; apt-get only when something is missing).

SWIFT ?= swift
CLANG ?= $(shell command -v /opt/swift/usr/bin/clang 2>/dev/null || command -v clang)
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
CONFIGURATION ?= debug
BPF_OBJECT := .build/bpf/flowsentry.bpf.o
SKELETON := Sources/CFlowsentryLibbpf/generated/flowsentry.skel.h
BPF_SOURCES := $(wildcard bpf/*.bpf.c) $(wildcard bpf/*.bpf.h) $(wildcard bpf/include/*.h)
ARGS ?=

.PHONY: deps bpf build release run test format lint bench bench-intel fuzz clean embed-rules install docs

deps:
	@scripts/install-deps.sh

$(BPF_OBJECT): $(BPF_SOURCES)
	@mkdir -p $(dir $@)
	$(CLANG) -O2 -g -Wall -Werror -target bpf -I/usr/include/$(shell uname -m)-linux-gnu -Ibpf/include \
		-c bpf/flowsentry.bpf.c -o $@

$(SKELETON): $(BPF_OBJECT)
	$(BPFTOOL) gen skeleton $< name flowsentry_bpf > $@.tmp && mv $@.tmp $@

bpf: $(SKELETON)

build: deps bpf
	$(SWIFT) build -c $(CONFIGURATION) --product flowsentry

release:
	$(MAKE) build CONFIGURATION=release

run: deps bpf
	$(SWIFT) build -c release --product flowsentry
	.build/release/flowsentry monitor --events flows $(ARGS)

test: deps bpf
	$(SWIFT) build --build-tests
	.build/debug/flowsentry version
	.build/debug/flowsentry rules check --no-default-rules rules
	.build/debug/flowsentry rules test --no-default-rules rules
	.build/debug/flowsentry rules check --no-default-rules rules/fleet
	.build/debug/flowsentry rules test --no-default-rules rules/fleet
	scripts/docs.py --check --binary .build/debug/flowsentry
	$(SWIFT) test --skip-build --no-parallel

format:
	$(SWIFT) format --in-place --recursive --parallel Package.swift Sources Tests Benchmarks Fuzz

lint:
	$(SWIFT) format lint --strict --recursive --parallel Package.swift Sources Tests Benchmarks Fuzz
	scripts/embed-rules.py --check
	scripts/check-links.py

# docs/CLI.md and the counter table of docs/METRICS.md, from the code; `make test` checks them.
docs: deps bpf
	$(SWIFT) build -c debug --product flowsentry
	scripts/docs.py --binary .build/debug/flowsentry

# The shipped rules are built into the binary from a generated file; run this after editing rules/.
embed-rules:
	scripts/embed-rules.py

# OLD_FLOWSENTRY=PATH (a release binary of another commit) adds the paired A/B of short connections
# against it (docs/PERFORMANCE.md, bench:datapath-compare).
OLD_FLOWSENTRY ?=
bench: deps bpf
	scripts/bench-datapath.sh --update-docs $(if $(OLD_FLOWSENTRY),--compare $(OLD_FLOWSENTRY))

# Threat-intel load, lookup and recording-replay figures (docs/PERFORMANCE.md, bench:intel).
bench-intel:
	scripts/bench-intel.sh --update-docs

FUZZ_SECONDS ?= 60
fuzz:
	scripts/fuzz.sh dns $(FUZZ_SECONDS)
	scripts/fuzz.sh rules $(FUZZ_SECONDS)
	scripts/fuzz.sh rule-files $(FUZZ_SECONDS)
	scripts/fuzz.sh packets $(FUZZ_SECONDS)
	scripts/fuzz.sh captures $(FUZZ_SECONDS)
	scripts/fuzz.sh intel $(FUZZ_SECONDS)

# The sensor as a service: the binary (built-in rules inside), the example configuration, the
# rules.d directory, the systemd unit. The configuration and the feed refresh's environment file are
# the operator's, but a newer shipped one must not go unseen: an edited one is kept and the shipped
# one installed beside it as config.yaml.new or intel-refresh.env.new. DESTDIR stages it elsewhere.
PREFIX ?= /usr/local
install: release
	install -D -m 0755 .build/release/flowsentry $(DESTDIR)$(PREFIX)/bin/flowsentry
	install -D -m 0755 deploy/flowsentry-intel-fetch $(DESTDIR)$(PREFIX)/bin/flowsentry-intel-fetch
	install -d -m 0755 $(DESTDIR)/etc/flowsentry/rules.d $(DESTDIR)/etc/flowsentry/intel $(DESTDIR)/etc/flowsentry/intel/allow
	scripts/install-conffile.sh 0644 deploy/config.yaml $(DESTDIR)/etc/flowsentry/config.yaml
	install -D -m 0644 deploy/flowsentry.service $(DESTDIR)/etc/systemd/system/flowsentry.service
	install -D -m 0644 deploy/flowsentry-intel-refresh.service $(DESTDIR)/etc/systemd/system/flowsentry-intel-refresh.service
	install -D -m 0644 deploy/flowsentry-intel-refresh.timer $(DESTDIR)/etc/systemd/system/flowsentry-intel-refresh.timer
	scripts/install-conffile.sh 0600 deploy/intel-refresh.env $(DESTDIR)/etc/flowsentry/intel-refresh.env
	@echo "installed; start it with: systemctl daemon-reload && systemctl enable --now flowsentry"

clean:
	rm -rf .build .build-fuzz $(SKELETON)
