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
  case retransmitsDelta, attempts, truncated, answered, preexisting
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
    case .answered: "answered"
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

/// Matching a member's key against the tables, as a scan reads it.
extension EventLineScanner.Pass {
  /// The index in `table` of the key that `position` (its opening quote) starts when it is one
  /// of those tried first, written as the writer writes it, `"name":`, compared at once: the key
  /// learned to follow `previous` (an index in the table, -1 at an object's start), then the
  /// three after `previous` in the writer's order (an absent optional key or two skipped);
  /// `position` is then past the colon. -1 (and `position` unmoved) otherwise: the key is scanned
  /// as any string and looked up.
  @inline(always)
  func writtenKey(_ position: inout Int, in table: KeyTable, after previous: Int) -> Int {
    let learned = table.successors[previous &+ 1]
    if learned < table.entries {
      let written = table.written[learned]
      if isWritten(written, at: position &+ 1) {
        position &+= 1 &+ written.count
        return learned
      }
    }
    var candidate = previous &+ 1
    for _ in 0..<3 where candidate < table.entries {
      if candidate != learned {
        let written = table.written[candidate]
        if isWritten(written, at: position &+ 1) {
          position &+= 1 &+ written.count
          return candidate
        }
      }
      candidate &+= 1
    }
    return -1
  }

  /// One object kind's keys as `writtenKey` reads them, taken once per object.
  struct KeyTable {
    var entries: Int
    var written: UnsafePointer<EventLineScanner.WrittenKey>
    /// The table's part of `Storage.successors`: an object's start, then after each key.
    var successors: UnsafeMutablePointer<Int>
  }

  /// Key table `table` (0 root, 1 args, 2 process, 3 answer).
  @inline(always)
  func keyTable(_ table: Int) -> KeyTable {
    let first = keyStarts[table]
    return KeyTable(
      entries: keyStarts[table + 1] - first, written: writtenKeys + first,
      successors: storage.successors + first + table)
  }

  /// Whether the bytes from `start` are `written`'s: three words at once, or byte by byte near
  /// the line's end.
  @inline(always)
  private func isWritten(_ written: EventLineScanner.WrittenKey, at start: Int) -> Bool {
    let bytes = UnsafeRawPointer(base + start)
    if count - start >= 24 {
      return bytes.loadUnaligned(as: UInt64.self) & written.masks.0 == written.words.0
        && bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self) & written.masks.1 == written.words.1
        && bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self) & written.masks.2 == written.words.2
    }
    guard count - start >= written.count else { return false }
    for offset in 0..<written.count {
      let word = offset < 8 ? written.words.0 : offset < 16 ? written.words.1 : written.words.2
      guard
        bytes.load(fromByteOffset: offset, as: UInt8.self)
          == UInt8(truncatingIfNeeded: word >> UInt64(offset % 8 * 8))
      else { return false }
    }
    return true
  }

  /// The index in key table `table` (0 root, 1 args, 2 process, 3 answer) of the key `key` names
  /// (its escapes decoded), -1 when none.
  @inline(__always)
  func match(_ key: LineValue, table: Int) -> Int {
    let length = Int(key.end - key.start)
    let words: EventLineScanner.KeyWords
    if !key.irregular, length <= 24, count - Int(key.start) >= 24 {
      let start = UnsafeRawPointer(base + Int(key.start))
      let bits = length * 8
      @inline(__always) func mask(_ offset: Int) -> UInt64 {
        bits >= offset + 64 ? ~0 : bits <= offset ? 0 : (1 << UInt64(bits - offset)) &- 1
      }
      words = EventLineScanner.KeyWords(
        count: length,
        words: (
          start.loadUnaligned(as: UInt64.self) & mask(0),
          start.loadUnaligned(fromByteOffset: 8, as: UInt64.self) & mask(64),
          start.loadUnaligned(fromByteOffset: 16, as: UInt64.self) & mask(128)
        ))
    } else {
      let raw = UnsafeRawBufferPointer(start: base + Int(key.start), count: length)
      let found =
        key.irregular
        ? JSONStringEscapes.unescape(raw).withUnsafeBytes { EventLineScanner.KeyWords($0) }
        : EventLineScanner.KeyWords(raw)
      guard let found else { return -1 }
      words = found
    }
    let first = keyStarts[table]
    let entries = keyStarts[table + 1] - first
    let keys = self.keys + first
    for index in 0..<entries where keys[index] == words { return index }
    return -1
  }
}
