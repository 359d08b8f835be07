/// Where one JSON value sits in a line: its kind and bytes (a string's inside its quotes, a
/// container's brackets included).
struct LineValue {
  enum Kind: UInt8 {
    case absent, null, boolean, number, string, array, object
  }

  var kind = Kind.absent
  var start: Int32 = 0
  var end: Int32 = 0
  /// A string holding `\` escapes (decoded only when read); a number with a fraction or exponent.
  var irregular = false
}

/// The members an event is read from, by object: the line's own, `args`'s, `process`'s and one DNS
/// answer's. Their order is the order `EventJSON` writes them, which the scanner tries first.
enum RootKey: Int, CaseIterable {
  case schemaVersion, event, type, timestampNanoseconds, host, cgroupID, socketCookie, process, args
}

enum ArgsKey: Int, CaseIterable {
  case connDirection, src, dst, srcPort, dstPort, transport, id, rcode, questions, answers, srcDNS, dstDNS
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

/// One pass over a line's bytes (RFC 8259, as strict as `JSONSerialization`, nesting at most
/// `maximumDepth`) that keeps, as it goes, the values of the members an event is read from: a key is
/// matched once, when it is read, and the last of duplicate keys wins. Nothing is allocated for a
/// line but the lists' growth the first time they are used.
struct EventLineScanner {
  /// Deeper than any event (three levels); JSON's own grammar has no limit.
  static let maximumDepth = 64

  private(set) var bytes = UnsafeRawBufferPointer(start: nil, count: 0)
  private(set) var root = [LineValue](repeating: LineValue(), count: RootKey.allCases.count)
  private(set) var args = [LineValue](repeating: LineValue(), count: ArgsKey.allCases.count)
  private(set) var process = [LineValue](repeating: LineValue(), count: ProcessKey.allCases.count)
  /// The string elements of `questions`, `src_dns` and `dst_dns`, and whether every element was one.
  private(set) var questions: [LineValue] = []
  private(set) var sourceNames: [LineValue] = []
  private(set) var destinationNames: [LineValue] = []
  private(set) var listsAllStrings = (questions: true, sourceNames: true, destinationNames: true)
  /// The members of each object of `answers`, four values an object, and whether every element was one.
  private(set) var answers: [LineValue] = []
  private(set) var answersAllObjects = true

  private var rootHint = 0
  private var argsHint = 0
  private var processHint = 0
  private var answerHint = 0

  private enum Context {
    case plain, root, args, process, answer(Int)
  }

  init() {}

  /// Scans `line`, which must outlive every later read; false when it is not one JSON object.
  mutating func scan(_ line: UnsafeRawBufferPointer) -> Bool {
    bytes = line
    guard line.count < Int(Int32.max), let base = line.baseAddress else { return false }
    for index in root.indices { root[index].kind = .absent }
    resetArgs()
    resetProcess()
    var position = 0
    skipBlanks(base, &position)
    guard position < line.count, base.load(fromByteOffset: position, as: UInt8.self) == UInt8(ascii: "{"),
      object(base, &position, depth: 0, context: .root)
    else { return false }
    skipBlanks(base, &position)
    return position == line.count
  }

  private mutating func resetArgs() {
    for index in args.indices { args[index].kind = .absent }
    questions.removeAll(keepingCapacity: true)
    sourceNames.removeAll(keepingCapacity: true)
    destinationNames.removeAll(keepingCapacity: true)
    listsAllStrings = (true, true, true)
    answers.removeAll(keepingCapacity: true)
    answersAllObjects = true
  }

  private mutating func resetProcess() {
    for index in process.indices { process[index].kind = .absent }
  }

  // MARK: Grammar

  @inline(__always)
  private func byte(_ base: UnsafeRawPointer, _ position: Int) -> UInt8 {
    base.load(fromByteOffset: position, as: UInt8.self)
  }

  @inline(__always)
  private func skipBlanks(_ base: UnsafeRawPointer, _ position: inout Int) {
    while position < bytes.count {
      switch byte(base, position) {
      case 0x20, 0x09, 0x0A, 0x0D: position += 1
      default: return
      }
    }
  }

