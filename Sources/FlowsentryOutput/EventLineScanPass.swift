/// The walk over one line's bytes: JSON's grammar, checked in full, with each member an event is
/// read from kept in the scanner's buffers as its key is read (`EventLineKeys` matches the keys).
extension EventLineScanner {
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

    @inline(always)
    func skipBlanks(_ position: inout Int) {
      while position < count {
        switch base[position] {
        case 0x20, 0x09, 0x0A, 0x0D: position += 1
        default: return
        }
      }
    }

    /// Any value, checked and located; nil when it is not one.
    @inline(__always)
    func value(_ position: inout Int, depth: Int) -> LineValue? {
      guard position < count, depth <= EventLineScanner.maximumDepth else { return nil }
      switch base[position] {
      case UInt8(ascii: "{"), UInt8(ascii: "["): return container(&position, depth: depth)
      default: return scalar(&position)
      }
    }

    /// A string, number or literal at `position` (within the line): read in line where it is met,
    /// since a call per member, the position passed through memory, costs as much as the reading.
    /// The nesting of containers (`container`, `object`, `member`) is calls: the compiler inlines
    /// nothing that is part of such a cycle.
    @inline(always)
    func scalar(_ position: inout Int) -> LineValue? {
      switch base[position] {
      case UInt8(ascii: "\""): return string(&position)
      case UInt8(ascii: "t"): return literal(&position, "true", .boolean)
      case UInt8(ascii: "f"): return literal(&position, "false", .boolean)
      case UInt8(ascii: "n"): return literal(&position, "null", .null)
      default: return number(&position)
      }
    }

    /// An object or array none of whose members is kept.
    @inline(never)
    func container(_ position: inout Int, depth: Int) -> LineValue? {
      let start = position
      if base[position] == UInt8(ascii: "{") {
        guard object(&position, depth: depth, context: .plain) else { return nil }
        return LineValue(kind: .object, start: Int32(start), end: Int32(position))
      }
      guard elements(&position, depth: depth, into: nil) else { return nil }
      return LineValue(kind: .array, start: Int32(start), end: Int32(position))
    }

    @inline(always)
    func literal(_ position: inout Int, _ text: StaticString, _ kind: LineValue.Kind) -> LineValue? {
      let length = text.utf8CodeUnitCount
      guard position + length <= count else { return nil }
      for offset in 0..<length where base[position + offset] != text.utf8Start[offset] { return nil }
      defer { position += length }
      return LineValue(kind: kind, start: Int32(position), end: Int32(position + length))
    }

    @inline(always)
    func number(_ position: inout Int) -> LineValue? {
      let start = position
      @inline(always) func digits(_ position: inout Int) -> Int {
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
    @inline(always)
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
      guard position < count, depth <= EventLineScanner.maximumDepth else { return false }
      let found: LineValue
      if base[position] == UInt8(ascii: "{") || base[position] == UInt8(ascii: "[") {
        guard let nested = container(&position, depth: depth) else { return false }
        found = nested
      } else {
        guard let scanned = scalar(&position) else { return false }
        found = scanned
      }
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
      let keys = keyTable(max(table, 0))
      // The key matched last in this object (its index in the table), -1 at its start.
      var previous = -1
      while true {
        guard position < count, base[position] == UInt8(ascii: "\"") else { return false }
        var matched = table < 0 ? -1 : writtenKey(&position, in: keys, after: previous)
        if matched < 0 {
          guard let key = string(&position) else { return false }
          skipBlanks(&position)
          guard position < count, base[position] == UInt8(ascii: ":") else { return false }
          position += 1
          if table >= 0 {
            matched = match(key, table: table)
            if matched >= 0 { keys.successors[previous + 1] = matched }
          }
        }
        if matched >= 0 { previous = matched }
        skipBlanks(&position)
        guard position < count else { return false }
        if base[position] == UInt8(ascii: "{") || base[position] == UInt8(ascii: "[") {
          guard member(&position, depth: depth + 1, matched: matched, context: context) else { return false }
        } else {
          guard depth + 1 <= EventLineScanner.maximumDepth, let found = scalar(&position) else { return false }
          keep(found, matched: matched, context: context)
        }
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

    /// Where a member's scalar value goes, as `member` keeps a value: `matched` is its key's index
    /// in the object's table, -1 for any other key.
    @inline(always)
    private func keep(_ found: LineValue, matched: Int, context: Context) {
      guard matched >= 0 else { return }
      switch context {
      case .plain:
        return
      case .root:
        if matched == RootKey.args.rawValue {
          resetArgs()
        } else if matched == RootKey.process.rawValue {
          resetProcess()
        }
        slots[Storage.rootSlots + matched] = found
      case .args:
        slots[Storage.argsSlots + matched] = found
      case .process:
        slots[Storage.processSlots + matched] = found
      case .answer(let first):
        storage.lists[List.answers.rawValue].elements![first + matched] = found
      }
    }

    /// A member's container value, kept when its key is one an event is read from (`args` and
    /// `process` read as their objects, the lists element by element): the key's index in its
    /// table is `matched`, -1 for any other key.
    private func member(_ position: inout Int, depth: Int, matched: Int, context: Context) -> Bool {
      let slot: Int
      switch context {
      case .plain:
        return value(&position, depth: depth) != nil
      case .root:
        guard let field = RootKey(rawValue: matched) else {
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
        guard let field = ArgsKey(rawValue: matched) else {
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
        guard let field = ProcessKey(rawValue: matched) else {
          return value(&position, depth: depth) != nil
        }
        slot = Storage.processSlots + field.rawValue
      case .answer(let first):
        guard let field = AnswerKey(rawValue: matched) else {
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
