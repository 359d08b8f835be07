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
  /// The list's `except:` lists' sets: a value they hold is not listed, whatever `sets` say.
  var excepted: [IntelList] = []
  var exceptLists: [String] = []
  /// The list's `severity:`, which its alerts take instead of the rule's.
  var severity: Severity?
  /// Each `and` above the term in the condition: a term whose field is listed decides the alert only
  /// where they hold (`remote in low or (remote in critical and local_port == 22)` on port 443 is
  /// the low list's). An operand with a regex test is left out of them, taken as holding: evaluated
  /// again here it would count its regex limit hits twice.
  var conjuncts: [Predicate] = []

  /// The lists the term reads: its own and its `except:` lists (`rules lookup` looks in both).
  var listsRead: [String] { [list] + exceptLists }

  /// Whether the `and`s above the term hold on `event`.
  func conjunctsHold(_ event: EventFields) -> Bool { conjuncts.allSatisfy { $0(event) } }

  /// The first value of the field that a set holds, described.
  func match(_ event: EventFields) -> (match: IntelIndicatorMatch, severity: Severity?)? {
    guard let found = firstListed(event) else { return nil }
    return (describe(found), severity)
  }

  /// The alert's `IntelIndicatorMatch`, the matched value written out only now that an alert is
  /// raised (an address's text costs a formatting the suppression key does not need).
  private func describe(_ found: (match: IntelMatch, value: Observed)) -> IntelIndicatorMatch {
    IntelIndicatorMatch(
      indicator: found.match.indicator, type: type.rawValue, list: list, source: found.match.source,
      matchedValue: found.value.text, matchedField: field.name, provider: found.match.origin.provider,
      file: found.match.origin.file, line: found.match.line)
  }

  /// The event's value a list matched, kept as read (a name is a retain, an address a copy).
  enum Observed {
    case text(String)
    case address(IPAddress)
    case port(UInt16)

    var text: String {
      switch self {
      case .text(let text): text
      case .address(let address): "\(address.unmappingIPv4)"
      case .port(let port): String(port)
      }
    }
  }

  /// The indicator ``match`` would name, without building the alert's `IntelIndicatorMatch` (a
  /// suppression key).
  func firstIndicator(_ event: EventFields) -> String? {
    firstListed(event)?.match.indicator
  }

  /// The first value of the field a set holds, and the set's match.
  private func firstListed(_ event: EventFields) -> (match: IntelMatch, value: Observed)? {
    switch (field.accessor, type) {
    case (.strings, .domain) where field.name == ConditionCompiler.answersField:
      for name in event.answerNames {
        if let found = listMatch({ $0.match(domain: name) }), !excepted.holds(domain: name) {
          return (found, .text(name))
        }
      }
    case (.strings(let read), .domain):
      for name in read(event) {
        if let found = listMatch({ $0.match(domain: name) }), !excepted.holds(domain: name) {
          return (found, .text(name))
        }
      }
    case (.string(let read), .domain):
      if let name = read(event), let found = listMatch({ $0.match(domain: name) }), !excepted.holds(domain: name) {
        return (found, .text(name))
      }
    case (.strings(let read), .string):
      for text in read(event) {
        if let found = listMatch({ $0.match(string: text) }), !excepted.holds(string: text) {
          return (found, .text(text))
        }
      }
    case (.string(let read), .string):
      if let text = read(event), let found = listMatch({ $0.match(string: text) }), !excepted.holds(string: text) {
        return (found, .text(text))
      }
    case (.strings, .address) where field.name == ConditionCompiler.answersField:
      for address in event.answerAddresses {
        if let found = listMatch({ $0.match(address: address) }), !excepted.holds(address: address) {
          return (found, .address(address))
        }
      }
    case (.address(let read), .address):
      if let address = read(event), let found = listMatch({ $0.match(address: address) }),
        !excepted.holds(address: address)
      {
        return (found, .address(address))
      }
    case (.integer(let read), .port):
      if let port = read(event).flatMap(UInt16.init(exactly:)), let found = listMatch({ $0.match(port: port) }),
        !excepted.holds(port: port)
      {
        return (found, .port(port))
      }
    default:
      break
    }
    return nil
  }

  /// The list's match: the narrowest indicator among its sets (inline items, then files), the
  /// earlier set's of equally narrow ones.
  private func listMatch(_ lookup: (IntelList) -> IntelMatch?) -> IntelMatch? {
    IntelList.mostSpecific(in: sets, lookup)
  }

  /// The indicator ``firstMatch`` would name (the suppression key by indicator), without building
  /// the alert's `IntelIndicatorMatch`.
  static func firstIndicator(_ terms: [IntelTerm], _ event: EventFields, ruleSeverity: Severity) -> String? {
    deciding(terms, event, ruleSeverity: ruleSeverity)?.found.match.indicator
  }

  /// The indicator an alert names, and the severity its list gives (nil: the rule's), from
  /// ``deciding(_:_:ruleSeverity:)``.
  static func firstMatch(_ terms: [IntelTerm], _ event: EventFields, ruleSeverity: Severity) -> (
    match: IntelIndicatorMatch, severity: Severity?
  )? {
    guard let (index, found) = deciding(terms, event, ruleSeverity: ruleSeverity) else { return nil }
    return (terms[index].describe(found), terms[index].severity)
  }

  /// The term that decides an alert: the first, in the condition's order, that names an indicator
  /// of this event, unless a later one whose list has a higher severity names one too, so that the
  /// alert takes the highest severity among the lists that match whatever the order of `or`
  /// operands, and names an indicator of that list. A list without `severity` counts as
  /// `ruleSeverity` (nil: below every severity); ties keep the first. Past the first match only
  /// terms of a higher severity are looked up, so a rule whose lists agree costs what it did.
  private static func deciding(_ terms: [IntelTerm], _ event: EventFields, ruleSeverity: Severity?) -> (
    term: Int, found: (match: IntelMatch, value: Observed)
  )? {
    let highest = Severity.critical.rank
    var best: (term: Int, found: (match: IntelMatch, value: Observed), rank: Int)?
    for index in terms.indices {
      let rank = terms[index].severity?.rank ?? ruleSeverity?.rank ?? -1
      if let best, rank <= best.rank { continue }
      guard let found = terms[index].firstListed(event), terms[index].conjunctsHold(event) else { continue }
      best = (index, found, rank)
      if rank == highest { break }
    }
    return best.map { ($0.term, $0.found) }
  }
}