  /// Any value, checked and located; nil when it is not one.
  private mutating func value(_ base: UnsafeRawPointer, _ position: inout Int, depth: Int) -> LineValue? {
    guard position < bytes.count, depth <= Self.maximumDepth else { return nil }
    let start = position
    switch byte(base, position) {
    case UInt8(ascii: "{"):
      guard object(base, &position, depth: depth, context: .plain) else { return nil }
      return LineValue(kind: .object, start: Int32(start), end: Int32(position))
    case UInt8(ascii: "["):
      guard array(base, &position, depth: depth) else { return nil }
      return LineValue(kind: .array, start: Int32(start), end: Int32(position))
    case UInt8(ascii: "\""): return string(base, &position)
    case UInt8(ascii: "t"): return literal(base, &position, "true", .boolean)
    case UInt8(ascii: "f"): return literal(base, &position, "false", .boolean)
    case UInt8(ascii: "n"): return literal(base, &position, "null", .null)
    default: return number(base, &position)
    }
  }

  private func literal(_ base: UnsafeRawPointer, _ position: inout Int, _ text: StaticString, _ kind: LineValue.Kind)
    -> LineValue?
  {
    let count = text.utf8CodeUnitCount
    guard position + count <= bytes.count else { return nil }
    for offset in 0..<count where byte(base, position + offset) != text.utf8Start[offset] { return nil }
    defer { position += count }
    return LineValue(kind: kind, start: Int32(position), end: Int32(position + count))
  }

  private func number(_ base: UnsafeRawPointer, _ position: inout Int) -> LineValue? {
    let start = position
    func digits(_ position: inout Int) -> Int {
      let first = position
      while position < bytes.count, byte(base, position) &- UInt8(ascii: "0") < 10 { position += 1 }
      return position - first
    }
    if byte(base, position) == UInt8(ascii: "-") { position += 1 }
    let integerStart = position
    let integerDigits = digits(&position)
    guard integerDigits > 0, integerDigits == 1 || byte(base, integerStart) != UInt8(ascii: "0") else { return nil }
    var irregular = false
    if position < bytes.count, byte(base, position) == UInt8(ascii: ".") {
      irregular = true
      position += 1
      guard digits(&position) > 0 else { return nil }
    }
    if position < bytes.count, byte(base, position) | 0x20 == UInt8(ascii: "e") {
      irregular = true
      position += 1
      if position < bytes.count, byte(base, position) == UInt8(ascii: "+") || byte(base, position) == UInt8(ascii: "-") {
        position += 1
      }
      guard digits(&position) > 0 else { return nil }
    }
    return LineValue(kind: .number, start: Int32(start), end: Int32(position), irregular: irregular)
  }

  /// A string's bytes must be valid JSON: no raw control characters, escapes of JSON's set, and
  /// `\u` surrogates in pairs. Eight bytes at a time until one of `"`, `\` or a control character.
  private func string(_ base: UnsafeRawPointer, _ position: inout Int) -> LineValue? {
    position += 1
    let start = position
    var escaped = false
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    while true {
      while position + 8 <= bytes.count {
        let word = base.loadUnaligned(fromByteOffset: position, as: UInt64.self)
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        // Bytes equal to 0 (of the two xors) or below 0x20; the lowest one flagged is exact.
        let flags =
          ((quote &- ones) & ~quote | (backslash &- ones) & ~backslash | (word &- ones &* 0x20) & ~word) & highs
        if flags != 0 {
          position += flags.trailingZeroBitCount >> 3
          break
        }
        position += 8
      }
      guard position < bytes.count else { return nil }
      let current = byte(base, position)
      if current == UInt8(ascii: "\"") {
        position += 1
        return LineValue(kind: .string, start: Int32(start), end: Int32(position - 1), irregular: escaped)
      }
      if current < 0x20 { return nil }
      if current == UInt8(ascii: "\\") {
        escaped = true
        guard let after = JSONStringEscapes.escapeEnd(bytes, position) else { return nil }
        position = after
      } else {
        position += 1
      }
    }
  }

  private mutating func array(_ base: UnsafeRawPointer, _ position: inout Int, depth: Int) -> Bool {
    elements(base, &position, depth: depth) { _, _ in }
  }

  /// An array's elements, each handed to `element` with its index once checked.
  @inline(__always)
  private mutating func elements(
    _ base: UnsafeRawPointer, _ position: inout Int, depth: Int, _ element: (inout Self, LineValue) -> Void
  ) -> Bool {
    position += 1
    skipBlanks(base, &position)
    if position < bytes.count, byte(base, position) == UInt8(ascii: "]") {
      position += 1
      return true
    }
    while true {
      guard let item = value(base, &position, depth: depth + 1) else { return false }
      element(&self, item)
      skipBlanks(base, &position)
      guard position < bytes.count else { return false }
      if byte(base, position) == UInt8(ascii: "]") {
        position += 1
        return true
      }
      guard byte(base, position) == UInt8(ascii: ",") else { return false }
      position += 1
      skipBlanks(base, &position)
    }
  }

