import FlowsentryCore
import FlowsentryIntel
import Foundation

/// A typed list that an enabled rule tests, kept in the rule set for `rules lookup`: the sets are the
/// ones the rules' predicates hold, not copies. Another list is not kept (it can raise no alert, and
/// a feed of millions held for nothing would cost its memory for as long as the set lives).
struct IndicatorListReference: @unchecked Sendable {
  let name: String
  let type: IndicatorType
  let severity: Severity?
  /// Inline items first, then each file's set, as the rules test them.
  let sets: [IntelList]
  /// The list's `except:` lists (read by the same rules, so among the references too).
  var except: [String] = []
}

/// A typed list holding a looked-up value: what a rule reading the list would name as the alert's
/// indicator, and where it came from.
public struct IndicatorListing: Sendable, Equatable, CustomStringConvertible {
  /// The value looked up, as given.
  public var value: String
  public var list: String
  public var type: IndicatorType
  /// The indicator as the list holds it: for a suffix list, the listed name the value is under; for
  /// an address list, the most specific block holding the address, or for a block looked up, an
  /// entry covering it or inside it (empty on the line counting those not shown).
  public var indicator: String
  /// `file:line`, or Zeek's `meta.source (file:line)`.
  public var source: String
  /// The list's own `severity:`, which its alerts take instead of the rule's.
  public var severity: Severity?
  /// How the indicator stands to the value: it holds it, or, for a block, covers it or lies inside.
  public var relation: IndicatorRelation = .holds
  /// The list's `except:` lists that hold the value too: then no rule matches it by this list.
  public var exceptedBy: [String] = []

  /// One line for a terminal: every part escaped where it holds a control character (a feed's
  /// `meta.source` or a string list's indicator are a downloaded file's bytes, and an escape sequence
  /// in them could rewrite what the analyst reads).
  public var description: String {
    let escape = IndicatorListing.terminalSafe
    var text = "\(escape(value)): in \(escape(list))"
    switch relation {
    case .holds:
      text += " as \(escape(indicator)) from \(escape(source))"
    case .coversBlock(let mostSpecific):
      text += " as \(escape(indicator)) from \(escape(source)), covering the block"
      if mostSpecific { text += " (the most specific)" }
    case .insideBlock:
      text += " as \(escape(indicator)) from \(escape(source)), inside the block"
    case .moreInsideBlock(let count):
      // A count names no entry, so no entry's severity either.
      return text + ", \(count) more inside the block not shown"
    }
    if let severity { text += ", severity \(severity.rawValue)" }
    if !exceptedBy.isEmpty {
      text += "; excepted by \(exceptedBy.map(escape).joined(separator: ", ")): no rule matches it by this list"
    }
    return text
  }

  /// `text` as is, or quoted with Swift's escapes when it holds a character `TerminalText` will not
  /// print (a control character, a bidirectional override or mark, a line separator), a backslash or
  /// a quote: a value holding the six characters `\u{1B}` is then printed `"\\u{1B}"`, and a bare
  /// value or a quoted one always reads as what the feed or report held.
  public static func terminalSafe(_ text: String) -> String {
    func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
      TerminalText.isUnsafe(scalar) || scalar == "\"" || scalar == "\\"
    }
    guard text.unicodeScalars.contains(where: needsEscape) else { return text }
    // Quoted, so the quote and the backslash are escaped too: the line reads as one Swift literal.
    let escaped = TerminalText.replacing(
      in: text, where: needsEscape,
      with: { $0 == "\"" || $0 == "\\" ? "\\" + String($0) : TerminalText.swiftEscape($0) })
    return "\"" + escaped + "\""
  }
}

/// How a listed indicator stands to the value looked up.
public enum IndicatorRelation: Sendable, Equatable {
  /// The list holds the value (for an address, the most specific block holding it).
  case holds
  /// A listed block equal to or holding the whole block looked up; the first of a list's is
  /// `mostSpecific`, the one an alert on the block's addresses names when no entry inside holds them.
  case coversBlock(mostSpecific: Bool)
  /// A listed block or address strictly inside the block looked up.
  case insideBlock
  /// That many more entries inside the block than were shown (the listing's indicator and source are empty).
  case moreInsideBlock(Int)
}

extension RuleSet {
  /// The lists `listings(of:)` looks in (those an enabled rule tests), with how many indicators
  /// each holds: what a lookup that found nothing says it searched.
  public var listsLookedUpIn: [(name: String, indicators: Int)] {
    indicatorLists.map { ($0.name, $0.sets.reduce(0) { $0 + $1.count }) }
  }

  /// How many of one list's entries inside a looked-up block are shown when nothing says otherwise:
  /// enough to see what the list holds there, short enough that a /8 against a large feed stays readable.
  public static let defaultInsideLimit = 20

