// swift-tools-version:6.1
import PackageDescription

// Dependencies run one way, from the sources of records to the command:
//   FlowsentryCore: value types and settings every stage shares; no C, no other target.
//   Sources: FlowsentryCapture (libbpf, live) and FlowsentryPackets → FlowsentryReplay (libpcap, files).
//   Stages: FlowsentryFlows → FlowsentryDNS (enrichment) → FlowsentryRules → FlowsentryOutput (encoders),
//     chained once by FlowsentryPipeline, which imports no source.
//   After the stages: FlowsentrySpool → FlowsentryForwarding (outputs); FlowsentryMetrics, FlowsentryLogging.
//   FlowsentryConfiguration reads settings for all of them without the capture layer (no BPF object needed).
//   flowsentry, the command, is the only target that imports a source and the outputs together.
// Each C library is imported by exactly one Swift module: libbpf by FlowsentryCapture (CFlowsentryLibbpf),
// PCRE2 and Hyperscan by FlowsentryPatterns (CFlowsentryPCRE2, CFlowsentryHyperscan), libpcap by
// FlowsentryReplay (CFlowsentryPcap), libnats by FlowsentryNATS (CFlowsentryNATS).
let package = Package(
  name: "flowsentry",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "flowsentry", targets: ["flowsentry"])
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
  ],
  targets: [
    .target(name: "FlowsentryCore"),

    // The kernel/user record layout: bpf/include/flowsentry_record.h, shared with the eBPF programs (bpf/flowsentry.bpf.c and its bpf/*.bpf.h).
    .target(
      name: "CFlowsentryRecord",
      path: "bpf",
      exclude: [
        "flowsentry.bpf.c", "kernel.bpf.h", "maps.bpf.h", "packet_parse.bpf.h", "packet_view.bpf.h",
        "socket_view.bpf.h",
      ],
      sources: ["record_layout.c"],
      publicHeadersPath: "include"
    ),
    // Thin C shim over libbpf and the generated skeleton (`make bpf` writes generated/).
    .target(
      name: "CFlowsentryLibbpf",
      dependencies: ["CFlowsentryRecord"],
      exclude: ["generated/README.md"],
      cSettings: [.headerSearchPath("generated")],
      linkerSettings: [.linkedLibrary("bpf"), .linkedLibrary("elf"), .linkedLibrary("z")]
    ),
    .target(
      name: "FlowsentryCapture",
      dependencies: [
        "FlowsentryCore", "CFlowsentryLibbpf", "CFlowsentryRecord",
        .product(name: "SystemPackage", package: "swift-system"),
      ]
    ),
    .target(name: "FlowsentryFlows", dependencies: ["FlowsentryCore"]),
    .target(name: "FlowsentryDNS", dependencies: ["FlowsentryCore"]),
    // Threat-intel lists from feed files (lines, CSV, Zeek intel): domains, addresses, strings, ports.
    .target(name: "FlowsentryIntel", dependencies: ["FlowsentryCore"]),
    // PCRE2 (8-bit) and Hyperscan, imported by FlowsentryPatterns only.
    .systemLibrary(name: "CFlowsentryPCRE2", pkgConfig: "libpcre2-8", providers: [.apt(["libpcre2-dev"])]),
    .systemLibrary(name: "CFlowsentryHyperscan", pkgConfig: "libhs", providers: [.apt(["libhyperscan-dev"])]),
    // Regular expressions and literal lists at scale: Hyperscan databases whose answers are PCRE2's.
    .target(
      name: "FlowsentryPatterns",
      dependencies: [
        "FlowsentryCore", "CFlowsentryPCRE2", "CFlowsentryHyperscan",
        .product(name: "Crypto", package: "swift-crypto"),
      ]
    ),
    .target(
      name: "FlowsentryRules",
      dependencies: [
        "FlowsentryCore", "FlowsentryIntel", "FlowsentryPatterns", .product(name: "Yams", package: "Yams"),
      ]
    ),
    .target(
      name: "FlowsentryOutput",
      dependencies: ["FlowsentryCore", .product(name: "Crypto", package: "swift-crypto")]
    ),
    // Each forwarding output's disk buffer: segments, checksums, recovery, severity-ordered drops.
    .target(
      name: "FlowsentrySpool",
      dependencies: ["FlowsentryCore", .product(name: "SystemPackage", package: "swift-system")]
    ),
    // Socket facts the kernel gives only through ioctl(2) (bytes the peer has not acknowledged).
    .target(name: "CFlowsentrySocket"),
    // Forwarding outputs: each a thread with a bounded queue, a spool and a transport (syslog over
    // TCP, TLS, UDP), fed by the router that the pipeline hands events and alerts to.
    .target(
      name: "FlowsentryForwarding",
      dependencies: [
        "FlowsentryCore", "FlowsentryOutput", "FlowsentrySpool", "CFlowsentrySocket", "FlowsentryNATS",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "NIOTLS", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "CompressNIO", package: "compress-nio"),
        .product(name: "SystemPackage", package: "swift-system"),
      ]
    ),
    // libnats (NATS with JetStream), imported by FlowsentryNATS only.
    .systemLibrary(name: "CFlowsentryNATS", pkgConfig: "libnats", providers: [.apt(["libnats-dev"])]),
    // A NATS client for the outputs: connect and fail over, credentials from files, JetStream publish with acknowledgements.
    .target(name: "FlowsentryNATS", dependencies: ["CFlowsentryNATS"]),
    // Fleet-wide rules (`flowsentry aggregate`): the fleet's events from JetStream partitions, each
    // acknowledged once it left every window it can feed.
    .target(
      name: "FlowsentryAggregate",
      dependencies: [
        "FlowsentryCore", "FlowsentryNATS", "FlowsentryOutput", "FlowsentryRules",
        .product(name: "HeapModule", package: "swift-collections"),
      ]
    ),
    // The configuration file (and `config check/show`): every setting of a run, positioned errors.
    .target(
      name: "FlowsentryConfiguration",
      dependencies: [
        "FlowsentryCore", "FlowsentryForwarding", "FlowsentryOutput", "FlowsentryPipeline", "FlowsentryRules",
        .product(name: "Yams", package: "Yams"),
      ]
    ),
    // /metrics: the sensor's counters in Prometheus' format (swift-prometheus), served with swift-nio.
    .target(
      name: "FlowsentryMetrics",
      dependencies: [
        "FlowsentryCore",
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
      ]
    ),
    // Logs through swift-log: text on a terminal, JSON lines otherwise; the counter table as metadata.
    .target(
      name: "FlowsentryLogging",
      dependencies: ["FlowsentryCore", .product(name: "Logging", package: "swift-log")]
    ),
    // Packets from capture files: the Swift twin of the eBPF parser, and what a packet means for flows.
    .target(name: "FlowsentryPackets", dependencies: ["FlowsentryCore"]),
    // libpcap, imported by FlowsentryReplay only.
    .systemLibrary(name: "CFlowsentryPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
    .target(
      name: "FlowsentryReplay",
      dependencies: [
        "FlowsentryCore", "FlowsentryPackets", "FlowsentryPipeline", "FlowsentryRules", "FlowsentryOutput",
        "CFlowsentryPcap",
      ]
    ),
    // The stage chain, written once: flow tracking → DNS enrichment → rules → an output. Live
    // capture feeds it, and any other source of records can.
    .target(
      name: "FlowsentryPipeline",
      dependencies: [
        "FlowsentryCore", "FlowsentryFlows", "FlowsentryDNS", "FlowsentryIntel", "FlowsentryRules", "FlowsentryOutput",
      ]
    ),
    .executableTarget(
      name: "flowsentry",
      dependencies: [
        "FlowsentryCore", "FlowsentryCapture", "FlowsentryFlows", "FlowsentryDNS", "FlowsentryRules",
        "FlowsentryOutput", "FlowsentryPipeline", "FlowsentryReplay", "FlowsentryForwarding", "FlowsentryConfiguration",
        "FlowsentryMetrics", "FlowsentryLogging", "FlowsentryAggregate",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "SystemPackage", package: "swift-system"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
      ]
    ),

    .executableTarget(
      name: "PipelineBenchmark",
      dependencies: [
        "FlowsentryCore", "FlowsentryFlows", "FlowsentryDNS", "FlowsentryRules", "FlowsentryOutput",
        "FlowsentryPipeline", "FlowsentryReplay", "FlowsentryForwarding", "FlowsentrySpool",
        .product(name: "SystemPackage", package: "swift-system"),
      ],
      path: "Benchmarks/PipelineBenchmark"
    ),

    .executableTarget(
      name: "PatternsBenchmark",
      dependencies: ["FlowsentryPatterns", "FlowsentryRules", "FlowsentryCore"],
      path: "Benchmarks/PatternsBenchmark"
    ),

    .executableTarget(
      name: "IntelBenchmark",
      dependencies: ["FlowsentryIntel", "FlowsentryCore", "FlowsentryRules"],
      path: "Benchmarks/IntelBenchmark"
    ),

    // What the test targets share: frame and capture builders, paths (the built binary, which
    // tests run as a process, never import), the one process runner (ChildProcess) and the one
    // gate (Requirement, `.requires`).
    .target(name: "FlowsentryTestSupport", dependencies: ["FlowsentryCore"], path: "Tests/Support"),

    .testTarget(name: "FlowsentryCoreTests", dependencies: ["FlowsentryCore"]),
    .testTarget(name: "FlowsentryFlowsTests", dependencies: ["FlowsentryFlows", "FlowsentryCore"]),
    .testTarget(
      name: "FlowsentryRulesTests", dependencies: ["FlowsentryRules", "FlowsentryCore", "FlowsentryTestSupport"]),
    .testTarget(name: "FlowsentryDNSTests", dependencies: ["FlowsentryDNS", "FlowsentryCore"]),
    .testTarget(name: "FlowsentryPatternsTests", dependencies: ["FlowsentryPatterns", "FlowsentryCore"]),
    .testTarget(name: "FlowsentryIntelTests", dependencies: ["FlowsentryIntel", "FlowsentryCore"]),
    .testTarget(name: "FlowsentryOutputTests", dependencies: ["FlowsentryOutput", "FlowsentryCore"]),
    .testTarget(
      name: "FlowsentrySpoolTests", dependencies: ["FlowsentrySpool", "FlowsentryCore", "FlowsentryTestSupport"]),
    .testTarget(name: "FlowsentryMetricsTests", dependencies: ["FlowsentryMetrics", "FlowsentryCore"]),
    .testTarget(
      name: "FlowsentryLoggingTests",
      dependencies: ["FlowsentryLogging", "FlowsentryCore", .product(name: "Logging", package: "swift-log")]
    ),
    .testTarget(
      name: "FlowsentryConfigurationTests",
      dependencies: ["FlowsentryConfiguration", "FlowsentryForwarding", "FlowsentryCore"]
    ),
    .testTarget(
      name: "FlowsentryForwardingTests",
      dependencies: [
        "FlowsentryForwarding", "FlowsentryOutput", "FlowsentrySpool", "FlowsentryCore", "FlowsentryTestSupport",
      ],
      exclude: ["http_receiver.py"]
    ),
    .testTarget(
      name: "FlowsentryNATSTests",
      dependencies: [
        "FlowsentryNATS", "FlowsentryForwarding", "FlowsentryOutput", "FlowsentrySpool", "FlowsentryCore",
        "FlowsentryConfiguration", "FlowsentryTestSupport", "FlowsentryAggregate", "FlowsentryRules",
      ]
    ),
    .testTarget(
      name: "FlowsentryReplayTests",
      dependencies: [
        "FlowsentryPackets", "FlowsentryReplay", "FlowsentryPipeline", "FlowsentryOutput", "FlowsentryRules",
        "FlowsentryCore", "FlowsentryTestSupport",
      ]
    ),
    .testTarget(
      name: "FlowsentryPipelineTests",
      dependencies: [
        "FlowsentryPipeline", "FlowsentryOutput", "FlowsentryRules", "FlowsentryCore", "FlowsentryTestSupport",
      ]
    ),
    .testTarget(
      name: "FlowsentryCaptureTests",
      dependencies: [
        "FlowsentryCapture", "FlowsentryFlows", "FlowsentryDNS", "FlowsentryOutput", "FlowsentryRules",
        "FlowsentryPipeline", "FlowsentryReplay", "FlowsentryPackets", "FlowsentryCore", "CFlowsentryRecord",
        "FlowsentryTestSupport",
      ]
    ),
  ]
)
