import ArgumentParser
import FlowsentryAggregate
import FlowsentryCapture
import FlowsentryCore
import FlowsentryForwarding
import FlowsentryMetrics
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryRules
import Foundation

/// `flowsentry docs`: the reference pages that code can write, for `scripts/docs.py` (hidden: for
/// the docs' generator, not for operators).
struct DocsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "docs",
    abstract: "Print what the generated reference pages are made from.",
    shouldDisplay: false,
    subcommands: [CountersCommand.self]
  )

  /// `flowsentry docs counters`: every row kind of the counter table, as JSON.
  struct CountersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "counters",
      abstract: "Print the counter table's families (name, kind, labels and their values, help) as JSON.")

    func run() throws {
      let data = try JSONSerialization.data(
        withJSONObject: DocsCommand.counterFamilies(), options: [.prettyPrinted, .sortedKeys])
      FileHandle.standardOutput.write(data + Data("\n".utf8))
    }
  }

  /// Stands for a value that is a name chosen at run time (a rule id, an output's name).
  static let ruleIDPlaceholder = "RULE_ID"
  static let outputNamePlaceholder = "OUTPUT_NAME"
  static let listNamePlaceholder = "LIST_NAME"
  static let fieldNamePlaceholder = "FIELD"
  /// The page would otherwise change with every release.
  static let versionPlaceholder = "VERSION"

  /// The monitor's counter table at zero with one row of each per-instance kind (one rule, one
  /// output, `--record` on), folded into families in the table's order.
  static func counterFamilies() throws -> [[String: Any]] {
    // The monitor's own assembly of the table, so that the page lists what /metrics shows.
    var pipeline = Pipeline(rules: try RuleLoader.load(sources: RuleLoader.builtInRules, paths: [])).counters
    guard var rule = pipeline.perRule.first else {
      throw ValidationError("the built-in rules are empty: no per-rule rows to describe")
    }
    rule.ruleID = ruleIDPlaceholder
    pipeline.perRule = [rule]
    guard var list = pipeline.intelLists.first else {
      throw ValidationError("the built-in rules have no typed list: no per-list rows to describe")
    }
    list.name = listNamePlaceholder
    pipeline.intelLists = [list]
    var samples = MonitorMetrics(
      pipeline: pipeline, capture: CaptureSession.Statistics(), stdout: JSONLinesEventSink.Counters(),
      recorded: (JSONLinesEventSink.Counters(), 0, 0), outputs: [],
      patterns: .documentationSample(field: fieldNamePlaceholder)
    ).samples()
    // A ForwardingOutput opens its spool when made: its rows come from its counters alone, where
    // the monitor puts them (before the process's own rows).
    let processRows = samples.firstIndex { !$0.name.hasPrefix("flowsentry_") } ?? samples.endIndex
    // A nats:// output's counters too, so that the page lists its rows.
    var outputCounters = ForwardingOutput.Counters()
    outputCounters.nats = NATSPublishCounters()
    samples.insert(contentsOf: outputCounters.samples(output: outputNamePlaceholder), at: processRows)
    // With --metrics-address, the server's own rows.
    samples.insert(contentsOf: MetricsServer.Counters().samples, at: processRows)
    // `aggregate --metrics-address`: its input's rows (beside the rules', outputs' and process's).
    samples.insert(contentsOf: Aggregator.Counters().samples, at: processRows)

    for index in samples.indices where samples[index].name == MetricSample.buildInfo.name {
      samples[index].labels = samples[index].labels.map { $0.0 == "version" ? ($0.0, versionPlaceholder) : $0 }
    }

    var order: [String] = []
    var families: [String: (sample: MetricSample, labels: [String: [String]], labelOrder: [String])] = [:]
    for sample in samples {
      if families[sample.name] == nil {
        order.append(sample.name)
        families[sample.name] = (sample, [:], [])
      }
      for (label, value) in sample.labels {
        if families[sample.name]!.labels[label] == nil { families[sample.name]!.labelOrder.append(label) }
        if !(families[sample.name]!.labels[label, default: []].contains(value)) {
          families[sample.name]!.labels[label, default: []].append(value)
        }
      }
    }
    return order.map { name in
      let family = families[name]!
      let kind: String
      switch family.sample.kind {
      case .counter: kind = "counter"
      case .gauge: kind = "gauge"
      case .histogram: kind = "histogram"
      }
      return [
        "name": name, "short_name": family.sample.shortName, "kind": kind, "help": family.sample.help,
        "labels": family.labelOrder.map { ["name": $0, "values": family.labels[$0]!] },
      ]
    }
  }
}