  /// The typed lists the rules read that hold `value`, in the lists' name order. The value is read as
  /// each list's type reads it: a domain (any case, a trailing dot ignored; the form on the wire, so
  /// an internationalized name in punycode), an address (IPv4-mapped IPv6 as IPv4), a string
  /// (exactly), a port. An address block (`203.0.113.0/24`) is looked up in address lists as a
  /// block: the entries covering it, then the first `insideLimit` entries inside it in address order
  /// and a count of the rest. Membership only: whether a rule alerts also depends on its condition
  /// and exceptions (an allowlist is a list too, and shows here as one).
  public func listings(of value: String, insideLimit: Int = defaultInsideLimit) -> [IndicatorListing] {
    // A report's indicator may be defanged or a URL: its host is what a domain or address list holds.
    let host = Self.refangedHost(value)
    let address = Self.lookupAddress(host)
    let block = address == nil ? Self.lookupBlock(host) : nil
    let port = UInt16(value)
    var listings: [IndicatorListing] = []
    for list in indicatorLists {
      let lookup: (IntelList) -> IntelMatch?
      switch list.type {
      case .domain:
        // An address is no name: the engine never tests one against a domain list.
        guard address == nil, block == nil else { continue }
        lookup = { $0.match(domain: host) }
      case .address:
        if let block {
          // Every address of the block is excepted only where an allowlist covers the whole block;
          // one that covers part of it is a listing of its own (the allowlist is looked in too).
          let exceptedBy = list.except.filter { name in
            indicatorLists.first { $0.name == name }.map {
              !IntelList.entries(of: block, in: $0.sets, insideLimit: 0).covering.isEmpty
            } ?? false
          }
          listings += Self.blockListings(
            of: value, block: block, in: list, insideLimit: insideLimit, exceptedBy: exceptedBy)
          continue
        }
        guard let address else { continue }
        lookup = { $0.match(address: address) }
      case .string:
        lookup = { $0.match(string: value) }
      case .port:
        guard let port else { continue }
        lookup = { $0.match(port: port) }
      }
      // As the rules name it: the narrowest indicator among the list's sets.
      guard let found = IntelList.mostSpecific(in: list.sets, lookup) else { continue }
      let exceptedBy = list.except.filter { name in
        indicatorLists.first { $0.name == name }.map { IntelList.mostSpecific(in: $0.sets, lookup) != nil } ?? false
      }
      listings.append(
        IndicatorListing(
          value: value, list: list.name, type: list.type, indicator: found.indicator, source: found.source,
          severity: list.severity, exceptedBy: exceptedBy))
    }
    return listings
  }

  private static func blockListings(
    of value: String, block: IPNetwork, in list: IndicatorListReference, insideLimit: Int, exceptedBy: [String]
  ) -> [IndicatorListing] {
    let found = IntelList.entries(of: block, in: list.sets, insideLimit: insideLimit)
    func listing(_ match: IntelMatch?, _ relation: IndicatorRelation) -> IndicatorListing {
      IndicatorListing(
        value: value, list: list.name, type: list.type, indicator: match?.indicator ?? "", source: match?.source ?? "",
        severity: list.severity, relation: relation, exceptedBy: exceptedBy)
    }
    var listings = found.covering.enumerated().map { listing($1, .coversBlock(mostSpecific: $0 == 0)) }
    listings += found.inside.map { listing($0, .insideBlock) }
    if found.insideCount > found.inside.count {
      listings.append(listing(nil, .moreInsideBlock(found.insideCount - found.inside.count)))
    }
    return listings
  }

  /// The block `value` is looked up as when it names one with host bits set (`203.0.113.7/24`), for
  /// the command to say so; nil for anything else.
  public static func blockClearingHostBits(of value: String) -> IPNetwork? {
    let host = refangedHost(value)
    guard lookupAddress(host) == nil, let block = lookupBlock(host), block.withHostBitsCleared != block else {
      return nil
    }
    return IntelList.listedForm(of: block)
  }

  /// Why `value` reads as an address block written wrong (`10.1.2.0/33`, `10.1.2.0/24x`), for the
  /// command to say so rather than answer "not listed" for a typo; nil for anything else.
  public static func malformedBlock(_ value: String) -> String? {
    var host = Substring(refangedHost(value))
    if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
    // The first slash: after a second one (`192.0.2.1/32/5`) the length is not digits, and the
    // value must not pass for the address before it, answered "not listed".
    guard lookupBlock(String(host)) == nil, let slash = host.firstIndex(of: "/"),
      let address = lookupAddress(String(host[..<slash]))
    else { return nil }
    let longest = address.isIPv4 ? 32 : 128
    return "not a block: the prefix length after / must be 0 to \(longest), in digits"
  }

  /// An address block as written in a report: `203.0.113.0/24`, `2001:db8::/32`, the address in
  /// brackets (`[2001:db8::]/32`) or the whole in them, a zone dropped as for an address. Host bits
  /// are kept here (the caller may say they were set); the lists clear them as a feed's are.
  public static func lookupBlock(_ value: String) -> IPNetwork? {
    var text = Substring(value)
    if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
    guard let slash = text.lastIndex(of: "/") else { return nil }
    let lengthText = text[text.index(after: slash)...]
    // Digits only: `Int` would take `+24`, which no report means.
    guard (1...3).contains(lengthText.count), lengthText.allSatisfy({ ("0"..."9").contains($0) }),
      let length = Int(lengthText), let address = lookupAddress(String(text[..<slash]))
    else { return nil }
    return IPNetwork(network: address, prefixLength: length)
  }

  /// An address as written in a report: bare, in brackets (`[2001:db8::1]`), or with a zone
  /// (`fe80::1%eth0`, which names the local link and is dropped).
  static func lookupAddress(_ value: String) -> IPAddress? {
    var text = Substring(value)
    if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
    if text.contains(":"), let zone = text.firstIndex(of: "%") { text = text[..<zone] }
    return IPAddress(String(text))
  }

  /// The host a threat report means: defanging undone (`evil[.]com`, `evil(.)com`, `evil[dot]com`,
  /// `hxxp://`), and of a URL (`https://user@evil.com:8443/path`) its host alone. Anything else as is.
  static func refangedHost(_ value: String) -> String {
    var text = value
    for (defanged, plain) in [("[.]", "."), ("(.)", "."), ("{.}", "."), ("[dot]", "."), ("(dot)", "."), ("[:]", ":")]
    where text.contains(defanged) {
      text = text.replacingOccurrences(of: defanged, with: plain)
    }
    // Foundation's parser, not a hand-written one: userinfo, port, path and an IPv6 host's brackets.
    guard text.contains("://"), let host = URLComponents(string: text)?.host, !host.isEmpty else { return text }
    return host
  }
}