extension ConditionCompiler {
  /// The one string field whose values may be addresses (A and AAAA answers).
  static let answersField = "dns.answers"

  /// Whether a set lists `name`, its bytes read once for all of them: `contains(domain:)` is generic
  /// over the string type, and unspecialised here it reaches the bytes through witness calls. A
  /// name an `except:` list holds is not listed; those are read only for a listed name.
  private static func listed(_ name: String, in sets: [IntelList], except excepted: [IntelList]) -> Bool {
    name.withUTF8Bytes { listed($0, in: sets, except: excepted) }
  }

  @inline(__always)
  private static func listed(_ name: UnsafeRawBufferPointer, in sets: [IntelList], except excepted: [IntelList])
    -> Bool
  {
    IntelList.anyContains(domainBytes: name, in: sets)
      && (excepted.isEmpty || !IntelList.anyContains(domainBytes: name, in: excepted))
  }

  /// `field in list` where the list is typed: the field's type must be one the list's indicators can be.
  func intelTest(_ field: Field, _ definition: ListDefinition, _ source: ConditionText, at offset: Int)
    throws(CompileError) -> Predicate
  {
    guard let declaration = definition.intel else { throw fail(source, offset, "'\(definition.name)' is not typed") }
    usedLists.insert(definition.name)
    let sets = declaration.sets
    // Each value is tested against the allowlists only once a set lists it: the common miss costs
    // what it did without them.
    let exceptLists = declaration.except.map(\.name)
    let excepted = exceptLists.compactMap { lists[$0]?.intel }.flatMap(\.sets)
    for name in exceptLists { usedLists.insert(name) }
    let predicate: Predicate
    switch (field.accessor, declaration.type) {
    case (.strings, .domain) where field.nameList != nil:
      let nameList = field.nameList!
      predicate = { event in event.anyName(in: nameList) { Self.listed($0, in: sets, except: excepted) } }
    case (.strings, .domain) where field.name == Self.answersField:
      // `dns.answers in c2_domains`: an alias (CNAME target) may be listed; the addresses among the
      // answers are no names.
      predicate = { event in event.answerNames.contains { name in Self.listed(name, in: sets, except: excepted) } }
    case (.strings(let read), .domain):
      predicate = { event in read(event).contains { name in Self.listed(name, in: sets, except: excepted) } }
    case (.string(let read), .domain):
      predicate = { event in read(event).map { name in Self.listed(name, in: sets, except: excepted) } ?? false }
    case (.strings(let read), .string):
      predicate = { event in read(event).contains { text in sets.holds(string: text) && !excepted.holds(string: text) }
      }
    case (.string(let read), .string):
      predicate = { event in
        read(event).map { text in sets.holds(string: text) && !excepted.holds(string: text) } ?? false
      }
    case (.strings, .address) where field.name == Self.answersField:
      // `dns.answers in c2_addresses`: the A and AAAA answers, read once per event as addresses.
      predicate = { event in
        event.answerAddresses.contains { address in sets.holds(address: address) && !excepted.holds(address: address) }
      }
    case (.address(let read), .address):
      predicate = { event in
        read(event).map { address in sets.holds(address: address) && !excepted.holds(address: address) } ?? false
      }
    case (.integer(let read), .port):
      predicate = { event in
        guard let port = read(event).flatMap(UInt16.init(exactly:)) else { return false }
        return sets.holds(port: port) && !excepted.holds(port: port)
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
          + "'\(field.name)' is \(field.type.withArticle)")
    }
    intelTerms.append(
      IntelTerm(
        field: field, list: definition.name, type: declaration.type, sets: sets, excepted: excepted,
        exceptLists: exceptLists, severity: declaration.severity))
    return predicate
  }
}

extension Array where Element == IntelList {
  /// Whether one of the sets holds the value: a list's sets, or its `except:` lists' (which the
  /// predicates and the alert's indicator test alike, so that they never disagree).
  func holds(address: IPAddress) -> Bool { contains { $0.contains(address: address) } }
  func holds(string: String) -> Bool { contains { $0.contains(string: string) } }
  func holds(port: UInt16) -> Bool { contains { $0.contains(port: port) } }
  func holds(domain name: String) -> Bool {
    !isEmpty && name.withUTF8Bytes { IntelList.anyContains(domainBytes: $0, in: self) }
  }
}
