import FlowsentryCore
import Yams

extension RuleSetBuilder {
  /// What an `output` may hold besides event fields, for the error that names an unknown one.
  static let placeholders =
    "an event field, or count, window, group, score, period, jitter, indicator, indicator.list, indicator.source"

  /// `output:`, one text for every event, or a mapping from event name (or `default`) to text, so
  /// that a rule over several kinds of event says for each what that kind has; the rule's name
  /// when it has none.
  mutating func compileOutput(_ body: Node.Mapping, _ file: String, events: Set<EventName>, default fallback: String)
    -> RuleOutput
  {
    guard let (key, node) = body.first(where: { $0.key.string == "output" }) else {
      return RuleOutput(fallback: OutputTemplate(pieces: [.text(fallback)]))
    }
    guard case .mapping(let mapping) = node else {
      guard node.scalar != nil else {
        report(.error, location(node, file), "'output' takes a text, or event names and 'default' mapped to texts")
        return RuleOutput(fallback: OutputTemplate(pieces: [.text(fallback)]))
      }
      let template = compileTemplate(node, file)
      warnOfAbsentFields(
        template, for: EventName.allCases.filter(events.contains), at: location(node, file),
        fix: "map each event to its own text: output: {EVENT: TEXT, default: TEXT}")
      return RuleOutput(fallback: template)
    }
    // In the order `events` lists them everywhere else, so that a message names them the same way.
    let taken = EventName.allCases.filter(events.contains)
    let names = taken.map(\.rawValue)
    let keys = names + ["default"]
    var output = RuleOutput(fallback: OutputTemplate(pieces: [.text(fallback)]))
    var hasDefault = false
    var defaultLocation: SourceLocation?
    for (eventKey, text) in mapping {
      let name = eventKey.string ?? ""
      let event = EventName(rawValue: name)
      guard name == "default" || event.map(events.contains) == true else {
        let nearest = keys.min { editDistance($0, name) < editDistance($1, name) }
        let hint = nearest.flatMap { editDistance($0, name) <= 2 ? "; did you mean '\($0)'?" : nil } ?? ""
        let why =
          event != nil
          ? "an event this rule does not take"
          : EventName.sets[name] != nil ? "a set of events, where a key is one event" : "not an event name"
        report(
          .error, location(eventKey, file),
          "'\(name)' in output is \(why)\(hint) (its events: \(names.joined(separator: ", ")); or default)")
        continue
      }
      // A text that is not one still counts as given, so that its own error is the only one.
      let template = text.scalar == nil ? OutputTemplate(pieces: []) : compileTemplate(text, file)
      if text.scalar == nil { report(.error, location(text, file), "output for '\(name)' must be a text") }
      if let event {
        output.byEvent[event] = template
        warnOfAbsentFields(template, for: [event], at: location(text, file), fix: "leave it out of this text")
      } else {
        output.fallback = template
        hasDefault = true
        defaultLocation = location(text, file)
      }
    }
    if let defaultLocation {
      warnOfAbsentFields(
        output.fallback, for: taken.filter { output.byEvent[$0] == nil }, at: defaultLocation,
        fix: "give those events a text of their own")
    }
    let here = location(key, file)
    if mapping.isEmpty {
      report(.error, here, "'output' maps no event to a text (give a text, or event names and 'default')")
    } else if !hasDefault {
      let left = taken.filter { output.byEvent[$0] == nil }.map(\.rawValue)
      if !left.isEmpty {
        let them = left.count == 1 ? "it" : "them"
        report(.error, here, "'output' has no text for \(left.joined(separator: ", ")) (add \(them) or 'default')")
      }
    } else if taken.allSatisfy({ output.byEvent[$0] != nil }) {
      // Not an error: the rule reads the same either way, but its author meant something else.
      report(.warning, here, "'default' in output is used by none of the rule's events (each has its own)")
    }
    return output
  }

  /// A placeholder of a field that some event the text serves never holds prints `-` there (a
  /// lookup's `{process.comm}`): a warning at the text, naming the events, with the way out.
  mutating func warnOfAbsentFields(_ template: OutputTemplate, for events: [EventName], at: SourceLocation, fix: String)
  {
    var absent: [(field: String, events: [String])] = []
    for piece in template.pieces {
      let read: Field
      switch piece {
      case .field(let field), .addressBeforePort(let field): read = field
      default: continue
      }
      guard !absent.contains(where: { $0.field == read.name }) else { continue }
      let field = read
      let lacking = events.filter { Fields.neverCarried(by: $0).contains(field.name) }.map(\.rawValue)
      if !lacking.isEmpty { absent.append((field.name, lacking)) }
    }
    guard !absent.isEmpty else { return }
    let said = absent.map { "'{\($0.field)}' on \($0.events.joined(separator: ", "))" }.joined(separator: "; ")
    report(.warning, at, "output prints '-' for a field an event never has: \(said) (\(fix))")
  }

  /// One output text with `{placeholder}`s.
  mutating func compileTemplate(_ node: Node, _ file: String) -> OutputTemplate {
    guard var text = node.string else { return OutputTemplate(pieces: []) }
    // A block scalar ('output: >') ends with a line break that is not part of the text.
    while text.hasSuffix("\n") { text.removeLast() }
    _ = checkPrintable(text, node, "output", file)
    var pieces: [OutputTemplate.Piece] = []
    var rest = Substring(text)
    let start = location(node, file)
    while let open = rest.firstIndex(of: "{") {
      pieces.append(.text(String(rest[..<open])))
      guard let close = rest[open...].firstIndex(of: "}") else {
        report(.error, start, "unclosed '{' in output")
        break
      }
      let name = String(rest[rest.index(after: open)..<close])
      switch name {
      case "count": pieces.append(.count)
      case "window": pieces.append(.window)
      case "group": pieces.append(.group)
      case "score", "period", "jitter": pieces.append(.measurement(name))
      case "indicator": pieces.append(.indicator(\.indicator))
      case "indicator.list": pieces.append(.indicator(\.list))
      case "indicator.source": pieces.append(.indicator(\.source))
      default:
        if let field = Fields.byName[name] {
          pieces.append(.field(field))
        } else {
          report(.error, start, "unknown placeholder '{\(name)}' in output (\(Self.placeholders))")
        }
      }
      rest = rest[rest.index(after: close)...]
    }
    pieces.append(.text(String(rest)))
    // `{remote}:{remote_port}`: an IPv6 address there is written in brackets.
    for index in pieces.indices.dropLast(2) {
      guard case .field(let field) = pieces[index], field.type == .address,
        case .text(":") = pieces[index + 1], case .field(let port) = pieces[index + 2], port.type == .integer,
        port.name.hasSuffix("port")
      else { continue }
      pieces[index] = .addressBeforePort(field)
    }
    return OutputTemplate(pieces: pieces)
  }
}
