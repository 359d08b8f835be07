/// Case folding of ASCII letters only, over UTF-8 bytes: `A`-`Z` compare equal to `a`-`z`, and
/// every other byte (all of UTF-8 beyond ASCII included) only to itself. No Unicode folding and no
/// normalization: `É` and `é` differ. The one definition the rules' `i…` operators, literal sets
/// and intel keys share.
public enum ASCIICaseFolding {
  /// `byte` with an ASCII capital letter turned into its small letter.
  @inlinable @inline(__always)
  public static func lowercased(_ byte: UInt8) -> UInt8 { byte &- 65 < 26 ? byte | 0x20 : byte }

  /// Eight bytes at once (a hash reading a name a word at a time): each ASCII capital lowered,
  /// every other byte as is.
  @inlinable @inline(__always)
  public static func lowercased(word: UInt64) -> UInt64 {
    let ones: UInt64 = 0x0101_0101_0101_0101
    let heptets = word & (0x7f &* ones)
    let atLeastA = heptets &+ (0x3f &* ones)  // high bit set where the byte is >= 'A'
    let aboveZ = heptets &+ (0x25 &* ones)  // high bit set where the byte is > 'Z'
    let upper = (atLeastA ^ aboveZ) & ~word & (0x80 &* ones)
    return word | (upper >> 2)
  }

  /// The bytes of `text` with ASCII capitals lowered.
  @inlinable
  public static func lowercased(_ text: String) -> [UInt8] { text.utf8.map(lowercased) }

  /// Whether `bytes` from `start` holds `needle` (given lowered) under ASCII folding; the caller
  /// keeps `start + needle.count` within `bytes`.
  @inlinable
  public static func equal(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, lowered needle: [UInt8]) -> Bool {
    for index in needle.indices where lowercased(bytes[start &+ index]) != needle[index] { return false }
    return true
  }

  /// Whether `bytes` contains, starts with or ends with `needle` (given lowered) under ASCII folding.
  @inlinable
  public static func contains(_ bytes: UnsafeBufferPointer<UInt8>, lowered needle: [UInt8]) -> Bool {
    guard needle.count <= bytes.count else { return false }
    for start in 0...(bytes.count - needle.count) where equal(bytes, at: start, lowered: needle) { return true }
    return false
  }

  @inlinable
  public static func hasPrefix(_ bytes: UnsafeBufferPointer<UInt8>, lowered needle: [UInt8]) -> Bool {
    needle.count <= bytes.count && equal(bytes, at: 0, lowered: needle)
  }

  @inlinable
  public static func hasSuffix(_ bytes: UnsafeBufferPointer<UInt8>, lowered needle: [UInt8]) -> Bool {
    needle.count <= bytes.count && equal(bytes, at: bytes.count - needle.count, lowered: needle)
  }
}
