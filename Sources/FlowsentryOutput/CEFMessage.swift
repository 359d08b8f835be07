import FlowsentryCore

/// ArcSight Common Event Format (CEF:0) lines, for SIEMs that take CEF:
///
///     CEF:0|flowsentry|flowsentry|VERSION|SIGNATURE ID|NAME|SEVERITY|key=value key=value …
///
/// Header fields escape `\` and `|`; extension values escape `\`, `=`, newline and carriage return.
/// Other control characters (TAB among them), U+2028/U+2029 and format characters, which CEF has
/// no escape for, become U+FFFD in both (``isUnescapable(_:)``). Fields are cut to the lengths the
/// CEF specification gives, counted in Unicode scalars after that replacement and before escaping.
public enum CEFMessage {
  /// CEF severity 0–10 of a rule severity: low 3, medium 5, high 8, critical 10, info 1.
  public static func severity(ofRule severity: Severity) -> Int {
    switch severity {
    case .critical: 10
    case .high: 8
    case .medium: 5
    case .low: 3
    case .info: 1
    }
  }

  public static func line(for alert: Alert, context: EventJSON.Context) -> String {
    var extensions: [(String, String)] = [
      ("rt", String(alert.timestamp / 1_000_000)),
      ("externalId", alert.id),
      ("msg", alert.message),
      ("cat", alert.tags.joined(separator: ",")),
      ("cnt", String(alert.count)),
      ("dvchost", context.hostName),
    ]
    let flow = alert.events.lazy.compactMap { event -> FlowEvent? in
      if case .flow(let flow) = event { return flow }
      return nil
    }.first
    if let flow {
      extensions += flowExtensions(flow, context: context, indicator: alert.indicator)
    } else if case .dns(let dns) = alert.events.first {
      // A lookup's alert: the asking socket and the question, as its event's line has them.
      extensions += dnsExtensions(dns)
    }
    extensions += indicatorExtensions(alert)
    return header(signature: alert.ruleID, name: alert.ruleName, severity: severity(ofRule: alert.severity))
      + extensionText(extensions)
  }

  public static func line(for event: SensorEvent, context: EventJSON.Context) -> String {
    var extensions: [(String, String)] = [
      ("rt", String(event.timestamp / 1_000_000)), ("dvchost", context.hostName),
    ]
    if case .flow(let flow) = event { extensions += flowExtensions(flow, context: context) }
    if case .dns(let dns) = event { extensions += dnsExtensions(dns) }
    return header(signature: event.name.rawValue, name: event.name.rawValue, severity: 1) + extensionText(extensions)
  }

  /// `src`/`spt` the asking socket, `dst`/`dpt` the resolver: a DNS event reads as its answer packet
  /// (`src` the resolver, answered or not, EVENTS.md), but CEF's source is the side that initiated,
  /// the host a SOC investigates.
  ///
  /// The question goes in a labelled custom string, `cs2` (`dnsQuery`): the CEF extension
  /// dictionary has no key for a DNS query name. `request` is requestUrl, a URL with its protocol,
  /// which a SIEM parses as one; `dhost` and `destinationDnsDomain` name the destination node,
  /// which here is the resolver, not the name it was asked.
  private static func dnsExtensions(_ dns: DNSEvent) -> [(String, String)] {
    var extensions = [
      ("src", "\(dns.destination.address.unmappingIPv4)"), ("spt", String(dns.destination.port)),
      ("dst", "\(dns.source.address.unmappingIPv4)"), ("dpt", String(dns.source.port)),
      ("proto", dns.transport == .udp ? "UDP" : "TCP"),
    ]
    if let question = dns.questions.first { extensions += [("cs2Label", "dnsQuery"), ("cs2", question)] }
    return extensions
  }

  /// An alert's `indicator` picks the side's name in `shost`/`dhost`, as in ECS's `*.domain`.
  private static func flowExtensions(
    _ flow: FlowEvent, context: EventJSON.Context, indicator: IntelIndicatorMatch? = nil
  )
    -> [(String, String)]
  {
    var extensions: [(String, String)] = [
      ("src", "\(flow.source.address.unmappingIPv4)"), ("spt", String(flow.source.port)),
      ("dst", "\(flow.destination.address.unmappingIPv4)"), ("dpt", String(flow.destination.port)),
      ("proto", "TCP"), ("deviceDirection", flow.direction == .outgoing ? "1" : "0"),
      ("cs1Label", "communityId"),
      ("cs1", context.communityID.string(flow.source, flow.destination, transport: CommunityID.tcp)),
    ]
    // CEF's out/in are relative to src → dst: what src sent, and what it received.
    if let sides = flow.volumeBySide {
      extensions += [("out", String(sides.source.bytes)), ("in", String(sides.destination.bytes))]
    }
    // CEF has no keys for what a flow carried since its previous report: custom numbers, the same
    // src → dst sides as out/in.
    var sinceLastReport = flow
    sinceLastReport.volume = flow.volumeDelta
    if let delta = sinceLastReport.volumeBySide {
      extensions += [
        ("cn1Label", "bytesOutDelta"), ("cn1", String(delta.source.bytes)),
        ("cn2Label", "bytesInDelta"), ("cn2", String(delta.destination.bytes)),
      ]
    }
    if let name = ECSJSON.sideName(flow.sourceNames, indicator) { extensions.append(("shost", name)) }
    if let name = ECSJSON.sideName(flow.destinationNames, indicator) { extensions.append(("dhost", name)) }
    if let process = flow.process {
      extensions += [("sproc", process.command), ("spid", String(process.pid)), ("suid", String(process.uid))]
    }
    return extensions
  }

