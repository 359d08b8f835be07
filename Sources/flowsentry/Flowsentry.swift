import ArgumentParser
import FlowsentryConfiguration
import FlowsentryCore
import FlowsentryLogging
import Logging

@main
struct Flowsentry: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "flowsentry",
    abstract: "A host network security sensor: TCP flow events from eBPF, as JSON lines.",
    version: FlowsentryVersion.current,
    subcommands: [
      MonitorCommand.self, ReplayCommand.self, AggregateCommand.self, RulesCommand.self, ConfigCommand.self,
      StatusCommand.self,
      DocsCommand.self,
      VersionCommand.self,
    ]
  )
}

/// How the long-running commands (monitor, replay) log.
struct CommonOptions: ParsableArguments {
  @Flag(name: .shortAndLong, help: "Log at debug level, the service lifecycle's records included.")
  var verbose = false

  @Option(help: "Log records as text, json (one object per line) or auto: text on a terminal, JSON otherwise.")
  var logFormat: String?

  @Option(help: "Lowest level logged: trace, debug, info (default), notice, warning, error, critical.")
  var logLevel: String?

  func validate() throws {
    if let logFormat, LogFormat(rawValue: logFormat) == nil {
      throw ValidationError("--log-format takes auto, text or json")
    }
    if let logLevel, LogLevel(rawValue: logLevel) == nil {
      throw ValidationError("--log-level takes \(SensorConfiguration.logLevels.joined(separator: ", "))")
    }
  }

  /// Makes swift-log write through the sensor's handler, flags over the configuration file, and
  /// returns the command's logger. Once per process.
  func bootstrapLogging(_ settings: SensorConfiguration) -> Logger {
    let format = self.format(settings)
    let level = verbose ? .debug : Logger.Level(logLevel.flatMap(LogLevel.init(rawValue:)) ?? settings.logLevel)
    SensorLogHandler.bootstrap(format: format, level: level)
    return Logger(label: "flowsentry")
  }

  /// The logger for rule diagnostics when the log is JSON lines (nil when text): a raw multi-line
  /// diagnostic would break a shipper's parsing there, while on a terminal or in a text log the
  /// diagnostic as the checking commands print it (file:line:col at the line's start) reads best.
  func diagnosticsLogger(_ logger: Logger, _ settings: SensorConfiguration) -> Logger? {
    format(settings).resolved == .json ? logger : nil
  }

  /// The log format: the flag's, else the configuration file's.
  private func format(_ settings: SensorConfiguration) -> LogFormat {
    logFormat.flatMap(LogFormat.init(rawValue:)) ?? settings.logFormat
  }
}

struct VersionCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

  func run() {
    print("flowsentry \(FlowsentryVersion.current) (event schema \(EventJSONSchema.version))")
  }
}
