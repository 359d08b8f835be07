import FlowsentryCore

struct CorpusGenerator {
  var random: SeededRandom
  static let labels = ["mail", "cdn", "evil", "ex", "a1", "login", "b-c", "xyz", "k8s", "sso"]

  init(seed: UInt64) { random = SeededRandom(seed: seed) }

  mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &random) < percent }
  mutating func pick<T>(_ items: [T]) -> T { items.randomElement(using: &random)! }

  mutating func label() -> String { pick(Self.labels) }

  mutating func quantifier() -> String {
    switch Int.random(in: 0..<10, using: &random) {
    case 0: return "?"
    case 1: return "*"
    case 2: return "+"
    case 3: return "{\(Int.random(in: 1...3, using: &random))}"
    case 4:
      let low = Int.random(in: 0...3, using: &random)
      return "{\(low),\(Int.random(in: low...40, using: &random))}"
    case 5: return "{0,40}"
    case 6: return "*?"
    default: return ""
    }
  }

  mutating func atom() -> String {
    switch Int.random(in: 0..<12, using: &random) {
    case 0: return "[a-f0-9]"
    case 1: return "[^.]"
    case 2: return "\\d"
    case 3: return "\\w"
    case 4: return "."
    case 5: return "(\(label())|\(label())|\(label()))"
    case 6: return "(?:\(label())|[xk])"
    case 7: return "[a-z]"
    default: return label()
    }
  }

  /// A domain-like regex: anchored or not, alternations, classes, bounded repeats up to {0,40};
  /// a tenth with lookarounds or backreferences; a few that Hyperscan refuses even as a prefilter,
  /// and a few whose meaning depends on Unicode or on `$`.
  mutating func pattern() -> String {
    var parts: [String] = []
    if chance(30) { parts.append("^") }
    for index in 0..<Int.random(in: 1...3, using: &random) {
      if index > 0 { parts.append("\\.") }
      parts.append(atom() + quantifier())
    }
    let special = Int.random(in: 0..<100, using: &random)
    switch special {
    case 0..<3: parts.insert("(?=\(label()))", at: parts.first == "^" ? 1 : 0)
    case 3..<5: parts.append("(?!\\.\(label()))")
    case 5..<7: parts.insert("(?<=\\.)", at: parts.first == "^" ? 1 : 0)
    case 7..<9: parts = ["(\(label()))\\.\\1"] + parts
    case 9..<10: parts.append("(?>\(atom())+)x")
    case 10..<12: parts.insert(pick(["\\K", "\\R", "\\G", "(?C1)"]), at: parts.count / 2)
    case 12: parts = ["a(?R)?b"]
    case 13..<16: parts.append(pick(["\u{e9}", "\\x{212A}", "\\s", "\\b", "[[:alpha:]]", "\u{17F}"]))
    default: break
    }
    if chance(20) { parts.append(pick(["$", "\\z", "\\Z"])) }
    return parts.joined()
  }

  mutating func domain() -> String {
    var labels: [String] = []
    for _ in 0..<Int.random(in: 1...4, using: &random) {
      var text = label()
      if chance(30) { text += String(Int.random(in: 0...99, using: &random)) }
      if chance(15) { text = text.uppercased() }
      labels.append(text)
    }
    return labels.joined(separator: ".")
  }

  /// Domain-like strings, random bytes and UTF-8 text with characters that fold to ASCII.
  mutating func subject() -> [UInt8] {
    switch Int.random(in: 0..<10, using: &random) {
    case 0:
      return (0..<Int.random(in: 0...24, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
    case 1:
      return Array((domain() + pick(["\u{e9}", "\u{c9}", "\u{212A}", "\u{17F}", " ", "\u{1F600}"]) + domain()).utf8)
    case 2: return Array((domain() + "\n").utf8)
    case 3: return Array("".utf8)
    case 4: return Array((domain() + "." + domain() + "." + domain()).utf8)
    default: return Array(domain().utf8)
    }
  }
}
