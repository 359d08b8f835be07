import FlowsentryCore
import FlowsentryRules

#if canImport(Glibc)
  import Glibc
#endif

/// `IntelBenchmark rules DOMAINS CIDRS RULES_DIRECTORY`: the shipped rules with their intel lists
/// (`intel_domains`, `intel_addresses`) replaced by generated feeds, as an operator's later rule file
/// would, and the rule engine over flow and DNS events on one core. The event mix: of every four,
/// two connection begins (a remote address, one or two peer names), one end, one DNS lookup (one
/// question, answered with an address, one lookup in four through an alias first, as the shipped
/// intel rules test what an answer names); names come from a skewed working set of 200,000 (one in
/// a hundred listed), remote and answered addresses from one of 5,000 (one in a thousand listed). The same events run first over the
/// shipped rules with no feed (the lists hold their self-test items only), then with the feeds.
/// Each run is followed by the same mix over 1,000 names (and the 25 addresses they draw), which
/// the processor's caches hold: the engine's own work per event, apart from the memory it waits for.
func measureRuleEvents(
  rulesDirectory: String, feedDirectory: String, domainCount: Int, cidrCount: Int, perRule: Bool = false
) {
  // FLOWSENTRY_BENCH_NAMES=N: only the mix over N names (to profile the engine's work apart from memory).
  let onlyNames = getenv("FLOWSENTRY_BENCH_NAMES").flatMap { Int(String(cString: $0)) }
  var eventSets = [
    (
      label: onlyNames.map { " over \($0) names" } ?? "",
      events: ruleBenchmarkEvents(
        domainCount: domainCount, cidrCount: cidrCount,
        nameCount: onlyNames ?? RuleBenchmarkWorkingSet.defaultNameCount)
    )
  ]
  if !perRule && onlyNames == nil {
    eventSets.append(
      (
        label: " over \(hotNameCount) names (in cache)",
        events: ruleBenchmarkEvents(domainCount: domainCount, cidrCount: cidrCount, nameCount: hotNameCount)
      ))
  }
  runRuleEvents(
    eventSets, rulesDirectory: rulesDirectory, feedDirectory: feedDirectory, withFeeds: false, perRule: perRule)
  // With no indicators asked for, no feed files were written: the run with feeds has nothing to load.
  guard domainCount > 0 || cidrCount > 0 else { return }
  runRuleEvents(
    eventSets, rulesDirectory: rulesDirectory, feedDirectory: feedDirectory, withFeeds: true, perRule: perRule)
}

/// The working set of names that the caches hold (with their events, the engine's state and what
/// the lists touch for them).
let hotNameCount = 1_000

func runRuleEvents(
  _ eventSets: [(label: String, events: [SensorEvent])], rulesDirectory: String, feedDirectory: String,
  withFeeds: Bool, perRule: Bool
) {
  let override = feedDirectory + "/99-feeds.yaml"
  // A feed of no indicators was not written (`IntelBenchmark rules 0 1000000`): named, it would not load.
  func feed(_ name: String) -> String {
    let path = "\(feedDirectory)/\(name)"
    return withFeeds && access(path, F_OK) == 0 ? path : ""
  }
  let domainFiles = feed("domains.txt")
  let addressFiles = feed("cidrs.txt")
  let text = """
    - list: {name: intel_domains, type: domain, match: suffix, items: [flowsentry-selftest.invalid], \
    files: [\(domainFiles)], format: lines, except: intel_allow_domains}
    - list: {name: intel_addresses, type: address, items: [192.0.2.254], \
    files: [\(addressFiles)], format: lines, except: intel_allow_addresses}

    """
  writeFeed(override, count: 0) { _, _ in }
  let descriptor = open(override, O_WRONLY | O_TRUNC | O_CLOEXEC)
  precondition(descriptor >= 0)
  let written = text.utf8CString.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count - 1) }
  precondition(written == text.utf8.count && close(descriptor) == 0)
  defer { unlink(override) }

  let loadStart = processCPUSeconds()
  var rules: RuleSet
  do {
    rules = try RuleLoader.load(paths: [rulesDirectory, override])
  } catch {
    fatalError("\(error)")
  }
  // FLOWSENTRY_BENCH_RULES=ID,ID: only those rules enabled (to profile one rule alone).
  if let only = getenv("FLOWSENTRY_BENCH_RULES").map({ Set(String(cString: $0).split(separator: ",").map(String.init)) }
  ) {
    rules.rules = rules.rules.map { rule in
      var rule = rule
      rule.enabled = rule.enabled && only.contains(rule.id)
      return rule
    }
  }
  let loadSeconds = processCPUSeconds() - loadStart
  let indicators = rules.intelLists.reduce(0) { $0 + $1.indicators }
  print(
    "rules: shipped set + \(indicators) indicators loaded in \(format(loadSeconds)) s of CPU time"
      + " (\(rules.rules.filter(\.enabled).count) enabled rules)")
  for (label, events) in eventSets {
    let (cpu, wall, alerts) = bestRun(events, rules)
    print(
      "  rule events\(label), shipped rules \(withFeeds ? "+ \(indicators) indicators" : "without feeds")"
        + " (2 begins, 1 end, 1 answered lookup in 4): \(format(Double(events.count) / cpu / 1e6))M events/s"
        + " of CPU time (wall \(format(Double(events.count) / wall / 1e6))M/s; best of 3, \(alerts) alerts)")
  }
  guard perRule, let events = eventSets.first?.events else { return }
  // Each enabled rule alone over the same events: where the set's time goes.
  for rule in rules.rules where rule.enabled {
    var alone = rules
    alone.rules = rules.rules.map { other in
      var other = other
      other.enabled = other.id == rule.id
      return other
    }
    let (cpu, _, alerts) = bestRun(events, alone)
    print("    \(rule.id) alone: \(format(cpu / Double(events.count) * 1e9)) ns/event (\(alerts) alerts)")
  }
}

