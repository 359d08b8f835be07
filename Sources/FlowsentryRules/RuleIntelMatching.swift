import FlowsentryCore
import FlowsentryIntel

/// `field in typed_list`, compiled: the predicate tests the list's sets, and the term names what
/// matched when the rule fires (the engine asks only then, so the hot path stays a `contains`).
struct IntelTerm: @unchecked Sendable {
  /// `suppress: {by: [indicator]}`: the pseudo-field that folds alerts naming the same indicator.
  static let suppressionKey = "indicator"

  var field: Field
  var list: String
  var type: IndicatorType
  var sets: [IntelList]
  /// The list's `severity:`, which its alerts take instead of the rule's.
  var severity: Severity?

  /// The first value of the field that a set holds, described.
  func match(_ event: EventFields) -> (match: IntelIndicatorMatch, severity: Severity?)? {
    var found: IntelMatch?
    switch (field.accessor, type) {
    case (.strings(let read), .domain):
      found = first(read(event)) { set, name in set.match(domain: name) }
    case (.string(let read), .domain):
      found = first(read(event).map { [$0] } ?? []) { set, name in set.match(domain: name) }
    case (.strings(let read), .string):
      found = first(read(event)) { set, text in set.match(string: text) }
    case (.string(let read), .string):
      found = first(read(event).map { [$0] } ?? []) { set, text in set.match(string: text) }
    case (.strings(let read), .address):
      found = first(read(event).compactMap(IPAddress.init)) { set, address in set.match(address: address) }
    case (.address(let read), .address):
      found = read(event).flatMap { address in first([address]) { set, address in set.match(address: address) } }
    case (.integer(let read), .port):
      found = read(event).flatMap(UInt16.init(exactly:)).flatMap { port in
        first([port]) { set, port in set.match(port: port) }
      }
    default:
      found = nil
    }
    guard let found else { return nil }
    return (
      IntelIndicatorMatch(indicator: found.indicator, type: type.rawValue, list: list, source: found.source), severity
    )
  }

  private func first<Value>(_ values: [Value], _ lookup: (IntelList, Value) -> IntelMatch?) -> IntelMatch? {
    for value in values {
      for set in sets {
        if let match = lookup(set, value) { return match }
      }
    }
    return nil
  }

  /// The first term, in the condition's order, that names a listed indicator of this event.
  static func firstMatch(_ terms: [IntelTerm], _ event: EventFields) -> (
    match: IntelIndicatorMatch, severity: Severity?
  )? {
    for term in terms {
      if let found = term.match(event) { return found }
    }
    return nil
  }
}

extension ConditionCompiler {
  /// The one string field whose values may be addresses (A and AAAA answers).
  static let answersField = "dns.answers"

  /// Whether a set lists `name`, its bytes read once for all of them: `contains(domain:)` is generic
  /// over the string type, and unspecialised here it reaches the bytes through witness calls.
  private static func listed(_ name: String, in sets: [IntelList]) -> Bool {
    var name = name
    return name.withUTF8 { IntelList.anyContains(domainBytes: UnsafeRawBufferPointer($0), in: sets) }
  }

  /// `field in list` where the list is typed: the field's type must be one the list's indicators can be.
  func intelTest(_ field: Field, _ definition: ListDefinition, _ source: ConditionText, at offset: Int)
    throws(CompileError) -> Predicate
  {
    guard let declaration = definition.intel else { throw fail(source, offset, "'\(definition.name)' is not typed") }
    usedLists.insert(definition.name)
    let sets = declaration.sets
    let predicate: Predicate
    switch (field.accessor, declaration.type) {
    case (.strings(let read), .domain):
      predicate = { event in read(event).contains { name in Self.listed(name, in: sets) } }
    case (.string(let read), .domain):
      predicate = { event in read(event).map { name in Self.listed(name, in: sets) } ?? false }
    case (.strings(let read), .string):
      predicate = { event in read(event).contains { text in sets.contains { $0.contains(string: text) } } }
    case (.string(let read), .string):
      predicate = { event in read(event).map { text in sets.contains { $0.contains(string: text) } } ?? false }
    case (.strings(let read), .address) where field.name == Self.answersField:
      // `dns.answers in c2_addresses`: an answer's data is an address (A, AAAA) or a name, which never matches.
      predicate = { event in
        read(event).contains { text in
          IPAddress(text).map { address in sets.contains { $0.contains(address: address) } } ?? false
        }
      }
    case (.address(let read), .address):
      predicate = { event in read(event).map { address in sets.contains { $0.contains(address: address) } } ?? false }
    case (.integer(let read), .port):
      predicate = { event in
        guard let port = read(event).flatMap(UInt16.init(exactly:)) else { return false }
        return sets.contains { $0.contains(port: port) }
      }
    default:
      let fitting: String
      switch declaration.type {
      case .domain, .string: fitting = "string fields"
      case .address: fitting = "address fields and dns.answers"
      case .port: fitting = "integer fields"
      }
      throw fail(
        source, offset,
        "'\(definition.name)' holds \(declaration.type.rawValue) indicators, for \(fitting); "
          + "'\(field.name)' is a \(field.type.rawValue)")
    }
    intelTerms.append(
      IntelTerm(
        field: field, list: definition.name, type: declaration.type, sets: sets, severity: declaration.severity))
    return predicate
  }
}
