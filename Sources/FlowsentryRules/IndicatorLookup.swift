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
}

/// A typed list holding a looked-up value: what a rule reading the list would name as the alert's
/// indicator, and where it came from.
public struct IndicatorListing: Sendable, Equatable, CustomStringConvertible {
  /// The value looked up, as given.
  public var value: String
  public var list: String
  public var type: IndicatorType
  /// The indicator as the list holds it: for a suffix list, the listed name the value is under; for
  /// an address list, the most specific block holding the address.
  public var indicator: String
  /// `file:line`, or Zeek's `meta.source (file:line)`.
  public var source: String
  /// The list's own `severity:`, which its alerts take instead of the rule's.
  public var severity: Severity?

  /// One line for a terminal: every part escaped where it holds a control character (a feed's
  /// `meta.source` or a string list's indicator are a downloaded file's bytes, and an escape sequence
  /// in them could rewrite what the analyst reads).
  public var description: String {
    let escape = IndicatorListing.terminalSafe
    var text = "\(escape(value)): in \(escape(list)) as \(escape(indicator)) from \(escape(source))"
    if let severity { text += ", severity \(severity.rawValue)" }
    return text
  }

  /// `text` as is, or quoted with Swift's escapes when it holds a C0 or C1 control character, DEL, or
  /// a bidirectional override or isolate (which reorder what a terminal shows).
  public static func terminalSafe(_ text: String) -> String {
    func unsafe(_ scalar: Unicode.Scalar) -> Bool {
      scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || (0x202A...0x202E).contains(scalar.value)
        || (0x2066...0x2069).contains(scalar.value)
    }
    guard text.unicodeScalars.contains(where: unsafe) else { return text }
    var quoted = "\""
    for scalar in text.unicodeScalars {
      if scalar == "\"" || scalar == "\\" {
        quoted += "\\" + String(scalar)
      } else if unsafe(scalar) {
        quoted += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
      } else {
        quoted.unicodeScalars.append(scalar)
      }
    }
    return quoted + "\""
  }
}

extension RuleSet {
  /// The typed lists the rules read that hold `value`, in the lists' name order. The value is read as
  /// each list's type reads it: a domain (any case, a trailing dot ignored; the form on the wire, so
  /// an internationalized name in punycode), an address (IPv4-mapped IPv6 as IPv4), a string
  /// (exactly), a port. Membership only: whether a rule alerts also depends on its condition and
  /// exceptions (an allowlist is a list too, and shows here as one).
  public func listings(of value: String) -> [IndicatorListing] {
    // A report's indicator may be defanged or a URL: its host is what a domain or address list holds.
    let host = Self.refangedHost(value)
    let address = Self.lookupAddress(host)
    let port = UInt16(value)
    var listings: [IndicatorListing] = []
    for list in indicatorLists {
      let lookup: (IntelList) -> IntelMatch?
      switch list.type {
      case .domain:
        // An address is no name: the engine never tests one against a domain list.
        guard address == nil else { continue }
        lookup = { $0.match(domain: host) }
      case .address:
        guard let address else { continue }
        lookup = { $0.match(address: address) }
      case .string:
        lookup = { $0.match(string: value) }
      case .port:
        guard let port else { continue }
        lookup = { $0.match(port: port) }
      }
      // As the rules name it: the first set holding it, inline items before files.
      guard let found = list.sets.lazy.compactMap(lookup).first else { continue }
      listings.append(
        IndicatorListing(
          value: value, list: list.name, type: list.type, indicator: found.indicator, source: found.source,
          severity: list.severity))
    }
    return listings
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
