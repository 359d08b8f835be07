import FlowsentryOutput
import FlowsentryPackets
import FlowsentryPipeline
import FlowsentryRules
import Foundation

extension Replayer {
  /// Runs a rule test that names a capture: the file replayed with the rule under test alone, its
  /// `local` networks, and the alerts it raised. `rules test` and the test suite both use it.
  public static let ruleTestCaptures: RuleTestRunner.CaptureRunner = { capture, rules in
    guard FileManager.default.isReadableFile(atPath: capture.path) else {
      return .failure(.init("cannot read the capture \(capture.path)"))
    }
    var observing = PacketObserver.Configuration()
    if !capture.localNetworks.isEmpty { observing.localNetworks = capture.localNetworks }
    let replayer = Replayer(
      pipeline: Pipeline(configuration: Pipeline.Configuration().validatingSegments, rules: rules),
      observer: PacketObserver(configuration: observing))
    let alerts = InMemoryEventSink()
    let sink = SelectingEventSink(selection: [], alerts)
    replayer.replay(path: capture.path, to: sink)
    // As `replay` ends: a lookup the capture holds no answer to is unanswered, and may alert.
    replayer.finish(to: sink)
    if let error = replayer.summary.fileErrors.first { return .failure(.init(error)) }
    return .success(alerts.alerts)
  }
}
