import FlowsentryCore
import FlowsentryIntel

/// `IntelBenchmark lookup-costs DOMAINS CIDRS`: what one lookup costs, in nanoseconds of the thread's
/// CPU time, in the two lists the rules benchmark gives its feeds, on the names and addresses its
/// events draw (the same skewed working sets: 200,000 names, one in a hundred under a listed name;
/// 5,000 addresses, one in a thousand listed), each set of queries three times, best run kept. The
/// rules' added cost per event with feeds is about one domain lookup and one address lookup an event.
func measureLookupCosts(feedDirectory: String, domainCount: Int, cidrCount: Int) {
  let domains =
    domainCount > 0 ? load(feedDirectory + "/domains.txt", name: "domains", type: .domain, match: .suffix) : nil
  let cidrs = cidrCount > 0 ? load(feedDirectory + "/cidrs.txt", name: "cidrs", type: .address) : nil
  var workingSet = RuleBenchmarkWorkingSet(domainCount: domainCount, cidrCount: cidrCount)
  let (names, addresses) = (workingSet.names, workingSet.addresses)
  func skewedIndex() -> Int { workingSet.skewedIndex() }
  let queryCount = 1_000_000
  let nameQueries = (0..<queryCount).map { _ in names[skewedIndex()] }
  let uniformNames = (0..<queryCount).map { index in domain(mix(UInt64(index)) | 1 << 62) }
  let addressQueries = (0..<queryCount).map { _ in addresses[skewedIndex() / 40] }

  func best(_ label: String, _ body: () -> Int) {
    var fastest = Double.infinity
    var found = 0
    for _ in 0..<3 {
      let start = threadCPUSeconds()
      found = body()
      fastest = min(fastest, threadCPUSeconds() - start)
    }
    print("  \(label): \(format(fastest / Double(queryCount) * 1e9)) ns/lookup (\(found) of \(queryCount) listed)")
  }
  print("lookup costs, \(domainCount) suffix domains and \(cidrCount) CIDRs (thread CPU time, best of 3):")
  if let domains {
    best("domain, the rules' skewed names") { nameQueries.reduce(0) { $0 + (domains.contains(domain: $1) ? 1 : 0) } }
    best("domain, uniform unlisted names") { uniformNames.reduce(0) { $0 + (domains.contains(domain: $1) ? 1 : 0) } }
  }
  if let cidrs {
    best("address, the rules' skewed addresses") {
      addressQueries.reduce(0) { $0 + (cidrs.contains(address: $1) ? 1 : 0) }
    }
    // What a rule pays for each event whose address is listed: the match described for the alert
    // and its suppression key, even when the alert is then suppressed.
    best("address match described, the rules' skewed addresses") {
      addressQueries.reduce(0) { $0 + (cidrs.match(address: $1)?.indicator.utf8.count ?? 0 > 0 ? 1 : 0) }
    }
  }
}
