import FlowsentryCore
import FlowsentryRules
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

// `PatternsBenchmark rules [counts...]`: regex rules through the rule engine, on RuleCorpus: each
// rule `dst_dns matches` (every other one `imatches`) one pattern, written into the condition with
// its backslashes escaped as a rule author must. 200,000 flow begins, one in 100 named to match some
// rule. Measured: loading the text (parse and PCRE2 compile), building the pattern databases (cold,
// each step timed), loading them from the on-disk cache (a restart), events/s through pattern sets,
// and PCRE2 alone on a prefix of the same events, whose alerts must be the same. Rates are given per
// wall second and per CPU second of the thread (the machine may be shared).

/// Nanoseconds on `clock`.
func nanoseconds(_ clock: clockid_t = CLOCK_MONOTONIC) -> Int64 {
  var time = timespec()
  clock_gettime(clock, &time)
  return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
}

func seconds(_ nanoseconds: Int64) -> String { String(format: "%.2f", Double(nanoseconds) / 1e9) }

func seconds(_ duration: Duration) -> String {
  let (whole, attoseconds) = duration.components
  return String(format: "%.2f", Double(whole) + Double(attoseconds) / 1e18)
}

struct RuleCorpusInput {
  let text: String
  let events: [SensorEvent]
  let builtToMatch: Int

  init(rules count: Int, events eventCount: Int = 200_000) {
    var corpus = RuleCorpus()
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
    events.reserveCapacity(eventCount)
    var builtToMatch = 0
    for index in 0..<eventCount {
      if index % 100 == 0 { builtToMatch += 1 }
      let name = index % 100 == 0 ? matching[index / 100 % matching.count] : corpus.name()
      events.append(
        .flow(
          FlowEvent(
            name: .netFlowTCPBegin, timestamp: Int64(index) * 1_000, direction: .outgoing,
            source: Endpoint(IPAddress("198.51.100.7")!, UInt16(1024 + index % 60_000)), destination: server,
            destinationNames: [name])))
    }
    self.text = text
    self.events = events
    self.builtToMatch = builtToMatch
  }
}

func regexRuleBenchmark(rules count: Int) throws {
  let input = RuleCorpusInput(rules: count)
  var before = nanoseconds()
  let rules = try RuleLoader.load(text: input.text)
  let loadSeconds = nanoseconds() - before
  let cache = FileManager.default.temporaryDirectory.appendingPathComponent("flowsentry-bench-\(getpid())")
  defer { try? FileManager.default.removeItem(at: cache) }
  before = nanoseconds()
  let cpuBefore = nanoseconds(CLOCK_PROCESS_CPUTIME_ID)
  let built = rules.preparePatterns(stateDirectory: cache.path)
  let buildCPU = nanoseconds(CLOCK_PROCESS_CPUTIME_ID) - cpuBefore
  let buildSeconds = nanoseconds() - before
  // A restart: the same text loaded again, its databases read from the cache.
  let restarted = try RuleLoader.load(text: input.text)
  before = nanoseconds()
  let loaded = restarted.preparePatterns(stateDirectory: cache.path)
  let cacheSeconds = nanoseconds() - before
  let kinds = built.evaluation.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key)" }
  print(
    "regex rules, \(count): corpus \(input.events.count) flow begins, \(input.builtToMatch) built to match a rule "
      + "(one in 100); load \(seconds(loadSeconds)) s, pattern databases built in \(seconds(buildSeconds)) s "
      + "(CPU \(seconds(buildCPU)) s on \(ProcessInfo.processInfo.activeProcessorCount) cores; "
      + "\(kinds.joined(separator: ", ")), \(built.databases) databases, \(built.databaseBytes / 1024) KiB), "
      + "loaded from the cache in \(String(format: "%.3f", Double(cacheSeconds) / 1e9)) s "
      + "(\(loaded.cacheHits) hits, \(loaded.cacheMisses) misses)")
  let phases = built.phases
  print(
    "regex rules, \(count), build phases (classification and hs_compile_multi in CPU time of the build threads): syntax \(seconds(phases.syntax)) s, PCRE2 compile "
      + "\(seconds(phases.pcre2Compile)) s, Hyperscan classification \(seconds(phases.classification)) s, "
      + "hs_compile_multi \(seconds(phases.hyperscanCompile)) s, cache \(seconds(phases.cache)) s, "
      + "PCRE2 JIT \(seconds(phases.pcre2JIT)) s, literal sets \(seconds(built.literalDuration)) s")
  let fast = measure("regex rules, \(count), pattern sets", RuleEngine(rules: rules), input.events)
  var alone = RuleEngine.Configuration()
  alone.patternSets = false
  // PCRE2 alone is slow: a prefix of the events is enough for its rate.
  let prefix = Array(input.events.prefix(count >= 10_000 ? 200 : 20_000))
  let reference = measure(
    "regex rules, \(count), PCRE2 alone",
    RuleEngine(rules: try RuleLoader.load(text: input.text), configuration: alone),
    prefix)
  let same = fast.alertedRules.prefix(reference.alertedRules.count).elementsEqual(reference.alertedRules)
  print(
    "regex rules, \(count): alerts on the first \(prefix.count) events the same as PCRE2 alone: \(same ? "yes" : "NO")")
  precondition(same, "pattern sets and PCRE2 alone disagreed")
}

