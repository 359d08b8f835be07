import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryRules
import FlowsentryTestSupport
import Foundation
import Testing

/// The single-pass recording reader must read exactly what the reader before it read (kept as
/// `OracleEventJSONReader`): the same events, byte for byte, and the same skipped and malformed
/// lines with the same reasons and columns, on generated recordings of every kind of event with
/// hostile lines among them (bytes changed, cut or inserted, numbers at and past their ranges,
/// duplicate and escaped keys, values of the wrong kind, deep nesting, invalid UTF-8).
@Suite struct RecordingReaderDifferentialTests {
  let context = EventJSON.Context(hostName: "sensor \"one\"")

  @Test func theScannerReadsEveryLineAsTheOldReaderDid() {
    var random = SeededRandom(seed: 0x5EED_0018)
    var decoder = EventJSONReader.Decoder()
    var oracle = OracleEventJSONReader.Decoder()
    var tally = (events: 0, skipped: 0, malformed: 0, mismatches: 0)
    for index in 0..<30_000 {
      var line = RecordingLines.line(&random, context: context)
      if index % 3 != 0 { RecordingLines.damage(&line, &random) }
      let new = line.withUnsafeBytes { decoder.read($0) }
      let old = line.withUnsafeBytes { oracle.read($0) }
      switch (new, old) {
      case (.event(let newEvent), .event(let oldEvent)):
        tally.events += 1
        // Equal, and byte for byte (String's == is canonical equivalence, not bytes).
        let same =
          newEvent == oldEvent
          && EventJSON.line(for: newEvent, context: context).utf8.elementsEqual(
            EventJSON.line(for: oldEvent, context: context).utf8)
        if !same { tally.mismatches += 1 }
        #expect(same, "line \(index): \(String(decoding: line, as: UTF8.self))")
      case (.skipped, .skipped):
        tally.skipped += 1
      case (.malformed(let newReason, let newColumn), .malformed(let oldReason, var oldColumn)):
        tally.malformed += 1
        // The old reader did not locate syntax errors (column 1); RecordingReaderTests checks where
        // this one puts them.
        if oldReason == "not a JSON object" { oldColumn = newColumn }
        if newReason != oldReason || newColumn != oldColumn { tally.mismatches += 1 }
        #expect(
          newReason == oldReason && newColumn == oldColumn,
          "line \(index): \(newReason) at \(newColumn), before \(oldReason) at \(oldColumn): \(String(decoding: line, as: UTF8.self))"
        )
      default:
        tally.mismatches += 1
        Issue.record("line \(index): \(new) against \(old): \(String(decoding: line, as: UTF8.self))")
      }
      if tally.mismatches > 20 { break }
    }
    // Every outcome is exercised, so an agreement is not an agreement on nothing.
    #expect(tally.events > 10_000 && tally.skipped > 100 && tally.malformed > 5_000, "\(tally)")
  }

  @Test func aDamagedRecordingReplaysWithTheOldCountsAndFirstMalformedLine() throws {
    var random = SeededRandom(seed: 0x5EED_0019)
    var text: [UInt8] = []
    var expected = (events: UInt64(0), malformed: UInt64(0), first: nil as String?)
    var oracle = OracleEventJSONReader.Decoder()
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("fs-differential-\(getpid()).jsonl").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    for number in 1...5_000 {
      var line = RecordingLines.line(&random, context: context)
      if number % 4 == 0 { RecordingLines.damage(&line, &random) }
      line.removeAll { $0 == UInt8(ascii: "\n") }
      if !line.allSatisfy({ [0x20, 0x09, 0x0D, 0x0B, 0x0C].contains($0) }) {
        switch line.withUnsafeBytes({ oracle.read($0) }) {
        case .event: expected.events += 1
        case .skipped: break
        case .malformed(let reason, var column):
          expected.malformed += 1
          var locator = EventJSONReader.Decoder()
          if reason == "not a JSON object", case .malformed(_, let located) = line.withUnsafeBytes({ locator.read($0) })
          {
            column = located
          }
          if expected.first == nil {
            expected.first = "\(path):\(number):\(column): malformed lines first here (\(reason))"
          }
        }
      }
      text += line + [UInt8(ascii: "\n")]
    }
    try Data(text).write(to: URL(fileURLWithPath: path))
    let replayer = Replayer(pipeline: Pipeline(rules: try RuleLoader.load(paths: [shippedRules])))
    let sink = InMemoryEventSink()
    replayer.replay(path: path, to: sink)
    #expect(expected.events > 1_000 && expected.malformed > 100)
    #expect(replayer.summary.recordedEvents == expected.events)
    #expect(replayer.summary.malformedLines == expected.malformed)
    #expect(replayer.summary.firstSkipped == [expected.first!])
    #expect(replayer.summary.fileErrors.isEmpty)
  }
}

