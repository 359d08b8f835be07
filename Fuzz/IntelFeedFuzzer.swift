import FlowsentryCore
import FlowsentryIntel

// libFuzzer entry point: the first byte chooses the list (bits 0–1: domain, address, string, port;
// bit 7: suffix matching) and the format (bits 2–3: lines, CSV by index (bits 4–6 + 1), CSV by the
// header name dst_ip, Zeek intel); the rest is the feed. No input may crash, hang or trip a sanitizer,
// and what loads must answer consistently: a listed indicator matches itself, a block holds the
// address it matched. Built and run by scripts/fuzz.sh intel.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  guard size > 0 else { return 0 }
  let selector = data[0]
  let type = IndicatorType.allCases[Int(selector & 3)]
  let format: FeedFormat
  switch (selector >> 2) & 3 {
  case 0: format = .lines
  case 1: format = .csv(column: .index(Int((selector >> 4) & 7) + 1))
  case 2: format = .csv(column: .name("dst_ip"))
  default: format = .zeekIntel
  }
  let feed = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
  var builder = IntelListBuilder(
    name: "fuzz", type: type, domainMatch: selector & 0x80 != 0 ? .suffix : .exact, diagnosticLimit: 8)
  do {
    try builder.loadFeed(bytes: feed, file: "fuzz.feed", format: format)
  } catch {
    return 0
  }
  let list = builder.build()
  precondition(list.diagnostics.count <= min(8, list.statistics.malformed))
  for line in feed.split(separator: 0x0A).prefix(64) {
    for field in line.split(whereSeparator: { $0 == 0x09 || $0 == 0x2C || $0 == 0x20 }).prefix(8) {
      let text = String(decoding: field, as: UTF8.self)
      if let match = list.match(domain: text) {
        precondition(list.match(domain: match.indicator)?.indicator == match.indicator)
      }
      if let match = list.match(string: text) { precondition(match.indicator == text) }
      if let address = IPAddress(text), let match = list.match(address: address) {
        precondition(IPNetwork(match.indicator)?.contains(address.unmappingIPv4) == true)
      }
      if let port = UInt16(text) { _ = list.match(port: port) }
    }
  }
  return 0
}
