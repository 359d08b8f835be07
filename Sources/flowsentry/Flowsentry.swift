import ArgumentParser
import FlowsentryCore

@main
struct Flowsentry: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "flowsentry",
    abstract: "A host network security sensor: TCP flow events from eBPF, as JSON lines.",
    version: FlowsentryVersion.current,
    subcommands: [
      MonitorCommand.self, ReplayCommand.self, RulesCommand.self, ConfigCommand.self, StatusCommand.self,
      VersionCommand.self,
    ]
  )
}

/// Options every subcommand understands.
struct CommonOptions: ParsableArguments {
  @Flag(name: .shortAndLong, help: "Log diagnostics (libbpf, lifecycle) to stderr.")
  var verbose = false
}

struct VersionCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

  func run() {
    print("flowsentry \(FlowsentryVersion.current) (event schema \(EventJSONSchema.version))")
  }
}
