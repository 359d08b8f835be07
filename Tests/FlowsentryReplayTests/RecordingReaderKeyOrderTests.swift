import FlowsentryCore
import FlowsentryOutput
import FlowsentryTestSupport
import Testing

/// The scanner matches a line's keys from what it learned of the lines before (the key that came
/// after another, an object's first key): whatever the order of keys, line after line, it must read
/// what the old reader read. Lines of every kind with their members (and those of `args`,
/// `process` and each answer) in a random order, some shapes repeated so that an order is learned
/// before another comes, some damaged, all through one decoder.
@Suite struct RecordingReaderKeyOrderTests {
  let context = EventJSON.Context(hostName: "sensor")

  @Test func everyOrderOfKeysReadsAsTheOldReaderRead() {
    var random = SeededRandom(seed: 0x5EED_0020)
    var decoder = EventJSONReader.Decoder()
    var oracle = OracleEventJSONReader.Decoder()
    var tally = (events: 0, skipped: 0, malformed: 0, mismatches: 0)
    var line: [UInt8] = []
    for index in 0..<20_000 {
      // A shape kept for a few lines, then another: an order is learned, then must be unlearned.
      if index % 4 == 0 {
        line = RecordingLines.line(&random, context: context)
        if random.next() % 2 == 0 { line = KeyOrder.shuffled(line, &random) }
      }
      var read = line
      if random.next() % 5 == 0 { RecordingLines.damage(&read, &random) }
      let new = read.withUnsafeBytes { decoder.read($0) }
      let old = read.withUnsafeBytes { oracle.read($0) }
      let text = String(decoding: read, as: UTF8.self)
      switch (new, old) {
      case (.event(let newEvent), .event(let oldEvent)):
        tally.events += 1
        let same =
          newEvent == oldEvent
          && EventJSON.line(for: newEvent, context: context).utf8.elementsEqual(
            EventJSON.line(for: oldEvent, context: context).utf8)
        if !same { tally.mismatches += 1 }
        #expect(same, "line \(index): \(text)")
      case (.skipped, .skipped):
        tally.skipped += 1
      case (.malformed(let newReason, let newColumn), .malformed(let oldReason, var oldColumn)):
        tally.malformed += 1
        // The old reader did not locate syntax errors (column 1).
        if oldReason == "not a JSON object" { oldColumn = newColumn }
        if newReason != oldReason || newColumn != oldColumn { tally.mismatches += 1 }
        #expect(
          newReason == oldReason && newColumn == oldColumn,
          "line \(index): \(newReason) at \(newColumn), before \(oldReason) at \(oldColumn): \(text)")
      default:
        tally.mismatches += 1
        Issue.record("line \(index): \(new) against \(old): \(text)")
      }
      if tally.mismatches > 20 { break }
    }
    #expect(tally.events > 8_000 && tally.skipped > 100 && tally.malformed > 1_000, "\(tally)")
  }

  /// The writer's order, learned from many lines, then lines whose optional keys come and go: every
  /// event as the old reader read it (a wrong guess from the learned order must cost time only).
  @Test func keysLearnedFromOneShapeDoNotMisreadAnother() {
    let begin = #"{"schema_version":1,"event":"net_flow_tcp_begin","timestamp_ns":5,"host":"h","cgroup_id":0,"#
    let lines = [
      begin + #""socket_cookie":0,"process":{"pid":1,"comm":"c","uid":2},"args":{"conn_direction":"outgoing","#
        + #""src":"10.0.0.1","dst":"10.0.0.2","src_port":1,"dst_port":2,"src_dns":[],"dst_dns":["a.example"]}}"#,
      begin + #""process":{"uid":2,"pid":1},"args":{"dst_dns":["b"],"src":"10.0.0.1","dst":"10.0.0.2","#
        + #""src_port":1,"dst_port":2,"conn_direction":"incoming","src_dns":["c"]}}"#,
      begin + #""args":{"conn_direction":"outgoing","src":"10.0.0.1","dst":"10.0.0.2","src_port":1,"#
        + #""dst_port":2,"dst_dns":["x"],"dst_dns":["y"]},"process":{"pid":3}}"#,
      #"{"schema_version":1,"event":"net_packet_dns","timestamp_ns":7,"host":"h","cgroup_id":0,"process":null,"#
        + #""args":{"src":"10.0.0.1","dst":"10.0.0.53","src_port":1,"dst_port":53,"transport":"udp","id":1,"#
        + #""rcode":0,"questions":["q."],"answers":[{"name":"q","type":"A","ttl":60,"data":"1.2.3.4"},"#
        + #"{"data":"5.6.7.8","ttl":1,"type":"A","name":"q"},{"ttl":2,"name":"r"}],"truncated":false}}"#,
      #"{"schema_version":1,"event":"net_flow_tcp_end","timestamp_ns":9,"host":"h","cgroup_id":0,"#
        + #""args":{"conn_direction":"outgoing","src":"10.0.0.1","dst":"10.0.0.2","src_port":1,"dst_port":2,"#
        + #""close_reason":"fin","terminated_by":"local","rtt_us":3,"bytes_sent":1,"bytes_received":2,"#
        + #""packets_sent":3,"packets_received":4,"retransmits":0,"duration_ns":null}}"#,
    ]
    var decoder = EventJSONReader.Decoder()
    var oracle = OracleEventJSONReader.Decoder()
    for round in 0..<3 {
      for (index, line) in lines.enumerated() {
        for _ in 0..<(round == 1 ? 1 : 5) {
          let bytes = Array(line.utf8)
          let new = bytes.withUnsafeBytes { decoder.read($0) }
          let old = bytes.withUnsafeBytes { oracle.read($0) }
          guard case .event(let newEvent) = new, case .event(let oldEvent) = old else {
            Issue.record("line \(index): \(new) against \(old)")
            continue
          }
          #expect(newEvent == oldEvent, "round \(round), line \(index)")
        }
      }
    }
  }

  /// Addresses near a dotted quad (leading zeros, octets past 255, missing or extra parts, other
  /// bytes): read in line or by the general parser, each as the old reader read it.
  @Test func addressesNearADottedQuadReadAsTheOldReaderRead() {
    var random = SeededRandom(seed: 0x5EED_0021)
    let pieces = [
      "0", "1", "9", "00", "01", "10", "99", "100", "199", "255", "256", "299", "999", "1000", "", "a", "-1",
    ]
    var events = 0
    for index in 0..<20_000 {
      let parts = (0..<Int(3 + random.next() % 3)).map { _ in RecordingLines.pick(&random, pieces) }
      var address = parts.joined(separator: random.next() % 10 == 0 ? ":" : ".")
      if random.next() % 10 == 0 { address += RecordingLines.pick(&random, [".", " ", "x", "::1"]) }
      let line =
        #"{"schema_version":1,"event":"net_flow_tcp_begin","timestamp_ns":1,"args":{"conn_direction":"outgoing","#
        + #""src":"\#(address)","dst":"10.0.0.2","src_port":1,"dst_port":2}}"#
      let new = EventJSONReader.read(line)
      let old = OracleEventJSONReader.read(line)
      switch (new, old) {
      case (.event(let newEvent), .event(let oldEvent)):
        events += 1
        #expect(newEvent == oldEvent, "line \(index): \(line)")
      case (.malformed(let newReason, let newColumn), .malformed(let oldReason, let oldColumn)):
        #expect(newReason == oldReason && newColumn == oldColumn, "line \(index): \(line)")
      default:
        Issue.record("line \(index): \(new) against \(old): \(line)")
      }
    }
    #expect(events > 200, "\(events) events")
  }
}