/// The best of three runs of fresh engines over `events`: CPU seconds (the thread's), wall
/// seconds, and the alerts raised.
func bestRun(_ events: [SensorEvent], _ rules: RuleSet) -> (cpu: Double, wall: Double, alerts: Int) {
  var best = (cpu: Double.infinity, wall: Double.infinity, alerts: 0)
  for _ in 0..<3 {
    let engine = RuleEngine(rules: rules)
    let (cpu, wall) = processMoved(events, through: engine)
    if cpu < best.cpu { best = (cpu, wall, Int(engine.counters.alerts)) }
  }
  return best
}

/// Hands `events` to `engine` as the pipeline does (Pipeline.swift, `emitFlowEvents`): each event
/// moved into the engine, not copied. Reading an element of the array in place still copies it
/// (a retain of each name list and text it holds, and a release after), a cost of the benchmark's
/// loop that the pipeline does not pay. So batches of 1,024 are copied outside the timed span and
/// popped inside it; what an event releases after the engine is timed, as in the pipeline.
/// Returns the thread's CPU seconds and the wall seconds.
func processMoved(_ events: [SensorEvent], through engine: RuleEngine) -> (cpu: Double, wall: Double) {
  var output: [Alert] = []
  var batch: [SensorEvent] = []
  batch.reserveCapacity(1_024)
  var (cpu, wall) = (0.0, 0.0)
  var start = events.startIndex
  while start < events.endIndex {
    let end = min(start + 1_024, events.endIndex)
    batch.append(contentsOf: events[start..<end].reversed())
    let (cpuStart, wallStart) = (threadCPUSeconds(), now())
    while let event = batch.popLast() {
      let time = event.timestamp
      engine.process(event, at: time, into: &output)
      output.removeAll(keepingCapacity: true)
    }
    cpu += threadCPUSeconds() - cpuStart
    wall += now() - wallStart
    start = end
  }
  return (cpu, wall)
}

/// What the rule events draw from, shared with `lookup-costs`: 200,000 names (one in a hundred
/// under a listed name) and 5,000 remote addresses (one in a thousand listed), picked with a skew
/// (the cube of a uniform draw) so that a few are frequent, as on a real network.
struct RuleBenchmarkWorkingSet {
  static let defaultNameCount = 200_000
  let nameCount: Int
  let names: [String]
  let addresses: [IPAddress]
  private var random = UInt64(42)

  init(domainCount: Int, cidrCount: Int, nameCount: Int = Self.defaultNameCount) {
    self.nameCount = nameCount
    names = (0..<nameCount).map { index in
      index % 100 == 37
        ? "cdn." + domain(UInt64(index * 31 % max(1, domainCount))) : domain(UInt64(domainCount + index))
    }
    addresses = (0..<5_000).map { index in
      if index % 1000 == 537 && cidrCount > 0 { return network(UInt64(index % cidrCount)).0 }
      return .v4(UInt32(truncatingIfNeeded: mix(UInt64(index: index))))
    }
  }

  mutating func skewedIndex() -> Int {
    random = mix(random)
    let uniform = Double(random >> 11) / Double(1 << 53)
    return min(nameCount - 1, Int(uniform * uniform * uniform * Double(nameCount)))
  }
}

