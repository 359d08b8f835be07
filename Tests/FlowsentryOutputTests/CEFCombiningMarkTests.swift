import FlowsentryCore
import Testing

@testable import FlowsentryOutput

/// CEF escaping and cutting by Unicode scalar: a combining mark makes one Swift character of the
/// scalar before it, and neither a receiver's parser nor a byte count sees characters.
@Suite struct CEFCombiningMarkTests {
  let context = EventJSON.Context(hostName: "sensor-1")

  /// What a receiver reads the way CEF parsers do, byte by byte: the header fields split at each
  /// unescaped `|`, and the extension keys, each a run of letters and digits after a space (or at
  /// the start) before an unescaped `=`.
  func parse(_ line: String) -> (header: [String], keys: [String]) {
    let bytes = Array(line.utf8)
    var header: [String] = []
    var start = 0
    var index = 0
    while header.count < 7, index < bytes.count {
      if bytes[index] == UInt8(ascii: "\\") {
        index += 2
        continue
      }
      if bytes[index] == UInt8(ascii: "|") {
        header.append(String(decoding: bytes[start..<index], as: UTF8.self))
        start = index + 1
      }
      index += 1
    }
    var keys: [String] = []
    var keyStart: Int? = start
    index = start
    while index < bytes.count {
      let byte = bytes[index]
      if byte == UInt8(ascii: "\\") {
        keyStart = nil
        index += 2
        continue
      }
      if byte == UInt8(ascii: " ") {
        keyStart = index + 1
      } else if byte == UInt8(ascii: "="), let from = keyStart, from < index {
        keys.append(String(decoding: bytes[from..<index], as: UTF8.self))
        keyStart = nil
      } else if !(UInt8(ascii: "0")...UInt8(ascii: "9") ~= byte || UInt8(ascii: "A")...UInt8(ascii: "Z") ~= byte
        || UInt8(ascii: "a")...UInt8(ascii: "z") ~= byte)
      {
        keyStart = nil
      }
      index += 1
    }
    return (header, keys)
  }

  static let marks: [Unicode.Scalar] = ["\u{301}", "\u{FE0F}"]

  /// `"=\u{301}"` is one character, which matched none of the escapes' cases and was written raw:
  /// `x src=\u{301}6.6.6.6` in a process name (any local user sets one) gave a receiver a `src`.
  @Test func aCombiningMarkDoesNotHideAnEscapedCharacter() {
    for mark in Self.marks {
      let m = String(Character(mark))
      #expect(CEFMessage.escapeExtension("x src=\(m)6.6.6.6", limit: 1023) == #"x src\="# + m + "6.6.6.6")
      #expect(CEFMessage.escapeExtension("a\\\(m)b", limit: 1023) == #"a\\"# + m + "b")
      #expect(CEFMessage.escapeExtension("a|\(m)b", limit: 1023) == "a|\(m)b")
      #expect(CEFMessage.escapeExtension("a\r\(m)\n\(m)b", limit: 1023) == #"a\r"# + m + #"\n"# + m + "b")
      #expect(CEFMessage.escapeHeader("a|\(m)b", limit: 512) == #"a\|"# + m + "b")
      #expect(CEFMessage.escapeHeader("a\\\(m)b", limit: 512) == #"a\\"# + m + "b")
      #expect(CEFMessage.escapeHeader("a=\(m)b", limit: 512) == "a=\(m)b")
      #expect(CEFMessage.escapeHeader("a\n\(m)b\r\nc", limit: 512) == "a \(m)b c")
    }
  }

  /// The whole line, hostile values in the header and in extension values (a process name, a
  /// feed's meta.source): a byte-reading receiver finds the seven header fields and flowsentry's keys only.
  @Test func aReceiverFindsNoInjectedKeyOrField() {
    for mark in Self.marks {
      let m = String(Character(mark))
      let hostile = "p|\(m)1|\(m)2 src=\(m)6.6.6.6 x\\\(m) dst=\(m)6.6.6.7\\"
      let flow = FlowEvent(
        name: .netFlowTCPBegin, timestamp: 1_000_000_000, direction: .outgoing,
        source: Endpoint(IPAddress("198.51.100.2")!, 40_000), destination: Endpoint(IPAddress("203.0.113.5")!, 443),
        process: ProcessIdentity(pid: 42, uid: 1000, command: hostile))
      let alert = Alert(
        id: "0123456789abcdef", timestamp: 1_000_000_000, ruleID: "FS-INTEL-002", ruleName: hostile, severity: .high,
        tags: [], message: hostile, group: [], count: 1, windowNanoseconds: nil, suppressed: 0, events: [.flow(flow)],
        eventsLeftOut: 0,
        indicator: IntelIndicatorMatch(indicator: "203.0.113.5/32", type: "address", list: hostile, source: hostile))
      let line = CEFMessage.line(for: alert, context: context)
      let (header, keys) = parse(line)
      #expect(header.count == 7)
      #expect(header[0] == "CEF:0" && header[6] == "8")
      #expect(
        header[5] == #"p\|"# + m + #"1\|"# + m + #"2 src="# + m + #"6.6.6.6 x\\"# + m + #" dst="# + m + #"6.6.6.7\\"#)
      #expect(
        keys == [
          "rt", "externalId", "msg", "cat", "cnt", "dvchost", "src", "spt", "dst", "dpt", "proto", "deviceDirection",
          "cs1Label", "cs1", "sproc", "spid", "suid", "cs4Label", "cs4", "cs5Label", "cs5", "cs6Label", "cs6",
        ], "\(line)")
      let escaped = "p|\(m)1|\(m)2 src\\=\(m)6.6.6.6 x\\\\\(m) dst\\=\(m)6.6.6.7\\\\"
      #expect(line.contains(" sproc=\(escaped) spid=42 "))
      #expect(line.hasSuffix(" cs6=\(escaped)"))
    }
  }

  /// One character may hold any number of scalars: a cut by characters let `"a"` and 10,000
  /// U+0301 through a 40 limit as 20,001 bytes. The limit counts scalars.
  @Test func oneCharacterLongerThanTheLimitIsCut() {
    let long = "a" + String(repeating: "\u{301}", count: 10_000)
    let value = CEFMessage.escapeExtension(long, limit: 40)
    #expect(value.unicodeScalars.count == 40)
    #expect(value.utf8.count == 1 + 39 * 2)
    let name = CEFMessage.escapeHeader(long, limit: 512)
    #expect(name.unicodeScalars.count == 512)
    // The cut comes before escaping, so that no escape is split: 40 `=` are 80 scalars written.
    #expect(CEFMessage.escapeExtension(String(repeating: "=\u{301}", count: 30), limit: 40).unicodeScalars.count == 60)
    let line = CEFMessage.line(
      for: Alert(
        id: long, timestamp: 1_000_000_000, ruleID: "r", ruleName: long, severity: .low, tags: [], message: long,
        group: [], count: 1, windowNanoseconds: nil, suppressed: 0, events: [], eventsLeftOut: 0, indicator: nil),
      context: context)
    #expect(line.utf8.count < 4_000)
  }
}
