import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// Behaviour rules' state: beacon suppression counted once, scoring kept sorted as it goes, and
/// first-seen stores bounded, named uniquely, written off the pipeline and handed over at a reload.
@Suite struct BehaviourStateTests {
  static let second: Int64 = 1_000_000_000
  static let day: Int64 = 86_400 * second

  static func firstSeenRule(id: String = "F-1", extra: String = "") -> String {
    """
    - rule:
        id: "\(id)"
        name: new port
        events: [net_flow_tcp_begin]
        condition: conn_direction == outgoing
        first_seen: {field: remote_port, group_by: [process.comm], learning: 1d\(extra)}
    """
  }

  func begin(_ port: UInt16, command: String = "agent") -> SensorEvent {
    .flow(
      FlowEvent(
        name: .netFlowTCPBegin, timestamp: 0, direction: .outgoing,
        source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress("203.0.113.5")!, port),
        process: ProcessIdentity(pid: 10, uid: 0, command: command)))
  }

  func engine(_ text: String, directory: String?, continuing previous: RuleEngine? = nil) throws -> RuleEngine {
    var configuration = RuleEngine.Configuration()
    configuration.stateDirectory = directory
    return RuleEngine(
      rules: try RuleLoader.load(text: text, file: "f.yaml"), configuration: configuration, continuing: previous)
  }

  func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "flowsentry-behaviour-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  // MARK: beaconing

  @Test func aBeaconKeepsBeaconingAndEachFoldedAlertIsCountedAndReported() throws {
    let text = """
      - rule:
          id: B-1
          name: beacon
          events: [net_flow_tcp_end]
          condition: conn_direction == outgoing
          beacon: {group_by: [remote], min_connections: 10, suppress: 10m}
      """
    let engine = RuleEngine(rules: try RuleLoader.load(text: text, file: "b.yaml"))
    var alerts: [Alert] = []
    // A connection a minute for 30 minutes: alerted at the 10th, then once 10 minutes later.
    for minute in 0..<30 {
      let time = Int64(minute) * 60 * Self.second
      let event = SensorEvent.flow(
        FlowEvent(
          name: .netFlowTCPEnd, timestamp: time, direction: .outgoing,
          source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress("203.0.113.5")!, 443),
          closeReason: .fin, terminatedBy: .local, process: ProcessIdentity(pid: 1, uid: 0, command: "agent")))
      engine.process(event, at: time, into: &alerts)
    }
    #expect(alerts.map(\.count) == [10, 20, 30])
    // Nine connections folded after each of the first two alerts, and reported by the next one.
    #expect(alerts.map(\.suppressed) == [0, 9, 9])
    #expect(engine.counters.suppressed == 18)
    #expect(engine.perRule.first?.suppressed == 18)
  }

  @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
  func scoresFromRingsKeptSortedEqualScoresOfSortedCopies(seed: UInt64) {
    var random = BeaconRuleTests.Generator(state: seed &* 0x9E37_79B9_7F4A_7C15 | 1)
    var intervals = SortedRing()
    var arrived: [UInt32] = []
    for step in 0..<200 {
      // Repeated values, wide values and small ones, so that ties and the median's side are exercised.
      let value = UInt32(
        step % 3 == 0 ? UInt64.random(in: 0...5, using: &random) : UInt64.random(in: 0...100_000, using: &random))
      intervals.append(value, capacity: BeaconRule.intervalCapacity)
      arrived.append(value)
      let window = arrived.suffix(BeaconRule.intervalCapacity).sorted()
      #expect(intervals.sorted == window)
      let shape = BeaconScore.shape(intervals.sorted)
      let reference = Self.referenceShape(window.map(Double.init))
      #expect(abs(shape.median - reference.median) < 1e-9)
      #expect(abs(shape.mad - reference.mad) < 1e-9, "\(window)")
      #expect(abs(shape.skewness - reference.skewness) < 1e-9)
    }
  }

  /// Median, MAD and Bowley skewness by sorting, as written in the definitions.
  static func referenceShape(_ sorted: [Double]) -> (median: Double, mad: Double, skewness: Double) {
    func quantile(_ values: [Double], _ p: Double) -> Double {
      let position = p * Double(values.count - 1)
      let lower = Int(position.rounded(.down))
      let upper = min(lower + 1, values.count - 1)
      return values[lower] + (values[upper] - values[lower]) * (position - Double(lower))
    }
    let median = quantile(sorted, 0.5)
    let q1 = quantile(sorted, 0.25)
    let q3 = quantile(sorted, 0.75)
    let mad = quantile(sorted.map { abs($0 - median) }.sorted(), 0.5)
    return (median, mad, q3 > q1 ? (q3 + q1 - 2 * median) / (q3 - q1) : 0)
  }

  // MARK: first seen

  @Test func idsThatSanitizeAlikeGetFilesOfTheirOwn() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    #expect(FirstSeenStore.fileName("a/b") != FirstSeenStore.fileName("a:b"))
    #expect(FirstSeenStore.fileName("a/b").hasPrefix("a_b-"))
    var alerts: [Alert] = []
    for (id, port) in [("a/b", UInt16(443)), ("a:b", UInt16(22))] {
      let engine = try engine(Self.firstSeenRule(id: id), directory: directory)
      engine.process(begin(port), at: 0, into: &alerts)
      engine.saveState()
    }
    let files = try FileManager.default.contentsOfDirectory(atPath: directory + "/first-seen").sorted()
    #expect(files.count == 2, "\(files)")
    // Each rule reads back its own port: the other's is new to it.
    let first = try engine(Self.firstSeenRule(id: "a/b"), directory: directory)
    first.process(begin(443), at: 2 * Self.day, into: &alerts)
    #expect(alerts.isEmpty)
    first.process(begin(22), at: 2 * Self.day, into: &alerts)
    #expect(alerts.count == 1)
  }

  @Test func aFileNamedTheOldWayIsReadWhenItNamesTheRule() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try FileManager.default.createDirectory(atPath: directory + "/first-seen", withIntermediateDirectories: true)
    try Data(#"{"version":1,"rule":"F-1","groups":[{"group":"process.comm=agent","since":0,"values":["443"]}]}"#.utf8)
      .write(to: URL(fileURLWithPath: directory + "/first-seen/F-1.json"))
    var alerts: [Alert] = []
    let engine = try engine(Self.firstSeenRule(), directory: directory)
    engine.process(begin(443), at: 2 * Self.day, into: &alerts)
    #expect(alerts.isEmpty)
    engine.process(begin(8443), at: 2 * Self.day, into: &alerts)
    #expect(alerts.count == 1)
    #expect(engine.counters.stateFilesDamaged == 0)
  }

  @Test func aRuleKeepsAtMostItsTotalOfValuesForgettingTheLeastRecentGroups() throws {
    let text = Self.firstSeenRule(extra: ", max_values: 10, max_total_values: 20")
    let engine = try engine(text, directory: nil)
    var alerts: [Alert] = []
    // Five processes with five ports each: 25 values, past the 20 the rule keeps.
    for command in 0..<5 {
      for port in 1...5 { engine.process(begin(UInt16(port), command: "p\(command)"), at: 0, into: &alerts) }
    }
    #expect(engine.learnedStores.first?.totalValues == 20)
    #expect(engine.counters.groupEvictions == 1)
    // p0 was forgotten: learning again, silently; p4 is remembered, and a new port of its alerts.
    engine.process(begin(9, command: "p0"), at: 2 * Self.day, into: &alerts)
    #expect(alerts.isEmpty)
    engine.process(begin(9, command: "p4"), at: 2 * Self.day, into: &alerts)
    #expect(alerts.count == 1)
  }

  @Test func aLimitBelowTheValuesOfOneGroupIsAPositionedError() {
    let text = Self.firstSeenRule(extra: ", max_values: 100, max_total_values: 10")
    #expect(throws: (any Error).self) { try RuleLoader.load(text: text, file: "f.yaml") }
    do {
      _ = try RuleLoader.load(text: text, file: "f.yaml")
    } catch {
      #expect("\(error)".contains("f.yaml:6:"), "\(error)")
      #expect("\(error)".contains("max_total_values"), "\(error)")
    }
  }

  @Test func aReloadHandsWhatWasLearnedOverInMemoryWhenTheStateDirectoryCannotBeWritten() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    // A state directory below a regular file: every write fails (root ignores permissions).
    try Data("not a directory".utf8).write(to: URL(fileURLWithPath: directory + "/file"))
    let unwritable = directory + "/file/state"
    var alerts: [Alert] = []
    let first = try engine(Self.firstSeenRule(), directory: unwritable)
    for port: UInt16 in [443, 80] { first.process(begin(port), at: 0, into: &alerts) }
    first.saveState()
    // The write queued at the first value and the one at saveState (one when they coalesced).
    #expect((1...2).contains(first.counters.stateWriteFailures))
    // Reloaded twice (the second with another learning period): still knows 443 and 80.
    let second = try engine(Self.firstSeenRule(), directory: unwritable, continuing: first)
    let third = try engine(
      Self.firstSeenRule().replacingOccurrences(of: "learning: 1d", with: "learning: 2d"), directory: unwritable,
      continuing: second)
    third.process(begin(443), at: 3 * Self.day, into: &alerts)
    third.process(begin(80), at: 3 * Self.day, into: &alerts)
    #expect(alerts.isEmpty)
    third.process(begin(22), at: 3 * Self.day, into: &alerts)
    #expect(alerts.count == 1)
    #expect(first.learnedStores.first?.totalValues == 0, "the old store hands its values over, not a copy")
  }

  @Test func aReloadThatChangesWhatIsLearnedStartsAfresh() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var alerts: [Alert] = []
    let first = try engine(Self.firstSeenRule(), directory: directory)
    first.process(begin(443), at: 0, into: &alerts)
    // Written and waited for: the writer thread otherwise decides whether the file holds 443 yet.
    first.saveState()
    let regrouped = Self.firstSeenRule().replacingOccurrences(of: "[process.comm]", with: "[process.uid]")
    let second = try engine(regrouped, directory: directory, continuing: first)
    // Not handed over, and not read from the file either: the file records the groups it was
    // learned by, so the regrouped rule starts afresh (counted); the old store keeps its value.
    #expect(second.learnedStores.first?.totalValues == 0)
    #expect(second.counters.stateFilesDamaged == first.counters.stateFilesDamaged + 1)
    #expect(first.learnedStores.first?.totalValues == 1)
    // The same rule again reads it back.
    let same = try engine(Self.firstSeenRule(), directory: directory)
    #expect(same.learnedStores.first?.totalValues == 1)
  }

  @Test func theWriterCoalescesPerFileAndCountsWhatItDrops() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let writer = StateFileWriter(capacity: 1)
    let gate = DispatchSemaphore(value: 0)
    let outcome = StateFileWriter.Outcome()
    // The first write holds the thread until the gate opens: the rest wait in the queue.
    #expect(
      writer.submit(path: directory + "/a", outcome: outcome) {
        gate.wait(); return Array("a".utf8)
      } == .queued)
    for _ in 0..<5_000 where writer.waitingCount > 0 { usleep(1_000) }
    #expect(writer.waitingCount == 0, "the thread took the first write")
    #expect(writer.submit(path: directory + "/probe", outcome: outcome) { Array("old".utf8) } == .queued)
    #expect(writer.submit(path: directory + "/probe", outcome: outcome) { Array("b".utf8) } == .coalesced)
    #expect(writer.submit(path: directory + "/c", outcome: outcome) { Array("c".utf8) } == .dropped)
    gate.signal()
    writer.flush()
    let counters = writer.snapshot
    #expect(counters == StateFileWriter.Counters(written: 2, coalesced: 1, dropped: 1, failed: 0))
    #expect(try String(contentsOfFile: directory + "/probe", encoding: .utf8) == "b")
    #expect(!FileManager.default.fileExists(atPath: directory + "/c"))
    #expect(outcome.written.load(ordering: .relaxed) == 2)
  }
}