  private mutating func object(_ base: UnsafeRawPointer, _ position: inout Int, depth: Int, context: Context) -> Bool
  {
    position += 1
    skipBlanks(base, &position)
    if position < bytes.count, byte(base, position) == UInt8(ascii: "}") {
      position += 1
      return true
    }
    while true {
      guard position < bytes.count, byte(base, position) == UInt8(ascii: "\""), let key = string(base, &position)
      else { return false }
      skipBlanks(base, &position)
      guard position < bytes.count, byte(base, position) == UInt8(ascii: ":") else { return false }
      position += 1
      skipBlanks(base, &position)
      guard member(base, &position, depth: depth + 1, key: key, context: context) else { return false }
      skipBlanks(base, &position)
      guard position < bytes.count else { return false }
      if byte(base, position) == UInt8(ascii: "}") {
        position += 1
        return true
      }
      guard byte(base, position) == UInt8(ascii: ",") else { return false }
      position += 1
      skipBlanks(base, &position)
    }
  }

  /// A member's value, kept when its key is one an event is read from.
  private mutating func member(
    _ base: UnsafeRawPointer, _ position: inout Int, depth: Int, key: LineValue, context: Context
  ) -> Bool {
    switch context {
    case .plain:
      return value(base, &position, depth: depth) != nil
    case .root:
      let index = match(key, Self.rootKeys, hint: rootHint)
      if index >= 0 { rootHint = index + 1 }
      guard let field = RootKey(rawValue: index) else {
        return value(base, &position, depth: depth) != nil
      }
      let start = position
      if field == .args || field == .process {
        if field == .args { resetArgs() } else { resetProcess() }
        if position < bytes.count, byte(base, position) == UInt8(ascii: "{"), depth <= Self.maximumDepth {
          guard object(base, &position, depth: depth, context: field == .args ? .args : .process) else { return false }
          root[field.rawValue] = LineValue(kind: .object, start: Int32(start), end: Int32(position))
          return true
        }
      }
      guard let found = value(base, &position, depth: depth) else { return false }
      root[field.rawValue] = found
      return true
    case .args:
      let index = match(key, Self.argsKeys, hint: argsHint)
      if index >= 0 { argsHint = index + 1 }
      guard let field = ArgsKey(rawValue: index) else {
        return value(base, &position, depth: depth) != nil
      }
      let start = position
      if position < bytes.count, byte(base, position) == UInt8(ascii: "["), depth <= Self.maximumDepth {
        let kept: Bool
        switch field {
        case .questions:
          questions.removeAll(keepingCapacity: true)
          listsAllStrings.questions = true
          kept = elements(base, &position, depth: depth) { scanner, element in
            if element.kind == .string { scanner.questions.append(element) } else {
              scanner.listsAllStrings.questions = false
            }
          }
        case .srcDNS:
          sourceNames.removeAll(keepingCapacity: true)
          listsAllStrings.sourceNames = true
          kept = elements(base, &position, depth: depth) { scanner, element in
            if element.kind == .string { scanner.sourceNames.append(element) } else {
              scanner.listsAllStrings.sourceNames = false
            }
          }
        case .dstDNS:
          destinationNames.removeAll(keepingCapacity: true)
          listsAllStrings.destinationNames = true
          kept = elements(base, &position, depth: depth) { scanner, element in
            if element.kind == .string { scanner.destinationNames.append(element) } else {
              scanner.listsAllStrings.destinationNames = false
            }
          }
        case .answers:
          answers.removeAll(keepingCapacity: true)
          answersAllObjects = true
          kept = answerList(base, &position, depth: depth)
        default:
          kept = array(base, &position, depth: depth)
        }
        guard kept else { return false }
        args[field.rawValue] = LineValue(kind: .array, start: Int32(start), end: Int32(position))
        return true
      }
      guard let found = value(base, &position, depth: depth) else { return false }
      args[field.rawValue] = found
      return true
    case .process:
      let index = match(key, Self.processKeys, hint: processHint)
      if index >= 0 { processHint = index + 1 }
      guard let field = ProcessKey(rawValue: index) else {
        return value(base, &position, depth: depth) != nil
      }
      guard let found = value(base, &position, depth: depth) else { return false }
      process[field.rawValue] = found
      return true
    case .answer(let first):
      let index = match(key, Self.answerKeys, hint: answerHint)
      if index >= 0 { answerHint = index + 1 }
      guard let field = AnswerKey(rawValue: index) else {
        return value(base, &position, depth: depth) != nil
      }
      guard let found = value(base, &position, depth: depth) else { return false }
      answers[first + field.rawValue] = found
      return true
    }
  }

