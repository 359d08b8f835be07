import FlowsentryCore
import FlowsentryPatterns

/// One `contains`/`startswith`/`endswith` test (or its `i…` form) in a condition, with its needles.
/// Until its rule set's literal sets are built it compares needle by needle; then it reads its
/// field's scan, one ``LiteralSet`` per field, operation and folding, which tests every needle of
/// every such test at once. Both compare UTF-8 bytes, folding ASCII letters only (docs/RULES.md).
final class LiteralLeaf {
  let field: Field
  let operation: LiteralSet.Operation
  let folding: LiteralSet.CaseFolding
  let needles: [String]
  private let oneByOne: (String) -> Bool
  fileprivate(set) var scan: LiteralFieldScan? {
    didSet { scanInPlace = scan.map { Unmanaged.passUnretained($0) } }
  }
  /// `scan`, called without a retain on every test (a class `var` read for a call is retained):
  /// `scan` keeps it alive, and is set once, when the rule set's sets are built.
  private var scanInPlace: Unmanaged<LiteralFieldScan>?
  /// This test's position among its scan's tests.
  fileprivate(set) var slot = 0

  init(field: Field, comparison: ComparisonOperator, needles: [String], oneByOne: @escaping (String) -> Bool) {
    self.field = field
    switch comparison {
    case .startswith, .istartswith: operation = .startsWith
    case .endswith, .iendswith: operation = .endsWith
    default: operation = .contains
    }
    folding = comparison.isCaseInsensitive ? .ascii : .none
    self.needles = needles
    self.oneByOne = oneByOne
  }

  func matches(_ event: EventFields) -> Bool {
    if let scanInPlace { return scanInPlace._withUnsafeGuaranteedRef { $0.test(slot, event) } }
    switch field.accessor {
    case .string(let read): return read(event).map(oneByOne) ?? false
    case .strings(let read): return read(event).contains(where: oneByOne)
    case .integer, .address: return false
    }
  }

  /// What ``bind(_:cache:)`` built: sets; the `contains` sets' databases, their needles, and how
  /// many the cache gave.
  struct Binding {
    var sets = 0
    var databaseNeedles = 0
    var databases = 0
    var loadedFromCache = 0
    var databaseBytes = 0
  }

  /// Builds one set per field, operation and folding from `leaves` (at once, on threads of their
  /// own; `contains` databases from `cache` when it holds them), and points each at its scan.
  static func bind(_ leaves: [LiteralLeaf], cache: PatternDatabaseCache? = nil) -> Binding {
    var groups: [String: [LiteralLeaf]] = [:]
    var order: [String] = []
    for leaf in leaves {
      let key = "\(leaf.field.name) \(leaf.operation) \(leaf.folding)"
      if groups[key] == nil { order.append(key) }
      groups[key, default: []].append(leaf)
    }
    var requests: [(needles: [[UInt8]], operation: LiteralSet.Operation, caseFolding: LiteralSet.CaseFolding)] = []
    var ownersOfSet: [[Int32]] = []
    for key in order {
      let members = groups[key]!
      var needles: [[UInt8]] = []
      var owners: [Int32] = []
      for (slot, leaf) in members.enumerated() {
        needles += leaf.needles.map { Array($0.utf8) }
        owners += [Int32](repeating: Int32(slot), count: leaf.needles.count)
      }
      requests.append((needles, members[0].operation, members[0].folding))
      ownersOfSet.append(owners)
    }
    var binding = Binding()
    for (index, built) in LiteralSet.build(requests, cache: cache).enumerated() {
      // Should Hyperscan refuse the set, its tests keep comparing one needle at a time.
      guard case .success(let set) = built else { continue }
      let members = groups[order[index]]!
      let scan = LiteralFieldScan(field: members[0].field, set: set, owners: ownersOfSet[index], tests: members.count)
      for (slot, leaf) in members.enumerated() {
        leaf.scan = scan
        leaf.slot = slot
      }
      binding.sets += 1
      if set.hasDatabase {
        binding.databases += 1
        binding.databaseNeedles += set.needles.count
      }
      if set.loadedFromCache { binding.loadedFromCache += 1 }
      binding.databaseBytes += set.databaseBytes
    }
    return binding
  }
}

/// A field's literal set and which of its tests matched the value scanned last (kept until the field
/// holds another value). Not thread-safe, as ``FieldScan``. Its state lives behind pointers,
/// allocated once, as ``FieldScan``'s: a test of a value already scanned reads two words.
final class LiteralFieldScan {
  private let scanner: LiteralScanner
  /// The test each needle belongs to.
  private let owners: [Int32]
  private let value: UnsafeMutablePointer<ScannedValue>
  /// `testStamp[slot] == stamp.pointee`: test `slot` matched the value scanned last.
  private let stamp: UnsafeMutablePointer<UInt32>
  private let testStamp: UnsafeMutablePointer<UInt32>
  private let tests: Int
  let field: Field
  let set: LiteralSet

