/// The benchmark's generated corpus (seeded, so every run measures the same patterns): domain-like
/// regexes with alternations, classes and bounded repeats up to `{0,40}`, anchored and not, half
/// caseless, a tenth with lookarounds or backreferences; subjects are domain names, a few percent
/// of them built to match some pattern.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var value = state
    value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
    value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
    return value ^ (value >> 31)
  }
}

struct Corpus {
  var random: SplitMix64
  let words: [String]

  init(seed: UInt64) {
    var random = SplitMix64(state: seed)
    var words: [String] = []
    let letters = Array("abcdefghijklmnopqrstuvwxyz")
    for _ in 0..<4_000 {
      let length = Int.random(in: 4...9, using: &random)
      words.append(String((0..<length).map { _ in letters.randomElement(using: &random)! }))
    }
    self.random = random
    self.words = words
  }

  mutating func word() -> String { words.randomElement(using: &random)! }

  mutating func pattern() -> (String, Bool) {
    let anchor = Int.random(in: 0..<3, using: &random) == 0 ? "^" : ""
    var text = ""
    switch Int.random(in: 0..<4, using: &random) {
    case 0: text += "(?:\(word())|\(word())|\(word()))\\.[a-z0-9-]{0,40}\\.(?:com|net|org)"
    case 1: text += "[a-z0-9]{\(Int.random(in: 0...8, using: &random)),40}\\.\(word())\\.[a-z]{2,6}"
    case 2: text += "\(word())[0-9]{1,6}\\.(?:\(word())|\(word()))"
    default: text += "(?:[a-z]+\\.)?\(word())-?\\d{0,4}\\.(?:ru|su|top|xyz)"
    }
    switch Int.random(in: 0..<20, using: &random) {
    case 0: text = "(?=[a-z])" + text
    case 1: text += "(?!\\.cdn)"
    case 2: text = "(\(word()))\\.\\1\\." + text
    case 3: text = "(?<!www\\.)" + text
    default: break
    }
    if Int.random(in: 0..<5, using: &random) == 0 { text += "$" }
    return (anchor + text, Bool.random(using: &random))
  }

  mutating func subject() -> String {
    let tld = ["com", "net", "org", "ru", "top", "xyz", "io"].randomElement(using: &random)!
    var labels: [String] = []
    for _ in 0..<Int.random(in: 1...3, using: &random) { labels.append(word()) }
    if Int.random(in: 0..<4, using: &random) == 0 {
      labels[labels.count - 1] += String(Int.random(in: 0...9999, using: &random))
    }
    return labels.joined(separator: ".") + "." + tld
  }
}
