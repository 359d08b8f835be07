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

/// One pass over a line's bytes (RFC 8259, as strict as `JSONSerialization`, nesting at most
/// `maximumDepth`) that keeps, as it goes, the values of the members an event is read from: a key is
/// matched once, when it is read, and the last of duplicate keys wins. The values live in buffers the
/// scanner keeps from line to line, so a line allocates nothing.
struct EventLineScanner {
  /// Deeper than any event (three levels); JSON's own grammar has no limit.
  static let maximumDepth = 64

  /// The kept values, from line to line. A copy of the scanner shares them, so a copy must not
  /// scan while another one's values are read (`EventJSONReader.Decoder` keeps one, unshared).
  final class Storage {
    // Literals, not counts of `allCases`, which would be computed lazily behind a check on every
    // use; `init` checks that they agree.
    static let rootSlots = 0
    static let argsSlots = 10
    static let processSlots = 40
    static let slotCount = 43

    let slots = UnsafeMutablePointer<LineValue>.allocate(capacity: slotCount)
    /// The string elements of `questions`, `src_dns` and `dst_dns`; four values per object of `answers`.
    let lists = UnsafeMutablePointer<ValueList>.allocate(capacity: 4)
    /// Whether every element of each list was a string (an object for `answers`).
    let listsRegular = UnsafeMutablePointer<Bool>.allocate(capacity: 4)
    /// The index after the last key matched, per object kind: tried first.
    let hints = UnsafeMutablePointer<Int>.allocate(capacity: 4)
    /// The keys of the four kinds of object, one table after another from `keyStarts`: built once
    /// for the process and never changed, so every scanner reads them unsynchronised.
    nonisolated(unsafe) static let keys: UnsafePointer<KeyWords> = {
      let names =
        RootKey.allCases.map(\.name) + ArgsKey.allCases.map(\.name) + ProcessKey.allCases.map(\.name)
        + AnswerKey.allCases.map(\.name)
      let table = UnsafeMutablePointer<KeyWords>.allocate(capacity: names.count)
      for (index, name) in names.enumerated() {
        (table + index).initialize(
          to: KeyWords(UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))!)
      }
      return UnsafePointer(table)
    }()
    nonisolated(unsafe) static let keyStarts: UnsafePointer<Int> = {
      let starts = UnsafeMutablePointer<Int>.allocate(capacity: 5)
      starts.initialize(from: keyTableStarts, count: 5)
      return UnsafePointer(starts)
    }()
    /// The last text read by `repeatedString` per cache slot, with its bytes.
    let repeatedTexts = UnsafeMutablePointer<(bytes: [UInt8], text: String)>.allocate(capacity: 2)
    static let keyTableStarts = [
      0, RootKey.allCases.count, RootKey.allCases.count + ArgsKey.allCases.count,
      RootKey.allCases.count + ArgsKey.allCases.count + ProcessKey.allCases.count,
      RootKey.allCases.count + ArgsKey.allCases.count + ProcessKey.allCases.count + AnswerKey.allCases.count,
    ]

    init() {
      precondition(
        Self.argsSlots == RootKey.allCases.count && Self.processSlots == Self.argsSlots + ArgsKey.allCases.count
          && Self.slotCount == Self.processSlots + ProcessKey.allCases.count)
      slots.initialize(repeating: LineValue(), count: Self.slotCount)
      lists.initialize(repeating: ValueList(), count: 4)
      listsRegular.initialize(repeating: true, count: 4)
      hints.initialize(repeating: 0, count: 4)
      repeatedTexts.initialize(repeating: ([], ""), count: 2)
    }