func ruleBenchmarkEvents(
  domainCount: Int, cidrCount: Int, count: Int = 1_000_000, nameCount: Int = RuleBenchmarkWorkingSet.defaultNameCount
) -> [SensorEvent] {
  var workingSet = RuleBenchmarkWorkingSet(domainCount: domainCount, cidrCount: cidrCount, nameCount: nameCount)
  let (names, addresses) = (workingSet.names, workingSet.addresses)
  func skewedIndex() -> Int { workingSet.skewedIndex() }
  let local = Endpoint(IPAddress("198.51.100.2")!, 40_000)
  let resolver = Endpoint(IPAddress("198.51.100.53")!, 53)
  return (0..<count).map { index in
    let time = Int64(1_700_000_000_000_000_000) + Int64(index) * 1_000
    let remote = Endpoint(addresses[skewedIndex() / 40], 443)
    switch index % 4 {
    case 0, 1:
      let chain = index % 8 < 4 ? [names[skewedIndex()]] : [names[skewedIndex()], names[skewedIndex()]]
      return .flow(
        FlowEvent(
          name: .netFlowTCPBegin, timestamp: time, direction: .outgoing, source: local, destination: remote,
          destinationNames: chain, process: ProcessIdentity(pid: 4242, uid: 1000, command: "curl")))
    case 2:
      return .flow(
        FlowEvent(
          name: .netFlowTCPEnd, timestamp: time, direction: .outgoing, source: local, destination: remote,
          closeReason: .fin, terminatedBy: .local, durationNanoseconds: 1_000_000,
          process: ProcessIdentity(pid: 4242, uid: 1000, command: "curl")))
    default:
      let question = names[skewedIndex()]
      var answers: [DNSEvent.Answer] = []
      var owner = question
      if index % 16 == 3 {
        owner = names[skewedIndex()]
        answers.append(.init(name: question, type: "CNAME", timeToLive: 60, data: owner))
      }
      answers.append(
        .init(name: owner, type: "A", timeToLive: 60, data: addresses[skewedIndex() / 40].description))
      return .dns(
        DNSEvent(
          timestamp: time, source: local, destination: resolver, transport: .udp, cgroupID: 0, id: 1,
          responseCode: 0, questions: [question + "."], answers: answers, truncated: false))
    }
  }
}

/// The highest resident size of the process so far (`VmHWM`), in bytes.
func peakResidentBytes() -> Int {
  guard let file = fopen("/proc/self/status", "r") else { return 0 }
  defer { fclose(file) }
  var line = [CChar](repeating: 0, count: 256)
  while fgets(&line, Int32(line.count), file) != nil {
    let text = String(cString: line)
    if text.hasPrefix("VmHWM:") {
      return (Int(text.dropFirst(6).trimmingPrefix(while: { $0 == " " || $0 == "\t" }).prefix { $0.isNumber }) ?? 0)
        * 1024
    }
  }
  return 0
}

/// `IntelBenchmark reload DOMAINS CIDRS RULES_DIRECTORY`: the shipped rules with the feeds loaded,
/// then loaded again while the first set is held (as a reload does: the pipeline keeps the running
/// set until the new one is ready), reporting the set's resident size, the peak during the second
/// load against it, and the resident size once the first set is dropped.
func measureReloadMemory(rulesDirectory: String, feedDirectory: String) {
  let override = feedDirectory + "/99-feeds.yaml"
  let text = """
    - list: {name: intel_domains, type: domain, match: suffix, files: [\(feedDirectory)/domains.txt], format: lines, \
    except: intel_allow_domains}
    - list: {name: intel_addresses, type: address, files: [\(feedDirectory)/cidrs.txt], format: lines, \
    except: intel_allow_addresses}

    """
  let descriptor = open(override, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
  precondition(descriptor >= 0)
  let written = text.utf8CString.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count - 1) }
  precondition(written == text.utf8.count && close(descriptor) == 0)
  defer { unlink(override) }
  func load() -> RuleSet {
    do { return try RuleLoader.load(paths: [rulesDirectory, override]) } catch { fatalError("\(error)") }
  }
  let base = residentBytes()
  var running: RuleSet? = load()
  let afterFirst = residentBytes()
  let set = afterFirst - base
  let peakBefore = peakResidentBytes()
  let start = now()
  let cpuStart = processCPUSeconds()
  var replacement: RuleSet? = load()
  let seconds = now() - start
  let cpuSeconds = processCPUSeconds() - cpuStart
  let peak = max(peakResidentBytes(), peakBefore) - base
  running = nil
  let afterSwap = residentBytes() - base
  let indicators = replacement!.intelLists.reduce(0) { $0 + $1.indicators }
  replacement = nil
  _ = running
  _ = replacement
  print(
    "reload of \(indicators) indicators: set \(set / 1_048_576) MiB, reloaded in \(format(cpuSeconds)) s of CPU time (wall \(format(seconds)) s),"
      + " peak during the reload \(peak / 1_048_576) MiB = \(format(Double(peak) / Double(max(1, set))))x the set,"
      + " \(afterSwap / 1_048_576) MiB once the old set is dropped")
}