/// Generated recording lines: events of every kind as `EventJSON` writes them, and ways to damage them.
enum RecordingLines {
  static func line(_ random: inout SeededRandom, context: EventJSON.Context) -> [UInt8] {
    var bytes: [UInt8] = []
    switch random.next() % 20 {
    case 0:
      return Array(#"{"schema_version":1,"type":"alert","rule":{"id":"FS-NET-001"},"events":[]}"#.utf8)
    case 1:
      return Array(#"{"schema_version":1,"event":"proc_exec","timestamp_ns":1,"args":{}}"#.utf8)
    case 2...5:
      EventJSON.append(.dns(dnsEvent(&random)), context: context, to: &bytes)
    default:
      EventJSON.append(.flow(flowEvent(&random)), context: context, to: &bytes)
    }
    return bytes
  }

  static func pick<T>(_ random: inout SeededRandom, _ choices: [T]) -> T {
    choices[Int(random.next() % UInt64(choices.count))]
  }

  static let names = [
    "a.example", "b.\"quoted\".example", "back\\slash.example", "line\nbreak", "\u{1F600}.example", "tab\there",
    "control\u{01}", "\u{7F}del", "é.example", "very-long-\(String(repeating: "x", count: 40)).example",
  ]

  static func endpoint(_ random: inout SeededRandom) -> Endpoint {
    let address: IPAddress =
      random.next() % 4 == 0
      ? IPAddress("2001:db8::\(String(random.next() % 0xFFFF, radix: 16))")!
      : .v4(UInt32(truncatingIfNeeded: random.next()))
    return Endpoint(address, UInt16(truncatingIfNeeded: random.next()))
  }

  static func number(_ random: inout SeededRandom) -> UInt64 {
    pick(&random, [0, 1, UInt64.max, UInt64(Int64.max), UInt64(UInt32.max), random.next(), random.next() % 1000])
  }

  static func flowEvent(_ random: inout SeededRandom) -> FlowEvent {
    let name = pick(&random, [EventName.netFlowTCPBegin, .netFlowTCPEnd, .netFlowTCPUpdate, .netFlowTCPHalfOpen])
    var event = FlowEvent(
      name: name, timestamp: Int64(random.next() % (1 << 62)),
      direction: random.next() % 2 == 0 ? .outgoing : .incoming,
      source: endpoint(&random), destination: endpoint(&random),
      sourceNames: (0..<Int(random.next() % 2)).map { _ in pick(&random, names) },
      destinationNames: (0..<Int(random.next() % 3)).map { _ in pick(&random, names) },
      cgroupID: number(&random), socketCookie: number(&random))
    if random.next() % 3 != 0 {
      event.process = ProcessIdentity(
        pid: UInt32(truncatingIfNeeded: random.next()), uid: UInt32(truncatingIfNeeded: random.next()),
        command: pick(&random, ["curl", "nginx: worker", "\u{1F600}", "q\"uote"]))
    }
    func volume(_ random: inout SeededRandom) -> FlowVolume {
      FlowVolume(
        bytesSent: number(&random), bytesReceived: number(&random), packetsSent: number(&random),
        packetsReceived: number(&random), retransmits: number(&random), rttMicroseconds: number(&random))
    }
    switch name {
    case .netFlowTCPEnd, .netFlowTCPUpdate:
      if name == .netFlowTCPEnd {
        event.closeReason = pick(&random, [CloseReason.fin, .rst, .refused, .timeout])
        event.terminatedBy = random.next() % 2 == 0 ? .local : .remote
      }
      if random.next() % 2 == 0 { event.durationNanoseconds = Int64(random.next() % (1 << 63)) }
      if random.next() % 2 == 0 {
        event.volume = volume(&random)
        if random.next() % 2 == 0 { event.volumeDelta = volume(&random) }
      }
    case .netFlowTCPHalfOpen:
      event.attempts = number(&random)
    default:
      break
    }
    event.preexisting = random.next() % 4 == 0
    return event
  }

  static func dnsEvent(_ random: inout SeededRandom) -> DNSEvent {
    var event = DNSEvent(
      timestamp: Int64(random.next() % (1 << 62)), source: endpoint(&random), destination: endpoint(&random),
      transport: random.next() % 2 == 0 ? .udp : .tcp, cgroupID: number(&random),
      id: UInt16(truncatingIfNeeded: random.next()), responseCode: UInt8(truncatingIfNeeded: random.next() % 24),
      questions: (0..<Int(random.next() % 3)).map { _ in pick(&random, names) },
      answers: (0..<Int(random.next() % 4)).map { _ in
        DNSEvent.Answer(
          name: pick(&random, names), type: pick(&random, ["A", "AAAA", "CNAME"]),
          timeToLive: UInt32(truncatingIfNeeded: random.next()), data: pick(&random, names))
      },
      truncated: random.next() % 5 == 0)
    event.answered = random.next() % 4 != 0
    return event
  }

  /// Tokens a number or any value may be replaced by: at and past the ranges, other kinds, JSON's
  /// other spellings of integers.
  static let values = [
    "65535", "65536", "-1", "0", "-0", "1e2", "1E+2", "1.0", "1.5", "100e-2", "true", "false", "null", #""1""#, "[]",
    "{}", "[1,2]", #"{"a":1}"#, "18446744073709551615", "18446744073709551616", "-9223372036854775808",
    "-9223372036854775809", "4611686018427387904", "4611686018427387905", "4294967296", "255", "256", "1e400",
    "0.0e0", #""198.51.100.1""#, #""::1""#, #""01.2.3.4""#, #""1.2.3""#, #""not an address""#, #""tcp""#,
    #""fin""#, #""remote""#, #""incoming""#, #""net_flow_tcp_end""#, #""alert""#, #"["a\u0000b"]"#,
    #"[{"name":"a","type":"A","data":"d","ttl":1}]"#, #"[{"name":"a","type":"A","data":"d","ttl":-1}]"#,
    #"[{"name":"a"},{"x":1}]"#, #"[1,{"name":"a","type":"A","data":"d"}]"#, #"{"pid":1,"uid":2,"comm":"x"}"#,
    #"{"pid":true}"#,
  ]

  static let members = [
    #""timestamp_ns":9"#, #""args":5"#, #""args":{"src":"::1"}"#, #""process":{"pid":1}"#, #""process":null"#,
    #""type":"alert""#, #""t\u0079pe":"alert""#, #""type":"\u0061lert""#, #""event":"net_packet_dns""#,
    #""event":"x""#, #""schema_version":2"#, #""schema_version":1.0"#, #""sch\u0065ma_version":1"#,
    #""cgroup_id":-1"#, #""host":7"#, #""socket_cookie":1e1"#, #""\u0000":1"#, #""":"""#,
    #""very_long_key_past_twenty_four_bytes":1"#,
  ]

  static let argsMembers = [
    #""src":"::1""#, #""dst_port":70000"#, #""dst_dns":["x"]"#, #""dst_dns":"x""#, #""src_dns":[1]"#,
    #""questions":["q",null]"#, #""answers":[{"name":"n","type":"A","data":"d","ttl":5}]"#, #""answers":7"#,
    #""bytes_sent":1"#, #""rtt_us":2"#, #""retransmits_delta":3"#, #""bytes_sent_delta":4"#, #""duration_ns":null"#,
    #""duration_ns":-5"#, #""attempts":true"#, #""preexisting":1"#, #""preexisting":true"#, #""truncated":true"#,
    #""answered":false"#, #""answered":0"#,
    #""transport":"t\u0063p""#, #""close_reason":"rst""#, #""terminated_by":"x""#, #""conn_direction":"sideways""#,
    #""dst\u005fdns":["escaped key"]"#, #""id":65536"#, #""rcode":256"#,
  ]

  static let bytes: [UInt8] = [
    0x22, 0x5C, 0x7B, 0x7D, 0x5B, 0x5D, 0x2C, 0x3A, 0x30, 0x39, 0x2D, 0x2E, 0x65, 0x20, 0x0A, 0x09, 0x00, 0x01,
    0x1F, 0x7F, 0x80, 0xC3, 0xE0, 0xED, 0xF4, 0xFF, 0x74, 0x6E, 0x75,
  ]

  static func damage(_ line: inout [UInt8], _ random: inout SeededRandom) {
    let position = line.isEmpty ? 0 : Int(random.next() % UInt64(line.count))
    switch random.next() % 12 {
    case 0:
      if !line.isEmpty { line[position] = pick(&random, bytes) }
    case 1:
      line.removeSubrange(position...)
    case 2:
      if !line.isEmpty { line.remove(at: position) }
    case 3:
      line.insert(pick(&random, bytes), at: position)
    case 4, 5:
      // A value after a key replaced by another token.
      let colons = line.indices.filter { line[$0] == UInt8(ascii: ":") && $0 > 0 && line[$0 - 1] == UInt8(ascii: "\"") }
      guard let colon = colons.isEmpty ? nil : pick(&random, colons) else { return }
      var end = colon + 1
      var depth = 0
      var inString = false
      while end < line.count {
        let byte = line[end]
        if inString {
          if byte == UInt8(ascii: "\\") { end += 1 } else if byte == UInt8(ascii: "\"") { inString = false }
        } else if byte == UInt8(ascii: "\"") {
          inString = true
        } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
          depth += 1
        } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
          if depth == 0 { break }
          depth -= 1
        } else if byte == UInt8(ascii: ","), depth == 0 {
          break
        }
        end += 1
      }
      line.replaceSubrange(colon + 1..<min(end, line.count), with: Array(pick(&random, values).utf8))
    case 6:
      // A member first (a duplicate the line's own overrides) or last (one that overrides it).
      let member = Array(pick(&random, members).utf8)
      if random.next() % 2 == 0, line.first == UInt8(ascii: "{") {
        line.insert(contentsOf: member + [UInt8(ascii: ",")], at: 1)
      } else if line.last == UInt8(ascii: "}") {
        line.insert(contentsOf: [UInt8(ascii: ",")] + member, at: line.count - 1)
      }
    case 7:
      // A member of args, last (args closes just before the line does).
      if line.count > 2 { line.insert(contentsOf: Array(("," + pick(&random, argsMembers)).utf8), at: line.count - 2) }
    case 8:
      // Keys spelled with escapes.
      let text = String(decoding: line, as: UTF8.self)
      let key = pick(&random, ["\"args\"", "\"src\"", "\"dst_dns\"", "\"timestamp_ns\"", "\"pid\"", "\"ttl\""])
      let escaped = key.replacingOccurrences(of: "s", with: "\\u0073").replacingOccurrences(of: "t", with: "\\t")
      line = Array(text.replacingOccurrences(of: key, with: random.next() % 2 == 0 ? escaped : key + " ").utf8)
    case 9:
      // Nesting at and past the bound (64 levels below the line's own).
      let depth = pick(&random, [62, 63, 64, 65, 70])
      let nested = String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth)
      if line.count > 2 { line.insert(contentsOf: Array((",\"deep\":" + nested).utf8), at: line.count - 2) }
    case 10:
      // Blanks between tokens.
      let text = String(decoding: line, as: UTF8.self)
      line = Array(
        text.replacingOccurrences(of: ",\"", with: pick(&random, [", \"", ",\t\"", ",\r\n\""]))
          .replacingOccurrences(of: "\":", with: "\" : ").utf8)
    default:
      // Invalid UTF-8 inside a string value.
      if let quote = line.lastIndex(of: UInt8(ascii: "\"")), quote > 0 {
        line.insert(
          contentsOf: pick(&random, [[0xFF], [0xC3], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80]]), at: quote)
      }
    }
  }
}
