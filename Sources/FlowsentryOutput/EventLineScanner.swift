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
    static let processSlots = 41
    static let slotCount = 44

    let slots = UnsafeMutablePointer<LineValue>.allocate(capacity: slotCount)
    /// The string elements of `questions`, `src_dns` and `dst_dns`; four values per object of `answers`.
    let lists = UnsafeMutablePointer<ValueList>.allocate(capacity: 4)
    /// Whether every element of each list was a string (an object for `answers`).
    let listsRegular = UnsafeMutablePointer<Bool>.allocate(capacity: 4)
    /// Per table, from `keyStarts[table] + table`: for an object's start, then after each of its
    /// keys, the key that came next when the writer's order did not, tried first next time. A
    /// recording's lines come in a few shapes whose optional keys are absent or present line after
    /// line, so the one key past a gap is learned once instead of scanned and searched for on every
    /// line.
    let successors = UnsafeMutablePointer<Int>.allocate(capacity: keyTableStarts[4] + 4)
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
      for table in 0..<4 {
        let entries = Self.keyTableStarts[table + 1] - Self.keyTableStarts[table]
        for slot in 0...entries { (successors + Self.keyTableStarts[table] + table + slot).initialize(to: slot) }
      }
      repeatedTexts.initialize(repeating: ([], ""), count: 2)
    }

    deinit {
      for list in 0..<4 { lists[list].elements?.deallocate() }
      slots.deallocate()
      lists.deallocate()
      listsRegular.deallocate()
      successors.deallocate()
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
  /// Where the last `scan` that returned false found the line not to be JSON (0-based): each step
  /// of the pass leaves its position at the byte it refused, or at the line's end when it ran out.
  private(set) var syntaxErrorOffset = 0

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
    syntaxErrorOffset = 0
    guard line.count < Int(Int32.max), let base = line.baseAddress else { return false }
    let pass = Pass(
      base: base.assumingMemoryBound(to: UInt8.self), count: line.count, storage: storage, keys: Storage.keys,
      writtenKeys: Storage.writtenKeys, keyStarts: Storage.keyStarts)
    for index in Storage.rootSlots..<Storage.argsSlots { storage.slots[index].kind = .absent }
    pass.resetArgs()
    pass.resetProcess()
    var position = 0
    pass.skipBlanks(&position)
    guard position < line.count, pass.base[position] == UInt8(ascii: "{"),
      pass.object(&position, depth: 0, context: .root)
    else {
      syntaxErrorOffset = position
      return false
    }
    pass.skipBlanks(&position)
    guard position == line.count else {
      syntaxErrorOffset = position
      return false
    }
    return true
  }
}
