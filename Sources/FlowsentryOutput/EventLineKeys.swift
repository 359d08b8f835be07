/// The members an event is read from, by object: the line's own, `args`'s, `process`'s and one DNS
/// answer's. Their order is the order `EventJSON` writes them, which the scanner tries first.
/// `time` and `community_id` are kept but never read: listed, they keep the writer's order for the
/// keys after them, and an unlisted key costs a search of the whole table.
enum RootKey: Int, CaseIterable {
  case schemaVersion, event, type, time, timestampNanoseconds, host, cgroupID, socketCookie, process, args
}

enum ArgsKey: Int, CaseIterable {
  case connDirection, src, dst, srcPort, dstPort, communityID, transport, id, rcode, questions, answers, srcDNS, dstDNS
  case closeReason, terminatedBy, duration, bytesSent, bytesReceived, packetsSent, packetsReceived
  case retransmits, rtt, bytesSentDelta, bytesReceivedDelta, packetsSentDelta, packetsReceivedDelta
  case retransmitsDelta, attempts, truncated, preexisting
}

enum ProcessKey: Int, CaseIterable {
  case pid, comm, uid
}

enum AnswerKey: Int, CaseIterable {
  case name, type, ttl, data
}

extension EventLineScanner {
  /// A key as up to three little-endian words, zero-padded: how the tables hold them.
  struct KeyWords: Equatable {
    var count: Int
    var words: (UInt64, UInt64, UInt64)

    static func == (left: KeyWords, right: KeyWords) -> Bool {
      left.count == right.count && left.words.0 == right.words.0 && left.words.1 == right.words.1
        && left.words.2 == right.words.2
    }

    init(count: Int, words: (UInt64, UInt64, UInt64)) {
      self.count = count
      self.words = words
    }

    /// Nil for a key longer than any the tables hold.
    init?(_ bytes: UnsafeRawBufferPointer) {
      guard bytes.count <= 24 else { return nil }
      count = bytes.count
      words = (0, 0, 0)
      guard bytes.baseAddress != nil else { return }
      var packed: (UInt64, UInt64, UInt64) = (0, 0, 0)
      for (offset, byte) in bytes.enumerated() {
        let shifted = UInt64(byte) << UInt64(offset % 8 * 8)
        switch offset / 8 {
        case 0: packed.0 |= shifted
        case 1: packed.1 |= shifted
        default: packed.2 |= shifted
        }
      }
      words = packed
    }
  }
}

extension EventLineScanner {
  /// A key as a line written by `EventJSON` holds it after its opening quote, `name":`, as up to
  /// three little-endian words and the masks of their bytes: compared with a line at once.
  struct WrittenKey {
    var count: Int
    var words: (UInt64, UInt64, UInt64)
    var masks: (UInt64, UInt64, UInt64)

    init(_ name: StaticString) {
      let bytes = Array(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)) + Array("\":".utf8)
      precondition(bytes.count <= 24, "a key longer than the written-key words")
      count = bytes.count
      var words: [UInt64] = [0, 0, 0]
      var masks: [UInt64] = [0, 0, 0]
      for (offset, byte) in bytes.enumerated() {
        words[offset / 8] |= UInt64(byte) << UInt64(offset % 8 * 8)
        masks[offset / 8] |= 0xFF << UInt64(offset % 8 * 8)
      }
      self.words = (words[0], words[1], words[2])
      self.masks = (masks[0], masks[1], masks[2])
    }
  }
}

extension EventLineScanner.Storage {
  /// Every table's keys as written, in the order of `keys`; built once, never changed.
  nonisolated(unsafe) static let writtenKeys: UnsafePointer<EventLineScanner.WrittenKey> = {
    let names =
      RootKey.allCases.map(\.name) + ArgsKey.allCases.map(\.name) + ProcessKey.allCases.map(\.name)
      + AnswerKey.allCases.map(\.name)
    let table = UnsafeMutablePointer<EventLineScanner.WrittenKey>.allocate(capacity: names.count)
    for (index, name) in names.enumerated() { (table + index).initialize(to: EventLineScanner.WrittenKey(name)) }
    return UnsafePointer(table)
  }()
}

extension RootKey {
  var name: StaticString {
    switch self {
    case .schemaVersion: "schema_version"
    case .event: "event"
    case .type: "type"
    case .time: "time"
    case .timestampNanoseconds: "timestamp_ns"
    case .host: "host"
    case .cgroupID: "cgroup_id"
    case .socketCookie: "socket_cookie"
    case .process: "process"
    case .args: "args"
    }
  }
}

extension ArgsKey {
  var name: StaticString {
    switch self {
    case .connDirection: "conn_direction"
    case .src: "src"
    case .dst: "dst"
    case .srcPort: "src_port"
    case .dstPort: "dst_port"
    case .communityID: "community_id"
    case .transport: "transport"
    case .id: "id"
    case .rcode: "rcode"
    case .questions: "questions"
    case .answers: "answers"
    case .srcDNS: "src_dns"
    case .dstDNS: "dst_dns"
    case .closeReason: "close_reason"
    case .terminatedBy: "terminated_by"
    case .duration: "duration_ns"
    case .bytesSent: "bytes_sent"
    case .bytesReceived: "bytes_received"
    case .packetsSent: "packets_sent"
    case .packetsReceived: "packets_received"
    case .retransmits: "retransmits"
    case .rtt: "rtt_us"
    case .bytesSentDelta: "bytes_sent_delta"
    case .bytesReceivedDelta: "bytes_received_delta"
    case .packetsSentDelta: "packets_sent_delta"
    case .packetsReceivedDelta: "packets_received_delta"
    case .retransmitsDelta: "retransmits_delta"
    case .attempts: "attempts"
    case .truncated: "truncated"
    case .preexisting: "preexisting"
    }
  }
}

extension ProcessKey {
  var name: StaticString {
    switch self {
    case .pid: "pid"
    case .comm: "comm"
    case .uid: "uid"
    }
  }
}

extension AnswerKey {
  var name: StaticString {
    switch self {
    case .name: "name"
    case .type: "type"
    case .ttl: "ttl"
    case .data: "data"
    }
  }
}
