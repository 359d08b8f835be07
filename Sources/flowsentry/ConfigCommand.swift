import ArgumentParser
import FlowsentryConfiguration
import Foundation

struct ConfigCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "config",
    abstract: "Check a configuration file, or show the effective configuration.",
    subcommands: [Check.self, Show.self]
  )

  struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Report every problem of a configuration file as file:line:col; exit 1 if there is one.")

    @Argument(help: "The configuration file (default \(SensorConfiguration.defaultPath)).")
    var file: String = SensorConfiguration.defaultPath

    func run() throws {
      do {
        let settings = try ConfigurationLoader.load(path: file)
        // Rule paths must load too: a configuration naming broken rules would not start either.
        guard PipelineOptions.loadRules(settings) != nil else { throw ExitCode.failure }
        print("\(file): ok (\(settings.outputs.count) forwarding outputs, \(settings.rulePaths.count) rule paths)")
      } catch let error as ConfigurationError {
        for diagnostic in error.diagnostics { standardError(diagnostic.description) }
        throw ExitCode.failure
      }
    }
  }

  struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print the effective configuration (the file, then the flags given here) as YAML.")

    @OptionGroup var pipeline: PipelineOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
      guard var settings = pipeline.settings() else { throw ExitCode.failure }
      output.apply(to: &settings)
      print(settings.yaml, terminator: "")
    }
  }
}
