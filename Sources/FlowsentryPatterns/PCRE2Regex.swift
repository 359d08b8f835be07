/// A PCRE2 pattern compiled once (JIT when the platform has it) and matched many times, within
/// explicit limits: a pattern that backtracks catastrophically on a hostile subject (say `(a+)+$`
/// on a long name) stops at the match limit instead of stalling the sensor. A limit hit is not a
/// silent "no match": it is counted here, and reported per rule.
/// Match data is per instance: the rule engine runs on one task, so no locking is needed.
public final class PCRE2Regex: @unchecked Sendable {
  public static let matchLimit = PCRE2Program.matchLimit
  public static let depthLimit = PCRE2Program.depthLimit
  public static let jitStackBytes = PCRE2Program.jitStackBytes
  public typealias CompileError = PCRE2Program.CompileError

  public let program: PCRE2Program
  private let state = PCRE2MatchState()
  public var pattern: String { program.pattern }
  public var isJITCompiled: Bool { program.isJITCompiled }
  /// Subjects on which a limit stopped the match (each counted as no match).
  public private(set) var limitHits: UInt64 = 0

  public init(_ pattern: String, caseInsensitive: Bool = false) throws(CompileError) {
    program = try PCRE2Program(pattern, caseInsensitive: caseInsensitive)
  }

  public func matches(_ subject: String) -> Bool {
    var subject = subject
    let outcome = subject.withUTF8 { state.match(program, UnsafeRawBufferPointer($0)) }
    if outcome == .limitHit { limitHits += 1 }
    return outcome == .match
  }
}