struct Measured {
  /// The rule of each alert, in order, with the event's position (to compare engines).
  var alertedRules: [String]
}

func measure(_ label: String, _ engine: RuleEngine, _ events: [SensorEvent]) -> Measured {
  var alerts: [Alert] = []
  alerts.reserveCapacity(events.count / 8)
  var alertedRules: [String] = []
  let start = nanoseconds()
  let cpuStart = nanoseconds(CLOCK_THREAD_CPUTIME_ID)
  for event in events { engine.process(event, at: event.timestamp, into: &alerts) }
  let cpu = nanoseconds(CLOCK_THREAD_CPUTIME_ID) - cpuStart
  let wall = nanoseconds() - start
  for alert in alerts { alertedRules.append("\(alert.timestamp) \(alert.ruleID)") }
  var latencies: [Int64] = []
  latencies.reserveCapacity(events.count)
  var cpuLatencies: [Int64] = []
  cpuLatencies.reserveCapacity(events.count)
  for event in events {
    alerts.removeAll(keepingCapacity: true)
    let before = nanoseconds()
    engine.process(event, at: event.timestamp, into: &alerts)
    latencies.append(nanoseconds() - before)
  }
  for event in events {
    alerts.removeAll(keepingCapacity: true)
    let before = nanoseconds(CLOCK_THREAD_CPUTIME_ID)
    engine.process(event, at: event.timestamp, into: &alerts)
    cpuLatencies.append(nanoseconds(CLOCK_THREAD_CPUTIME_ID) - before)
  }
  latencies.sort()
  cpuLatencies.sort()
  print(
    "\(label): \(Int(Double(events.count) / (Double(wall) / 1e9))) events/s wall, "
      + "\(Int(Double(events.count) / (Double(cpu) / 1e9))) per CPU-second; p50 \(latencies[latencies.count / 2]) ns, "
      + "p99 \(latencies[latencies.count * 99 / 100]) ns per event wall, p99 \(cpuLatencies[cpuLatencies.count * 99 / 100]) "
      + "ns thread CPU (\(events.count) events, \(alertedRules.count) alerts)")
  return Measured(alertedRules: alertedRules)
}

/// `PatternsBenchmark profile COUNT [passes]`: the engine with pattern sets only, over the events
/// `passes` times (for a profiler; the build is not timed).
func regexRuleProfile(rules count: Int, passes: Int) throws {
  let input = RuleCorpusInput(rules: count)
  let rules = try RuleLoader.load(text: input.text)
  rules.preparePatterns(stateDirectory: nil)
  let engine = RuleEngine(rules: rules)
  var alerts: [Alert] = []
  let cpuStart = nanoseconds(CLOCK_THREAD_CPUTIME_ID)
  for _ in 0..<passes {
    for event in input.events {
      alerts.removeAll(keepingCapacity: true)
      engine.process(event, at: event.timestamp, into: &alerts)
    }
  }
  let cpu = Double(nanoseconds(CLOCK_THREAD_CPUTIME_ID) - cpuStart) / 1e9
  print("\(count) rules: \(Int(Double(input.events.count * passes) / cpu)) events per CPU-second")
}