/// A line with the members of each of its objects (nested ones too, and objects in arrays) in a
/// random order, byte for byte otherwise.
enum KeyOrder {
  static func shuffled(_ line: [UInt8], _ random: inout SeededRandom) -> [UInt8] {
    guard line.first == UInt8(ascii: "{"), line.last == UInt8(ascii: "}") else { return line }
    return object(line[...], &random)
  }

  private static func object(_ bytes: ArraySlice<UInt8>, _ random: inout SeededRandom) -> [UInt8] {
    var members = parts(bytes).map { member -> [UInt8] in
      // The value after the key's closing quote and colon.
      guard let colon = valueStart(member) else { return Array(member) }
      return Array(member[member.startIndex..<colon]) + value(member[colon...], &random)
    }
    for index in members.indices.reversed() where index > 0 {
      members.swapAt(index, Int(random.next() % UInt64(index + 1)))
    }
    return [UInt8(ascii: "{")] + Array(members.joined(separator: [UInt8(ascii: ",")])) + [UInt8(ascii: "}")]
  }

  private static func value(_ bytes: ArraySlice<UInt8>, _ random: inout SeededRandom) -> [UInt8] {
    switch bytes.first {
    case UInt8(ascii: "{"): return object(bytes, &random)
    case UInt8(ascii: "["):
      let elements = parts(bytes).map { value($0, &random) }
      return [UInt8(ascii: "[")] + Array(elements.joined(separator: [UInt8(ascii: ",")])) + [UInt8(ascii: "]")]
    default: return Array(bytes)
    }
  }

  /// Where a member's value starts: after its key string and the colon.
  private static func valueStart(_ member: ArraySlice<UInt8>) -> Int? {
    var index = member.startIndex + 1
    while index < member.endIndex {
      if member[index] == UInt8(ascii: "\\") {
        index += 2
        continue
      }
      if member[index] == UInt8(ascii: "\"") { return index + 2 <= member.endIndex ? index + 2 : nil }
      index += 1
    }
    return nil
  }

  /// The top-level members (or elements) of a container as written (no blanks: the writer's lines).
  private static func parts(_ bytes: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
    var result: [ArraySlice<UInt8>] = []
    var depth = 0
    var inString = false
    var start = bytes.startIndex + 1
    var index = start
    while index < bytes.endIndex - 1 {
      let byte = bytes[index]
      if inString {
        if byte == UInt8(ascii: "\\") {
          index += 1
        } else if byte == UInt8(ascii: "\"") {
          inString = false
        }
      } else if byte == UInt8(ascii: "\"") {
        inString = true
      } else if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") {
        depth += 1
      } else if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") {
        depth -= 1
      } else if byte == UInt8(ascii: ","), depth == 0 {
        result.append(bytes[start..<index])
        start = index + 1
      }
      index += 1
    }
    if start < bytes.endIndex - 1 { result.append(bytes[start..<bytes.endIndex - 1]) }
    return result
  }
}