  init(field: Field, set: LiteralSet, owners: [Int32], tests: Int) {
    self.field = field
    self.set = set
    scanner = set.makeScanner()
    self.owners = owners
    self.tests = max(1, tests)
    value = .allocate(capacity: 1)
    value.initialize(to: ScannedValue(field))
    stamp = .allocate(capacity: 1)
    stamp.initialize(to: 0)
    testStamp = .allocate(capacity: self.tests)
    testStamp.initialize(repeating: 0, count: self.tests)
  }

  deinit {
    value.deinitialize(count: 1)
    value.deallocate()
    stamp.deallocate()
    testStamp.deallocate()
  }

  func test(_ slot: Int, _ event: EventFields) -> Bool {
    if !value.pointee.isCurrent(event) { update(event) }
    return testStamp[slot] == stamp.pointee
  }

  private func update(_ event: EventFields) {
    value.pointee.refresh(event) {
      stamp.pointee &+= 1
      if stamp.pointee == 0 {
        testStamp.update(repeating: 0, count: tests)
        stamp.pointee = 1
      }
    } element: { element in
      let current = stamp.pointee
      element.withUTF8Bytes { bytes in
        scanner.forEachMatch(bytes) { id in testStamp[Int(owners[id])] = current }
      }
    }
  }
}

/// A field's reader, kept by its scan's ``ScannedValue`` and called through an unretained reference:
/// binding the closure out of `Field.Accessor` retained and released its context on every event.
final class FieldReader {
  enum Kind { case string, strings, other }
  let kind: Kind
  let string: (EventFields) -> String?
  let strings: (EventFields) -> [String]

  init(_ field: Field) {
    switch field.accessor {
    case .string(let read):
      kind = .string
      string = read
      strings = { _ in [] }
    case .strings(let read):
      kind = .strings
      string = { _ in nil }
      strings = read
    case .integer, .address:
      kind = .other
      string = { _ in nil }
      strings = { _ in [] }
    }
  }
}

/// The value of a field a scan saw last, to scan a value only when the field holds another.
struct ScannedValue {
  private var scanned = false
  private var single: String?
  private var list: [String] = []
  /// The event loaded when the value was last read: within one, it cannot have changed.
  private var generation: UInt64 = 0
  /// The field's reader, which the owning scan keeps alive (`reader`).
  private let readerInPlace: Unmanaged<FieldReader>
  let reader: FieldReader

  init(_ field: Field) {
    reader = FieldReader(field)
    readerInPlace = Unmanaged.passUnretained(reader)
  }

  /// Whether the value was read from the event loaded now (then `refresh` does nothing).
  @inline(__always)
  func isCurrent(_ event: EventFields) -> Bool { scanned && generation == event.generation }

  /// When the field in `event` holds another value than last time: `begin`, then `element` for
  /// each element (none for a missing value).
  mutating func refresh(_ event: EventFields, begin: () -> Void, element: (String) -> Void) {
    if scanned && generation == event.generation { return }
    generation = event.generation
    let reader = readerInPlace
    switch reader._withUnsafeGuaranteedRef({ $0.kind }) {
    case .string:
      let value = reader._withUnsafeGuaranteedRef { $0.string(event) }
      if scanned && list.isEmpty && Self.sameBytes(value, single) { return }
      scanned = true
      single = value
      if !list.isEmpty { list = [] }
      begin()
      if let value { element(value) }
    case .strings:
      let values = reader._withUnsafeGuaranteedRef { $0.strings(event) }
      if scanned && single == nil && Self.sameBytes(values, list) { return }
      scanned = true
      single = nil
      list = values
      begin()
      // Each name borrowed, not retained per element (as EventFields.anyName).
      values.withUnsafeBufferPointer { buffer in
        for index in buffer.indices { element(buffer[index]) }
      }
    case .other:
      if scanned { return }
      scanned = true
      begin()
    }
  }

  // A value is the one scanned last only when its bytes are: `==` on strings is Unicode canonical
  // equivalence, under which `\u{212A}insing` (KELVIN SIGN) equals `Kinsing`, and the answers for one
  // would be read for the other, whose bytes every test here compares (a process named with the
  // look-alike just before the real one hid the real one's alert).
  @inline(__always)
  private static func sameBytes(_ first: String?, _ second: String?) -> Bool {
    guard let first, let second else { return first == nil && second == nil }
    return sameBytes(first, second)
  }

  @inline(__always)
  private static func sameBytes(_ first: [String], _ second: [String]) -> Bool {
    guard first.count == second.count else { return false }
    return first.withUnsafeBufferPointer { first in
      second.withUnsafeBufferPointer { second in
        for index in first.indices where !sameBytes(first[index], second[index]) { return false }
        return true
      }
    }
  }

  @inline(__always)
  private static func sameBytes(_ first: String, _ second: String) -> Bool {
    first.withUTF8Bytes { first in
      second.withUTF8Bytes { second in
        first.count == second.count && first.elementsEqual(second)
      }
    }
  }
}
