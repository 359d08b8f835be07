import FlowsentryCore
import FlowsentryDNS

// libFuzzer entry point: every input is parsed as a DNS message and, when it parses, fed to a
// cache; no input may crash, hang or trip a sanitizer. Built and run by scripts/fuzz-dns.sh.
nonisolated(unsafe) var cache = DNSCache()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  let bytes = UnsafeRawBufferPointer(start: data, count: size)
  guard let message = try? DNSParser.parse(bytes) else { return 0 }
  cache.insert(message, at: 0)
  for answer in message.answers {
    if case .address(let address) = answer.data { _ = cache.names(for: address, at: 1) }
  }
  return 0
}
