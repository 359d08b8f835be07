// swift-tools-version:6.1
import PackageDescription

// The pipeline, one target per stage, data flowing one way:
//   FlowsentryCapture → FlowsentryFlows → FlowsentryDNS (enrichment) → (rules) → FlowsentryOutput
// FlowsentryCore holds the value types every stage shares and imports no C of ours.
// libbpf is imported by exactly one Swift module, FlowsentryCapture, through CFlowsentryLibbpf.
let package = Package(
  name: "flowsentry",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "flowsentry", targets: ["flowsentry"])
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
  ],
  targets: [
    .target(name: "FlowsentryCore"),

    // The kernel/user record layout: bpf/include/flowsentry_record.h, shared with bpf/*.bpf.c.
    .target(
      name: "CFlowsentryRecord",
      path: "bpf",
      exclude: ["flowsentry.bpf.c"],
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
    .target(name: "FlowsentryOutput", dependencies: ["FlowsentryCore"]),
    .executableTarget(
      name: "flowsentry",
      dependencies: [
        "FlowsentryCore", "FlowsentryCapture", "FlowsentryFlows", "FlowsentryDNS", "FlowsentryOutput",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]
    ),

    .executableTarget(
      name: "PipelineBenchmark",
      dependencies: ["FlowsentryCore", "FlowsentryFlows", "FlowsentryDNS", "FlowsentryOutput"],
      path: "Benchmarks/PipelineBenchmark"
    ),

    .testTarget(name: "FlowsentryCoreTests", dependencies: ["FlowsentryCore"]),
    .testTarget(name: "FlowsentryFlowsTests", dependencies: ["FlowsentryFlows", "FlowsentryCore"]),
    .testTarget(name: "FlowsentryDNSTests", dependencies: ["FlowsentryDNS", "FlowsentryCore"]),
    .testTarget(name: "FlowsentryOutputTests", dependencies: ["FlowsentryOutput", "FlowsentryCore"]),
    .testTarget(
      name: "FlowsentryCaptureTests",
      dependencies: [
        "FlowsentryCapture", "FlowsentryFlows", "FlowsentryDNS", "FlowsentryOutput", "FlowsentryCore",
        "CFlowsentryRecord",
        "flowsentry",
      ]
    ),
  ]
)
