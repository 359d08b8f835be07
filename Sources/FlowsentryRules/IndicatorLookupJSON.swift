import FlowsentryCore

extension IndicatorListing {
  /// One looked-up value and what holds it, as a line of JSON for a playbook or script: `value`,
  /// `listed`, and `lists`, one object per listing in the order the text lines come in, each with
  /// `list`, `type`, `relation` (`holds`, `covers`, `inside`, or `more_inside` with the `count` of
  /// entries inside a block not shown), and for the others `indicator`, `source`, and `severity`
  /// when the list has one (`most_specific` on a covering block), and `excepted_by` naming the
  /// list's `except:` lists that hold the value too (no rule matches it by this list then). Strings are escaped as the event
  /// schema escapes them (a backslash as `\\`, once), and DEL, the C1 controls, the bidirectional
  /// overrides and marks and the line separators as `\uXXXX` too: valid JSON either way, but the
  /// line may well be read on a terminal or split by a log viewer.
  public static func jsonLine(value: String, listings: [IndicatorListing]) -> String {
    func string(_ text: String) -> String {
      // JSONText escapes below 0x20; what is left unsafe is in the BMP, four hex digits.
      TerminalText.replacing(
        in: String(decoding: JSONText.quoted(text), as: UTF8.self), where: { TerminalText.isUnsafe($0) },
        with: { scalar in
          let hex = String(scalar.value, radix: 16)
          return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        })
    }
    let lists = listings.map { listing -> String in
      var fields = ["\"list\":\(string(listing.list))", "\"type\":\(string(listing.type.rawValue))"]
      switch listing.relation {
      case .holds: fields.append("\"relation\":\"holds\"")
      case .coversBlock(let mostSpecific):
        fields += ["\"relation\":\"covers\"", "\"most_specific\":\(mostSpecific)"]
      case .insideBlock: fields.append("\"relation\":\"inside\"")
      case .moreInsideBlock(let count):
        // A count names no entry, so neither an indicator, a source nor a severity.
        return "{" + (fields + ["\"relation\":\"more_inside\"", "\"count\":\(count)"]).joined(separator: ",") + "}"
      }
      fields += ["\"indicator\":\(string(listing.indicator))", "\"source\":\(string(listing.source))"]
      if let severity = listing.severity { fields.append("\"severity\":\(string(severity.rawValue))") }
      if !listing.exceptedBy.isEmpty {
        fields.append("\"excepted_by\":[\(listing.exceptedBy.map(string).joined(separator: ","))]")
      }
      return "{" + fields.joined(separator: ",") + "}"
    }
    return "{\"value\":\(string(value)),\"listed\":\(!listings.isEmpty),\"lists\":[\(lists.joined(separator: ","))]}"
  }
}
