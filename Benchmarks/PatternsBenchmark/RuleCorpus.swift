import FlowsentryCore

/// The regex rules corpus of issue #18 (seeded, the same every run): domain-like patterns with
/// alternations, classes and bounded repeats up to `{0,40}`, a third anchored with `^`, a tenth
/// with a lookahead, a lookbehind or a back reference. Traffic is mostly benign: names made of words
/// no pattern names, and, for the events built to match, a name made for one pattern.
struct RuleCorpus {
  var random = SeededRandom(seed: 0x0F10_5E47)
  /// Words the patterns name, and words the traffic names: drawn apart, so that an event matches a
  /// pattern only when built to (plus the rare chance overlap a real corpus has too).
  let words: [String]
  let trafficWords: [String]

  init() {
    var random = SeededRandom(seed: 18)
    let letters = Array("abcdefghijklmnopqrstuvwxyz")
    func draw(_ count: Int) -> [String] {
      (0..<count).map { _ in
        String((0..<Int.random(in: 5...9, using: &random)).map { _ in letters.randomElement(using: &random)! })
      }
    }
    words = draw(5_000)
    let patternWords = Set(words)
    trafficWords = draw(5_000).filter { !patternWords.contains($0) }
  }

  mutating func word() -> String { words.randomElement(using: &random)! }

  /// A pattern, and a subject it matches (the subjects that match are made from these).
  mutating func pattern() -> (pattern: String, matching: String) {
    let (first, second, third) = (word(), word(), word())
    var pattern: String
    var matching: String
    switch Int.random(in: 0..<4, using: &random) {
    case 0:
      pattern = "(?:\(first)|\(second)|\(third))\\.[a-z0-9-]{0,40}\\.(?:com|net|org)"
      matching = "\(second).cdn-7.net"
    case 1:
      pattern = "[a-z0-9]{\(Int.random(in: 1...8, using: &random)),40}\\.\(first)\\.[a-z]{2,6}"
      matching = "edge12345678.\(first).io"
    case 2:
      pattern = "\(first)[0-9]{1,6}\\.(?:\(second)|\(third))"
      matching = "\(first)4242.\(third)"
    default:
      pattern = "(?:[a-z]+\\.)?\(first)-?\\d{0,4}\\.(?:ru|su|top|xyz)"
      matching = "mx.\(first)-77.top"
    }
    // A tenth (3 in 30) with a lookaround or a back reference.
    switch Int.random(in: 0..<30, using: &random) {
    case 0:
      pattern = "(?=[a-z])" + pattern
    case 1:
      pattern = "(?<!www\\.)" + pattern
    case 2:
      pattern = "(\(second))\\.\\1\\." + pattern
      matching = "\(second).\(second)." + matching
    default: break
    }
    if Int.random(in: 0..<3, using: &random) == 0 { pattern = "^" + pattern }
    return (pattern, matching)
  }

  /// A benign destination name: one to three labels of traffic words and a common top-level domain.
  mutating func name() -> String {
    let labels = (0..<Int.random(in: 1...3, using: &random)).map { _ in trafficWords.randomElement(using: &random)! }
    return labels.joined(separator: ".") + "." + ["com", "net", "org", "ru", "top", "io"].randomElement(using: &random)!
  }
}
