import FlowsentryCore
import FlowsentryRules
import Foundation

// `PipelineBenchmark N RULES patterns`: regex rules through the rule engine, on a generated corpus
// (seeded, the same every run): each rule `dst_dns matches` (half `imatches`) one domain-like
// pattern with alternations, classes and bounded repeats up to {0,40}, a third anchored, a tenth
// with a lookaround or a back reference (written into the condition with its backslashes escaped,
// as a rule author must). Traffic is mostly benign: flow begins each naming one destination made of
// words no rule names, one in 100 built to match some rule. Measured: loading the text (parse and
// PCRE2 compile), building the pattern databases (cold, no cache; each step timed), loading them
// from the on-disk cache (a restart), events/s and p50/p99 per event through pattern sets, and,
// for comparison in the same run, PCRE2 alone.

struct RegexCorpus {
  struct Random: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      var value = state
      value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
      value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
      return value ^ (value >> 31)
    }
  }

  var random = Random(state: 0x0F10_5E47)
  /// Words the rules name, and words the traffic names: drawn apart, so that an event matches a
  /// rule only when built to (plus the rare chance overlap a real corpus has too).
  let words: [String]
  let trafficWords: [String]

  init() {
    var random = Random(state: 18)
    let letters = Array("abcdefghijklmnopqrstuvwxyz")
    func draw(_ count: Int) -> [String] {
      (0..<count).map { _ in
        String((0..<Int.random(in: 5...9, using: &random)).map { _ in letters.randomElement(using: &random)! })
      }
    }
    words = draw(5_000)
    let ruleWords = Set(words)
    trafficWords = draw(5_000).filter { !ruleWords.contains($0) }
  }

  mutating func word() -> String { words.randomElement(using: &random)! }

  /// A pattern, and a subject it matches (the subjects that match are made from these).
  mutating func pattern() -> (pattern: String, matching: String) {
    let (first, second, third) = (word(), word(), word())
    var pattern: String
    var matching: String
    switch Int.random(in: 0..<4, using: &random) {
    case 0:
      pattern = "(?:\(first)|\(second)|\(third))\\.[a-z0-9-]{0,40}\\.(?:com|net|org)"
      matching = "\(second).cdn-7.net"
    case 1:
      pattern = "[a-z0-9]{\(Int.random(in: 1...8, using: &random)),40}\\.\(first)\\.[a-z]{2,6}"
      matching = "edge12345678.\(first).io"
    case 2:
      pattern = "\(first)[0-9]{1,6}\\.(?:\(second)|\(third))"
      matching = "\(first)4242.\(third)"
    default:
      pattern = "(?:[a-z]+\\.)?\(first)-?\\d{0,4}\\.(?:ru|su|top|xyz)"
      matching = "mx.\(first)-77.top"
    }
    switch Int.random(in: 0..<20, using: &random) {
    case 0:
      pattern = "(?=[a-z])" + pattern
    case 1:
      pattern = "(?<!www\\.)" + pattern
    case 2:
      pattern = "(\(second))\\.\\1\\." + pattern
      matching = "\(second).\(second)." + matching
    default: break
    }
    if Int.random(in: 0..<3, using: &random) == 0 { pattern = "^" + pattern }
    return (pattern, matching)
  }

  mutating func name() -> String {
    let labels = (0..<Int.random(in: 1...3, using: &random)).map { _ in trafficWords.randomElement(using: &random)! }
    return labels.joined(separator: ".") + "." + ["com", "net", "org", "ru", "top", "io"].randomElement(using: &random)!
  }
}

@MainActor func regexRuleBenchmarks() {
  for count in [1_000, 10_000] { regexRuleBenchmark(rules: count) }
}