  /// `answers`: an object element's members go to four new values of `answers`.
  private mutating func answerList(_ base: UnsafeRawPointer, _ position: inout Int, depth: Int) -> Bool {
    position += 1
    skipBlanks(base, &position)
    if position < bytes.count, byte(base, position) == UInt8(ascii: "]") {
      position += 1
      return true
    }
    while true {
      let elementDepth = depth + 1
      if position < bytes.count, byte(base, position) == UInt8(ascii: "{"), elementDepth <= Self.maximumDepth {
        let first = answers.count
        answers.append(contentsOf: repeatElement(LineValue(), count: AnswerKey.allCases.count))
        guard object(base, &position, depth: elementDepth, context: .answer(first)) else { return false }
      } else {
        guard value(base, &position, depth: elementDepth) != nil else { return false }
        answersAllObjects = false
      }
      skipBlanks(base, &position)
      guard position < bytes.count else { return false }
      if byte(base, position) == UInt8(ascii: "]") {
        position += 1
        return true
      }
      guard byte(base, position) == UInt8(ascii: ",") else { return false }
      position += 1
      skipBlanks(base, &position)
    }
  }

  // MARK: Keys

  /// A key as up to three little-endian words, zero-padded: how the tables hold them.
  struct KeyWords: Equatable {
    var count: Int
    var words: (UInt64, UInt64, UInt64)

    static func == (left: KeyWords, right: KeyWords) -> Bool {
      left.count == right.count && left.words.0 == right.words.0 && left.words.1 == right.words.1
        && left.words.2 == right.words.2
    }

    /// Nil for a key longer than any the tables hold.
    init?(_ bytes: UnsafeRawBufferPointer, available: Int) {
      guard bytes.count <= 24 else { return nil }
      count = bytes.count
      words = (0, 0, 0)
      guard let base = bytes.baseAddress else { return }
      if available >= 24 {
        let count = bytes.count
        func masked(_ word: UInt64, _ offset: Int) -> UInt64 {
          let kept = min(max(count - offset, 0), 8)
          return kept == 8 ? word : kept == 0 ? 0 : word & (1 << UInt64(kept * 8) - 1)
        }
        words = (
          masked(base.loadUnaligned(as: UInt64.self), 0),
          masked(base.loadUnaligned(fromByteOffset: 8, as: UInt64.self), 8),
          masked(base.loadUnaligned(fromByteOffset: 16, as: UInt64.self), 16)
        )
        return
      }
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

    init(_ key: StaticString) {
      let buffer = UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount)
      self = KeyWords(buffer, available: 0)!
    }
  }

  static let rootKeys: [KeyWords] = RootKey.allCases.map { KeyWords($0.name) }
  static let argsKeys: [KeyWords] = ArgsKey.allCases.map { KeyWords($0.name) }
  static let processKeys: [KeyWords] = ProcessKey.allCases.map { KeyWords($0.name) }
  static let answerKeys: [KeyWords] = AnswerKey.allCases.map { KeyWords($0.name) }

  /// The index in `table` of the key `key` names (its escapes decoded), -1 when none; `hint` (the
  /// entry after the last one matched) is tried first, since lines keep the writer's order.
  private func match(_ key: LineValue, _ table: [KeyWords], hint: Int) -> Int {
    let raw = UnsafeRawBufferPointer(rebasing: bytes[Int(key.start)..<Int(key.end)])
    let words: KeyWords?
    if key.irregular {
      words = JSONStringEscapes.unescape(raw).withUnsafeBytes { KeyWords($0, available: 0) }
    } else {
      words = KeyWords(raw, available: bytes.count - Int(key.start))
    }
    guard let words else { return -1 }
    if hint < table.count, table[hint] == words { return hint }
    return table.firstIndex(of: words) ?? -1
  }
}

extension RootKey {
  var name: StaticString {
    switch self {
    case .schemaVersion: "schema_version"
    case .event: "event"
    case .type: "type"
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
