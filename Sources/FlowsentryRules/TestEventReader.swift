import FlowsentryCore
import Yams

/// Reads one event of a rule test. `repeat: N` with `every: 100ms` makes N events, and
/// `vary: {dst_port: 1, src: 1}` adds i times the step to a port or to an IPv4 address.
///
/// Every number is range-checked, never wrapped or clamped: a value outside its field's range, one
/// that `repeat` and `vary` carry out of it, or a time past the largest one is a positioned error.
enum TestEventReader {
  static let keys =
    [
      "at", "event", "conn_direction", "src", "dst", "src_port", "dst_port", "src_dns", "dst_dns", "close_reason",
      "terminated_by", "duration_ns", "attempts", "process", "questions", "answers", "answered", "repeat", "every",
      "vary", "host",
    ] + VolumeFields.all.map(\.name) + VolumeFields.deltas.map(\.name)
  static let variableKeys = ["src", "dst", "src_port", "dst_port", "host"]
  static let portRange: ClosedRange<Int64> = 0...Int64(UInt16.max)
  static let idRange: ClosedRange<Int64> = 0...Int64(UInt32.max)

  /// How many more events the test, and the whole load, may generate.
  struct Budget {
    var test: Int
    var load: Int
  }

  static func read(_ node: Node, _ file: String, budget: Budget, into builder: inout RuleSetBuilder) -> [TestEvent] {
    guard case .mapping(let mapping) = node else {
      builder.report(.error, builder.location(node, file), "a test event is a mapping of fields")
      return []
    }
    builder.checkKeys(mapping, keys, "a test event", file)
    var failed = false
    func fail(_ node: Node?, _ message: String) {
      builder.report(.error, builder.location(node ?? .mapping(mapping), file), message)
      failed = true
    }
    func text(_ key: String, in fields: Node.Mapping? = nil) -> String? {
      guard let value = (fields ?? mapping)[key] else { return nil }
      guard let text = value.scalar?.string else {
        fail(value, "'\(key)' takes a single value")
        return nil
      }
      return text
    }
    /// The whole number given for `key`, `fallback` when there is none; nil after an error.
    func integer(_ key: String, in range: ClosedRange<Int64>, default fallback: Int64, of fields: Node.Mapping? = nil)
      -> Int64?
    {
      guard let value = (fields ?? mapping)[key] else { return fallback }
      guard let number = value.checkedInt.map(Int64.init), range.contains(number) else {
        fail(value, "'\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        return nil
      }
      return number
    }
    func duration(_ key: String) -> Int64 {
      guard let value = text(key) else { return 0 }
      guard let nanoseconds = Duration.parse(value) else {
        fail(mapping[key], "'\(key)' is a duration like 0s, 250ms or 2m, of at most 31d")
        return 0
      }
      return nanoseconds
    }

    func address(_ key: String, default fallback: String) -> IPAddress {
      guard let value = text(key) else { return IPAddress(fallback)! }
      guard let address = IPAddress(value) else {
        fail(mapping[key], "'\(key)' must be an address")
        return IPAddress(fallback)!
      }
      return address
    }

    guard let name = text("event").flatMap(EventName.init(rawValue:)) else {
      fail(
        mapping["event"], "a test event needs 'event': \(EventName.allCases.map(\.rawValue).joined(separator: ", "))")
      return []
    }
    let at = duration("at")
    let every = duration("every")
    let count = Int(integer("repeat", in: 1...Int64(RuleLimits.maximumRepeat), default: 1) ?? 1)
    if count > budget.test {
      fail(mapping["repeat"], "a test generates at most \(RuleLimits.maximumEventsPerTest) events")
    } else if count > budget.load {
      fail(mapping["repeat"], "the tests of all rule files generate at most \(RuleLimits.maximumTestEvents) events")
    }
    // Both at most 31 days and `count` at most 100,000: the last event's time may still overflow.
    let (span, spanOverflow) = Int64(count - 1).multipliedReportingOverflow(by: every)
    if spanOverflow || span > Int64.max - at {
      fail(mapping["every"], "'repeat' times 'every' goes past the largest time")
    }
    let source = address("src", default: "198.51.100.10")
    let destination = address("dst", default: "203.0.113.20")
    let direction = text("conn_direction").map(ConnectionDirection.init(rawValue:)) ?? .outgoing
    if direction == nil { fail(mapping["conn_direction"], "'conn_direction' is outgoing or incoming") }
    let reason = text("close_reason").map(CloseReason.init(rawValue:)) ?? CloseReason.fin
    if reason == nil { fail(mapping["close_reason"], "'close_reason' is fin, rst, refused or timeout") }
    let side = text("terminated_by").map(Side.init(rawValue:)) ?? Side.local
    if side == nil { fail(mapping["terminated_by"], "'terminated_by' is local or remote") }
    let sourcePort = integer("src_port", in: portRange, default: 40_000) ?? 0
    let destinationPort = integer("dst_port", in: portRange, default: 443) ?? 0
    let attempts = integer("attempts", in: 0...Int64.max, default: 1) ?? 0
    let flowDuration = mapping["duration_ns"] == nil ? nil : integer("duration_ns", in: 0...Int64.max, default: 0)
    // Volume fields (sizes like `2 MiB` allowed) make the event carry a volume, as end events do.
    var volumeValues: [String: UInt64] = [:]
    for name in VolumeFields.names.union(VolumeFields.deltaNames).sorted() {
      guard let node = mapping[name] else { continue }
      guard let value = (node.scalar?.string).flatMap(IntegerLiteral.parse), value >= 0 else {
        fail(node, "'\(name)' must be a whole number from 0 to \(Int64.max), KiB, MiB, GiB or TiB allowed")
        continue
      }
      volumeValues[name] = UInt64(value)
    }
    let volume =
      VolumeFields.names.allSatisfy({ volumeValues[$0] == nil })
      ? nil
      : FlowVolume(
        bytesSent: volumeValues["bytes_sent"] ?? 0, bytesReceived: volumeValues["bytes_received"] ?? 0,
        packetsSent: volumeValues["packets_sent"] ?? 0, packetsReceived: volumeValues["packets_received"] ?? 0,
        retransmits: volumeValues["retransmits"] ?? 0, rttMicroseconds: volumeValues["rtt_us"] ?? 0)
    // Deltas given apart (an update after another); without them an end's delta is its volume.
    let volumeDelta =
      VolumeFields.deltaNames.allSatisfy({ volumeValues[$0] == nil })
      ? nil
      : FlowVolume(
        bytesSent: volumeValues["bytes_sent_delta"] ?? 0, bytesReceived: volumeValues["bytes_received_delta"] ?? 0,
        packetsSent: volumeValues["packets_sent_delta"] ?? 0,
        packetsReceived: volumeValues["packets_received_delta"] ?? 0,
        retransmits: volumeValues["retransmits_delta"] ?? 0, rttMicroseconds: volumeValues["rtt_us"] ?? 0)

    // Steps: the first and the last event must both stay in range (the values move one way).
    var vary: [String: Int64] = [:]
    if let node = mapping["vary"] {
      if case .mapping(let steps) = node {
        builder.checkKeys(steps, variableKeys, "'vary'", file)
        for (key, _) in steps {
          guard let field = key.string, variableKeys.contains(field) else { continue }
          if field == "host" {
            // `host-0`, `host-STEP`, …: as many sensors as events, for fleet rules.
            guard let step = integer(field, in: 1...1_000_000, default: 1, of: steps) else { continue }
            vary[field] = step
            continue
          }
          let isPort = field.hasSuffix("_port")
          let limit = isPort ? portRange.upperBound : Int64(UInt32.max)
          guard let step = integer(field, in: -limit...limit, default: 0, of: steps) else { continue }
          let last = Int64(count - 1) * step  // at most 99,999 × 2^32: no overflow
          let first: Int64
          if isPort {
            first = field == "src_port" ? sourcePort : destinationPort
          } else if case .v4(let value) = field == "src" ? source : destination {
            first = Int64(value)
          } else {
            fail(key, "'vary' steps an IPv4 address; '\(field)' is not one")
            continue
          }
          guard (0...limit).contains(first + last) else {
            fail(key, "'vary' takes '\(field)' out of its range (0 to \(limit)) by the last of \(count) events")
            continue
          }
          vary[field] = step
        }
      } else {
        fail(node, "'vary' takes src, dst, src_port, dst_port or host with a step")
      }
    }
    var process: ProcessIdentity?
    if let node = mapping["process"] {
      if case .mapping(let fields) = node {
        builder.checkKeys(fields, ["pid", "uid", "comm"], "'process'", file)
        let pid = integer("pid", in: idRange, default: 1, of: fields) ?? 0
        let uid = integer("uid", in: idRange, default: 0, of: fields) ?? 0
        if !fields.isEmpty {
          process = ProcessIdentity(pid: UInt32(pid), uid: UInt32(uid), command: text("comm", in: fields) ?? "")
        }
      } else {
        fail(node, "'process' takes pid, uid and comm")
      }
    }
    func list(_ key: String) -> [String] {
      let items = builder.stringList(mapping[key], key, file)
      return items.map(\.0)
    }
    let host = text("host", in: mapping) ?? ""
    if !host.isEmpty, let problem = SensorIdentity.problem(host) { fail(mapping["host"], problem) }
    // Names as capture delivers them (DNSNameText): a rule tested on `www.EvilCorp.com` sees what
    // it would live, `www.evilcorp.com`. Only here: a replayed recording keeps its names as recorded.
    let questions = list("questions").map(DNSNameText.captured)
    // An address as capture writes one too (`2001:DB8::1` is `2001:db8::1`).
    let answers = list("answers").map {
      answerType($0) == "CNAME" ? DNSNameText.captured($0) : IPAddress($0)?.description ?? $0
    }
    var answered = true
    if let node = mapping["answered"] {
      if let value = node.bool { answered = value } else { fail(node, "'answered' must be true or false") }
    }
    let sourceNames = list("src_dns").map(DNSNameText.captured)
    let destinationNames = list("dst_dns").map(DNSNameText.captured)
    // Once the values are right in themselves: an event with a bad value is said to have that first.
    if !failed { checkKind(name, mapping, file, into: &builder) }
    guard !failed, let direction, let reason, let side else { return [] }

    var events: [TestEvent] = []
    events.reserveCapacity(count)
    for index in 0..<count {
      let i = Int64(index)
      func shifted(_ address: IPAddress, _ key: String) -> IPAddress {
        guard let step = vary[key], case .v4(let value) = address else { return address }
        return .v4(UInt32(Int64(value) + i * step))  // in range: checked above
      }
      let timestamp = at + i * every
      let src = Endpoint(shifted(source, "src"), UInt16(sourcePort + i * (vary["src_port"] ?? 0)))
      let dst = Endpoint(shifted(destination, "dst"), UInt16(destinationPort + i * (vary["dst_port"] ?? 0)))
      let event: SensorEvent
      switch name {
      case .netPacketDNS:
        var lookup = DNSEvent(
          timestamp: timestamp, source: src, destination: dst, transport: .udp, cgroupID: 0, id: 1, responseCode: 0,
          questions: questions,
          answers: answers.map {
            .init(name: questions.first ?? "", type: Self.answerType($0), timeToLive: 60, data: $0)
          },
          truncated: false)
        lookup.answered = answered
        event = .dns(lookup)
      case .netFlowTCPHalfOpen:
        event = .flow(
          FlowEvent(
            name: name, timestamp: timestamp, direction: .incoming, source: src, destination: dst,
            sourceNames: sourceNames, destinationNames: destinationNames, attempts: UInt64(attempts)))
      case .netFlowTCPBegin, .netFlowTCPEnd, .netFlowTCPUpdate:
        var flow = FlowEvent(
          name: name, timestamp: timestamp, direction: direction, source: src, destination: dst,
          sourceNames: sourceNames, destinationNames: destinationNames,
          closeReason: name == .netFlowTCPEnd ? reason : nil, terminatedBy: name == .netFlowTCPEnd ? side : nil,
          durationNanoseconds: flowDuration, process: process, volume: name == .netFlowTCPBegin ? nil : volume)
        flow.volumeDelta = name == .netFlowTCPBegin ? nil : volumeDelta
        event = .flow(flow)
      }
      let sensor = vary["host"].map { "\(host.isEmpty ? "host" : host)-\(i * $0)" } ?? host
      events.append(TestEvent(at: timestamp, event: sensor.isEmpty ? event : event.withHost(sensor)))
    }
    return events
  }

  /// A test's answer as capture would decode it: an address is an A or AAAA record, anything else
  /// an alias (CNAME).
  static func answerType(_ data: String) -> String {
    var bytes = data
    return bytes.withUTF8 { utf8 in
      let raw = UnsafeRawBufferPointer(utf8)
      if IPAddress.strictDottedQuad(raw) != nil { return "A" }
      return IPAddress.strictIPv6(raw) != nil ? "AAAA" : "CNAME"
    }
  }
}