@MainActor func regexRuleBenchmark(rules count: Int) {
  var corpus = RegexCorpus()
  var text = ""
  var matching: [String] = []
  for index in 0..<count {
    let (pattern, subject) = corpus.pattern()
    matching.append(subject)
    let operation = index % 2 == 0 ? "matches" : "imatches"
    text += """
      - rule:
          id: RX-\(index)
          name: regex \(index)
          events: [net_flow_tcp_begin]
          condition: dst_dns \(operation) '\(pattern.replacingOccurrences(of: "\\", with: "\\\\"))'

      """
  }
  let server = Endpoint(IPAddress("203.0.113.80")!, 443)
  var events: [SensorEvent] = []
  var builtToMatch = 0
  for index in 0..<200_000 {
    if index % 100 == 0 { builtToMatch += 1 }
    let name = index % 100 == 0 ? matching[index / 100 % matching.count] : corpus.name()
    events.append(
      .flow(
        FlowEvent(
          name: .netFlowTCPBegin, timestamp: Int64(index) * 1_000, direction: .outgoing,
          source: Endpoint(IPAddress("198.51.100.7")!, UInt16(1024 + index % 60_000)), destination: server,
          destinationNames: [name])))
  }
  do {
    var before = nanoseconds()
    let rules = try RuleLoader.load(text: text)
    let loadSeconds = Double(nanoseconds() - before) / 1e9
    let cache = FileManager.default.temporaryDirectory.appendingPathComponent("flowsentry-bench-\(getpid())")
    defer { try? FileManager.default.removeItem(at: cache) }
    before = nanoseconds()
    let built = rules.preparePatterns(stateDirectory: cache.path)
    let buildSeconds = Double(nanoseconds() - before) / 1e9
    // A restart: the same text loaded again, its databases read from the cache.
    let restarted = try RuleLoader.load(text: text)
    before = nanoseconds()
    let loaded = restarted.preparePatterns(stateDirectory: cache.path)
    let cacheSeconds = Double(nanoseconds() - before) / 1e9
    let kinds = built.evaluation.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key)" }
    print(
      "regex rules, \(count): corpus \(events.count) flow begins, \(builtToMatch) built to match a rule "
        + "(one in 100); load \(String(format: "%.2f", loadSeconds)) s, pattern databases built in "
        + "\(String(format: "%.2f", buildSeconds)) s (\(kinds.joined(separator: ", ")), "
        + "\(built.databaseBytes / 1024) KiB), loaded from the cache in "
        + "\(String(format: "%.3f", cacheSeconds)) s (\(loaded.cacheHits) hits, \(loaded.cacheMisses) misses)")
    let phases = built.phases
    print(
      "regex rules, \(count), build phases: syntax \(seconds(phases.syntax)) s, PCRE2 compile "
        + "\(seconds(phases.pcre2Compile)) s, Hyperscan classification \(seconds(phases.classification)) s, "
        + "hs_compile_multi \(seconds(phases.hyperscanCompile)) s, cache \(seconds(phases.cache)) s, "
        + "PCRE2 JIT \(seconds(phases.pcre2JIT)) s, literal sets \(seconds(built.literalDuration)) s")
    measure("regex rules, \(count), pattern sets", RuleEngine(rules: rules), events)
    var alone = RuleEngine.Configuration()
    alone.patternSets = false
    // PCRE2 alone is slow: a slice of the events is enough for its rate.
    let reference = RuleEngine(rules: try RuleLoader.load(text: text), configuration: alone)
    measure("regex rules, \(count), PCRE2 alone", reference, Array(events.prefix(count >= 10_000 ? 200 : 20_000)))
  } catch {
    print("regex rules benchmark: \(error)")
  }
}

private func seconds(_ duration: Duration) -> String {
  let (whole, attoseconds) = duration.components
  return String(format: "%.3f", Double(whole) + Double(attoseconds) / 1e18)
}

@MainActor func measure(_ label: String, _ engine: RuleEngine, _ events: [SensorEvent]) {
  var alerts: [Alert] = []
  alerts.reserveCapacity(events.count / 8)
  let start = nanoseconds()
  for event in events { engine.process(event, at: event.timestamp, into: &alerts) }
  let seconds = Double(nanoseconds() - start) / 1e9
  let raised = alerts.count
  var latencies: [Int64] = []
  latencies.reserveCapacity(events.count)
  for event in events {
    alerts.removeAll(keepingCapacity: true)
    let before = nanoseconds()
    engine.process(event, at: event.timestamp, into: &alerts)
    latencies.append(nanoseconds() - before)
  }
  latencies.sort()
  print(
    "\(label): \(Int(Double(events.count) / seconds)) events/s, p50 \(latencies[latencies.count / 2]) ns, "
      + "p99 \(latencies[latencies.count * 99 / 100]) ns per event (\(events.count) events, \(raised) alerts)")
}