  /// The spec's maximum lengths of the extension keys flowsentry writes.
  static let limits: [String: Int] = [
    "externalId": 40, "msg": 1023, "cat": 1023, "dvchost": 100, "shost": 1023, "dhost": 1023, "sproc": 1023,
    "suid": 1023, "cn1Label": 1023, "cn2Label": 1023,
    // deviceCustomString1–6 take 4,000 characters in the CEF extension dictionary, their labels 1,023.
    "cs1": 4000, "cs2": 4000, "cs3": 4000, "cs4": 4000, "cs5": 4000, "cs6": 4000,
    "cs1Label": 1023, "cs2Label": 1023, "cs3Label": 1023, "cs4Label": 1023, "cs5Label": 1023, "cs6Label": 1023,
  ]

  static func header(signature: String, name: String, severity: Int) -> String {
    "CEF:0|flowsentry|flowsentry|\(escapeHeader(FlowsentryVersion.current, limit: 31))|"
      + "\(escapeHeader(signature, limit: 1023))|\(escapeHeader(name, limit: 512))|\(severity)|"
  }

  /// Scalar by scalar, as ``escapeExtension(_:limit:)``: `|` and a combining mark are one character,
  /// and one field boundary to a receiver reading bytes.
  static func escapeHeader(_ value: String, limit: Int) -> String {
    var result = String.UnicodeScalarView()
    var afterCR = false
    for scalar in cut(value, limit: limit) {
      switch scalar {
      case "\\": result.append(contentsOf: #"\\"#.unicodeScalars)
      case "|": result.append(contentsOf: #"\|"#.unicodeScalars)
      // A header has no escape for line breaks: they would end the record. CRLF is one break, one space.
      case "\n" where afterCR: break
      case "\n", "\r": result.append(" ")
      default: result.append(scalar)
      }
      afterCR = scalar == "\r"
    }
    return String(result)
  }

  /// `value` after ``replacingUnescapable(_:)``, cut to `limit` Unicode scalars before it is
  /// escaped, so that the cut never splits an escape or a UTF-8 sequence. Scalars, not characters:
  /// one grapheme cluster may hold any number of combining marks, so a cut by characters bounded
  /// nothing (`"a"` and 10,000 U+0301 are one character).
  static func cut(_ value: String, limit: Int) -> Substring.UnicodeScalarView {
    let replaced = replacingUnescapable(value)
    return Substring(replaced).unicodeScalars.prefix(limit)
  }

  /// What an unescapable character becomes: U+FFFD REPLACEMENT CHARACTER, visible, and never
  /// anything a receiver or a terminal acts on.
  static let replacement: Unicode.Scalar = "\u{FFFD}"

  /// Whether `scalar` is one CEF has no escape for and that must not reach a line raw:
  /// - a control character (C0, DEL, C1 such as U+0085 NEL) or a line or paragraph separator
  ///   (U+2028, U+2029): raw, they can end or split the record at a receiver, or drive the terminal
  ///   it is read on (ESC sequences from a Zeek `meta.source` or a feed file's name). TAB is one:
  ///   CEF has no `\t`, and rsyslog rewrites a raw one as `#011` by default, text no reader
  ///   would take for a TAB; a space would pass for the value's own.
  /// - a format character (Unicode category Cf): the bidirectional marks, embeddings, overrides and
  ///   isolates (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) reorder what follows on a
  ///   reader's screen (`\u{202E}moc.evil` shows as `live.com`), and the invisible ones (U+200B–
  ///   U+200D, U+2060, U+FEFF, U+00AD, the tag characters U+E0000–U+E007F) make two values that
  ///   read alike differ; U+FFFD shows where one was.
  /// Line breaks are among them; the escapes take them first.
  static func isUnescapable(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.properties.generalCategory {
    case .control, .format, .lineSeparator, .paragraphSeparator: return true
    default: return false
    }
  }

  /// `value` with each unescapable scalar but the line breaks (which the escapes write) replaced.
  /// By scalar, not by character: a format character may join the character before it (U+200D and
  /// the tag characters extend a grapheme cluster), so a character can hold one beside text.
  static func replacingUnescapable(_ value: String) -> String {
    func replaced(_ scalar: Unicode.Scalar) -> Bool { scalar != "\n" && scalar != "\r" && isUnescapable(scalar) }
    guard value.unicodeScalars.contains(where: replaced) else { return value }
    var result = String.UnicodeScalarView()
    for scalar in value.unicodeScalars { result.append(replaced(scalar) ? replacement : scalar) }
    return String(result)
  }

  /// Scalar by scalar: a combining mark after `=` (`"=\u{301}"`) makes one character of the two,
  /// which a comparison by character let through raw, while a receiver splitting the line on bytes
  /// sees `=` there and reads a key of the attacker's (`sproc` from a process's own name).
  static func escapeExtension(_ value: String, limit: Int) -> String {
    var result = String.UnicodeScalarView()
    for scalar in cut(value, limit: limit) {
      switch scalar {
      case "\\": result.append(contentsOf: #"\\"#.unicodeScalars)
      case "=": result.append(contentsOf: #"\="#.unicodeScalars)
      case "\n": result.append(contentsOf: #"\n"#.unicodeScalars)
      case "\r": result.append(contentsOf: #"\r"#.unicodeScalars)
      default: result.append(scalar)
      }
    }
    return String(result)
  }

  private static func extensionText(_ extensions: [(String, String)]) -> String {
    extensions.map { key, value in "\(key)=\(escapeExtension(value, limit: limits[key] ?? 1023))" }
      .joined(separator: " ")
  }
}