    deinit {
      for list in 0..<4 { lists[list].elements?.deallocate() }
      slots.deallocate()
      lists.deallocate()
      listsRegular.deallocate()
      hints.deallocate()
      repeatedTexts.deinitialize(count: 2)
      repeatedTexts.deallocate()
    }
  }

  /// A growable buffer of values that keeps its memory from line to line.
  struct ValueList {
    var elements: UnsafeMutablePointer<LineValue>?
    var count = 0
    var capacity = 0

    mutating func append(_ value: LineValue) {
      if count == capacity {
        let grown = UnsafeMutablePointer<LineValue>.allocate(capacity: max(16, capacity * 2))
        if let elements {
          grown.moveInitialize(from: elements, count: count)
          elements.deallocate()
        }
        elements = grown
        capacity = max(16, capacity * 2)
      }
      (elements! + count).initialize(to: value)
      count += 1
    }

    var values: UnsafeBufferPointer<LineValue> { UnsafeBufferPointer(start: elements, count: count) }
  }

  enum List: Int {
    case questions, sourceNames, destinationNames, answers
  }

  let storage = Storage()
  private(set) var bytes = UnsafeRawBufferPointer(start: nil, count: 0)

  init() {}

  func root(_ key: RootKey) -> LineValue { storage.slots[Storage.rootSlots + key.rawValue] }
  func args(_ key: ArgsKey) -> LineValue { storage.slots[Storage.argsSlots + key.rawValue] }
  func process(_ key: ProcessKey) -> LineValue { storage.slots[Storage.processSlots + key.rawValue] }
  func list(_ list: List) -> UnsafeBufferPointer<LineValue> { storage.lists[list.rawValue].values }
  /// Every element a string (`answers`: an object); true for an empty list.
  func listIsRegular(_ list: List) -> Bool { storage.listsRegular[list.rawValue] }

  /// Scans `line`, which must outlive every later read; false when it is not one JSON object.
  mutating func scan(_ line: UnsafeRawBufferPointer) -> Bool {
    bytes = line
    guard line.count < Int(Int32.max), let base = line.baseAddress else { return false }
    let pass = Pass(
      base: base.assumingMemoryBound(to: UInt8.self), count: line.count, storage: storage, keys: Storage.keys,
      writtenKeys: Storage.writtenKeys, keyStarts: Storage.keyStarts)
    for index in 0..<Storage.slotCount { storage.slots[index].kind = .absent }
    pass.resetArgs()
    var position = 0
    pass.skipBlanks(&position)
    guard position < line.count, pass.base[position] == UInt8(ascii: "{"),
      pass.object(&position, depth: 0, context: .root)
    else { return false }
    pass.skipBlanks(&position)
    return position == line.count
  }

  enum Context {
    case plain, root, args, process, answer(Int)

    /// The key table of the object's kind (0 root, 1 args, 2 process, 3 answer); -1 for any other.
    var keyTable: Int {
      switch self {
      case .plain: -1
      case .root: 0
      case .args: 1
      case .process: 2
      case .answer: 3
      }
    }
  }

  /// One line's scan: the line and where its values go, all constant while it runs.
  struct Pass {
    let base: UnsafePointer<UInt8>
    let count: Int
    let storage: Storage
    let keys: UnsafePointer<KeyWords>
    let writtenKeys: UnsafePointer<WrittenKey>
    let keyStarts: UnsafePointer<Int>

    var slots: UnsafeMutablePointer<LineValue> { storage.slots }

    func resetArgs() {
      for index in Storage.argsSlots..<Storage.processSlots { slots[index].kind = .absent }
      for list in 0..<4 {
        storage.lists[list].count = 0
        storage.listsRegular[list] = true
      }
    }

    func resetProcess() {
      for index in Storage.processSlots..<Storage.slotCount { slots[index].kind = .absent }
    }

    @inline(__always)
    func skipBlanks(_ position: inout Int) {
      while position < count {
        switch base[position] {
        case 0x20, 0x09, 0x0A, 0x0D: position += 1
        default: return
        }
      }
    }

    /// Any value, checked and located; nil when it is not one.
    func value(_ position: inout Int, depth: Int) -> LineValue? {
      guard position < count, depth <= EventLineScanner.maximumDepth else { return nil }
      let start = position
      switch base[position] {
      case UInt8(ascii: "\""): return string(&position)
      case UInt8(ascii: "{"):
        guard object(&position, depth: depth, context: .plain) else { return nil }
        return LineValue(kind: .object, start: Int32(start), end: Int32(position))
      case UInt8(ascii: "["):
        guard elements(&position, depth: depth, into: nil) else { return nil }
        return LineValue(kind: .array, start: Int32(start), end: Int32(position))
      case UInt8(ascii: "t"): return literal(&position, "true", .boolean)
      case UInt8(ascii: "f"): return literal(&position, "false", .boolean)
      case UInt8(ascii: "n"): return literal(&position, "null", .null)
      default: return number(&position)
      }
    }

    func literal(_ position: inout Int, _ text: StaticString, _ kind: LineValue.Kind) -> LineValue? {
      let length = text.utf8CodeUnitCount
      guard position + length <= count else { return nil }
      for offset in 0..<length where base[position + offset] != text.utf8Start[offset] { return nil }
      defer { position += length }
      return LineValue(kind: kind, start: Int32(position), end: Int32(position + length))
    }

    func number(_ position: inout Int) -> LineValue? {
      let start = position
      @inline(__always) func digits(_ position: inout Int) -> Int {
        let first = position
        while position < count, base[position] &- UInt8(ascii: "0") < 10 { position += 1 }
        return position - first
      }
      if base[position] == UInt8(ascii: "-") { position += 1 }
      let integerStart = position
      let integerDigits = digits(&position)
      guard integerDigits > 0, integerDigits == 1 || base[integerStart] != UInt8(ascii: "0") else { return nil }
      var irregular = false
      if position < count, base[position] == UInt8(ascii: ".") {
        irregular = true
        position += 1
        guard digits(&position) > 0 else { return nil }
      }
      if position < count, base[position] | 0x20 == UInt8(ascii: "e") {
        irregular = true
        position += 1
        if position < count, base[position] == UInt8(ascii: "+") || base[position] == UInt8(ascii: "-") {
          position += 1
        }
        guard digits(&position) > 0 else { return nil }
      }
      return LineValue(kind: .number, start: Int32(start), end: Int32(position), irregular: irregular)
    }

    /// A string's bytes must be valid JSON: no raw control characters, escapes of JSON's set, and
    /// `\u` surrogates in pairs. Eight bytes at a time until one of `"`, `\` or a control character.
    @inline(__always)
    func string(_ position: inout Int) -> LineValue? {
      position += 1
      let start = position
      var escaped = false
      let ones: UInt64 = 0x0101_0101_0101_0101
      let highs: UInt64 = 0x8080_8080_8080_8080
      while true {
        while position + 8 <= count {
          let word = UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self)
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
        guard position < count else { return nil }
        let current = base[position]
        if current == UInt8(ascii: "\"") {
          position += 1
          return LineValue(kind: .string, start: Int32(start), end: Int32(position - 1), irregular: escaped)
        }
        if current < 0x20 { return nil }
        if current == UInt8(ascii: "\\") {
          escaped = true
          guard let after = JSONStringEscapes.escapeEnd(UnsafeRawBufferPointer(start: base, count: count), position)
          else { return nil }
          position = after
        } else {
          position += 1
        }
      }
    }

    /// An array; with `list`, its string elements (objects, for `answers`) kept there.
    func elements(_ position: inout Int, depth: Int, into list: List?) -> Bool {
      position += 1
      skipBlanks(&position)
      if position < count, base[position] == UInt8(ascii: "]") {
        position += 1
        return true
      }
      while true {
        if let list {
          guard element(&position, depth: depth + 1, into: list) else { return false }
        } else {
          guard value(&position, depth: depth + 1) != nil else { return false }
        }
        skipBlanks(&position)
        guard position < count else { return false }
        if base[position] == UInt8(ascii: "]") {
          position += 1
          return true
        }
        guard base[position] == UInt8(ascii: ",") else { return false }
        position += 1
        skipBlanks(&position)
      }
    }

    private func element(_ position: inout Int, depth: Int, into list: List) -> Bool {
      if list == .answers {
        guard position < count, base[position] == UInt8(ascii: "{"), depth <= EventLineScanner.maximumDepth else {
          storage.listsRegular[list.rawValue] = false
          return value(&position, depth: depth) != nil
        }
        let first = storage.lists[list.rawValue].count
        for _ in AnswerKey.allCases { storage.lists[list.rawValue].append(LineValue()) }
        return object(&position, depth: depth, context: .answer(first))
      }
      guard let found = value(&position, depth: depth) else { return false }
      if found.kind == .string {
        storage.lists[list.rawValue].append(found)
      } else {
        storage.listsRegular[list.rawValue] = false
      }
      return true
    }

    func object(_ position: inout Int, depth: Int, context: Context) -> Bool {
      position += 1
      skipBlanks(&position)
      if position < count, base[position] == UInt8(ascii: "}") {
        position += 1
        return true
      }
      let table = context.keyTable
      while true {
        guard position < count, base[position] == UInt8(ascii: "\"") else { return false }
        var key = LineValue()
        let matched = table < 0 ? -1 : writtenKey(&position, table: table)
        if matched < 0 {
          guard let scanned = string(&position) else { return false }
          key = scanned
          skipBlanks(&position)
          guard position < count, base[position] == UInt8(ascii: ":") else { return false }
          position += 1
        }
        skipBlanks(&position)
        guard member(&position, depth: depth + 1, key: key, matched: matched, context: context) else { return false }
        skipBlanks(&position)
        guard position < count else { return false }
        if base[position] == UInt8(ascii: "}") {
          position += 1
          return true
        }
        guard base[position] == UInt8(ascii: ",") else { return false }
        position += 1
        skipBlanks(&position)
      }
    }

    /// A member's value, kept when its key is one an event is read from: the key's index in its
    /// table is `matched` when it is not -1, else looked up.
    private func member(_ position: inout Int, depth: Int, key: LineValue, matched: Int, context: Context) -> Bool {
      let slot: Int
      switch context {
      case .plain:
        return value(&position, depth: depth) != nil
      case .root:
        guard let field = RootKey(rawValue: matched >= 0 ? matched : match(key, table: 0)) else {
          return value(&position, depth: depth) != nil
        }
        if field == .args || field == .process {
          if field == .args { resetArgs() } else { resetProcess() }
          if position < count, base[position] == UInt8(ascii: "{") {
            let start = position
            guard object(&position, depth: depth, context: field == .args ? .args : .process) else { return false }
            slots[Storage.rootSlots + field.rawValue] = LineValue(
              kind: .object, start: Int32(start), end: Int32(position))
            return true
          }
        }
        slot = Storage.rootSlots + field.rawValue
      case .args:
        guard let field = ArgsKey(rawValue: matched >= 0 ? matched : match(key, table: 1)) else {
          return value(&position, depth: depth) != nil
        }
        let list: List? =
          switch field {
          case .questions: .questions
          case .srcDNS: .sourceNames
          case .dstDNS: .destinationNames
          case .answers: .answers
          default: nil
          }
        if let list, position < count, base[position] == UInt8(ascii: "["), depth <= EventLineScanner.maximumDepth {
          storage.lists[list.rawValue].count = 0
          storage.listsRegular[list.rawValue] = true
          let start = position
          guard elements(&position, depth: depth, into: list) else { return false }
          slots[Storage.argsSlots + field.rawValue] = LineValue(kind: .array, start: Int32(start), end: Int32(position))
          return true
        }
        slot = Storage.argsSlots + field.rawValue
      case .process:
        guard let field = ProcessKey(rawValue: matched >= 0 ? matched : match(key, table: 2)) else {
          return value(&position, depth: depth) != nil
        }
        slot = Storage.processSlots + field.rawValue
      case .answer(let first):
        guard let field = AnswerKey(rawValue: matched >= 0 ? matched : match(key, table: 3)) else {
          return value(&position, depth: depth) != nil
        }
        guard let found = value(&position, depth: depth) else { return false }
        storage.lists[List.answers.rawValue].elements![first + field.rawValue] = found
        return true
      }
      guard let found = value(&position, depth: depth) else { return false }
      slots[slot] = found
      return true
    }

  }
}
