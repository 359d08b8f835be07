import FlowsentryCore
import FlowsentryRules

#if canImport(Glibc)
  import Glibc
#endif

/// `IntelBenchmark reload-costs DOMAINS CIDRS RULES_DIRECTORY`: where a reload's memory and the
/// pipeline's pause go. Memory: the set's resident size, what one load holds beyond the set it
/// builds (its transients: the peak of a load alone against the set), and the peak of a second
/// load beside the first. Pause: the work a swap puts on the pipeline's thread, timed on this
/// thread (CPU and wall): building the engine for the new set, the first 4,096 events on it (its
/// tables cold) against the same events on a warm engine, and dropping the old engine and set
/// (which the pipeline hands to a thread of its own, so that this is the time it saves).
func measureReloadCosts(rulesDirectory: String, feedDirectory: String, domainCount: Int, cidrCount: Int) {
  let override = feedDirectory + "/99-feeds.yaml"
  let text = """
    - list: {name: intel_domains, type: domain, match: suffix, items: [flowsentry-selftest.invalid], \
    files: [\(feedDirectory)/domains.txt], format: lines, except: intel_allow_domains}
    - list: {name: intel_addresses, type: address, items: [192.0.2.254], \
    files: [\(feedDirectory)/cidrs.txt], format: lines, except: intel_allow_addresses}

    """
  var file = GeneratedFile(override)
  file.buffer.append(contentsOf: text.utf8)
  file.close()
  defer { unlink(override) }
  // As the monitor's loader thread does: the pattern databases are built before the set is offered.
  func load() -> RuleSet {
    do {
      let rules = try RuleLoader.load(paths: [rulesDirectory, override])
      _ = rules.preparePatterns(stateDirectory: nil)
      return rules
    } catch { fatalError("\(error)") }
  }
  let events = ruleBenchmarkEvents(domainCount: domainCount, cidrCount: cidrCount, count: 200_000)
  let mebibyte = 1_048_576
  let base = residentBytes()
  resetPeakResidentBytes()
  var running: RuleSet? = load()
  let set = residentBytes() - base
  let firstPeak = peakResidentBytes() - base
  resetPeakResidentBytes()
  var replacement: RuleSet? = load()
  let secondPeak = peakResidentBytes() - base
  print(
    "reload costs, \(domainCount) domains and \(cidrCount) CIDRs: set \(set / mebibyte) MiB;"
      + " one load's peak \(firstPeak / mebibyte) MiB (transients \((firstPeak - set) / mebibyte) MiB);"
      + " a second load beside it peaks at \(secondPeak / mebibyte) MiB"
      + " = \(format(Double(secondPeak) / Double(max(1, set))))x the set")

  var engine: RuleEngine? = RuleEngine(rules: running!)
  var output: [Alert] = []
  func run(_ engine: RuleEngine, _ range: Range<Int>) -> (cpu: Double, wall: Double) {
    let cpuStart = threadCPUSeconds()
    let start = now()
    for index in range {
      engine.process(events[index], at: events[index].timestamp, into: &output)
      output.removeAll(keepingCapacity: true)
    }
    return (threadCPUSeconds() - cpuStart, now() - start)
  }
  _ = run(engine!, 0..<events.count)
  func milliseconds(_ time: (cpu: Double, wall: Double)) -> String {
    "\(format(time.cpu * 1e3)) ms CPU (wall \(format(time.wall * 1e3)) ms)"
  }
  let cpuStart = threadCPUSeconds()
  let start = now()
  let next = RuleEngine(rules: replacement!, continuing: engine)
  let build = (threadCPUSeconds() - cpuStart, now() - start)
  let firstBatch = 0..<4_096
  let cold = run(next, firstBatch)
  let warm = run(next, firstBatch)
  replacement = nil
  running = nil
  let dropCPU = threadCPUSeconds()
  let dropStart = now()
  engine = nil
  let drop = (threadCPUSeconds() - dropCPU, now() - dropStart)
  _ = running
  _ = replacement
  _ = engine
  print(
    "  swap on the pipeline's thread: engine for the new set \(milliseconds(build));"
      + " first 4096 events \(milliseconds(cold)), again warm \(milliseconds(warm));"
      + " dropping the old engine and set \(milliseconds(drop)) (done off the pipeline's thread)")
}

/// Resets the process's peak resident size (`VmHWM`) to its current size (`/proc/self/clear_refs`, 5).
func resetPeakResidentBytes() {
  let descriptor = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC)
  precondition(descriptor >= 0, "cannot open /proc/self/clear_refs")
  let written = write(descriptor, "5", 1)
  precondition(written == 1 && close(descriptor) == 0, "cannot reset the peak resident size")
}
