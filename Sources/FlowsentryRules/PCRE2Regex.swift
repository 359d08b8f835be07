import CFlowsentryPCRE2

/// A PCRE2 pattern compiled once (JIT when the platform has it) and matched many times, within
/// explicit limits: a pattern that backtracks catastrophically on a hostile subject (say `(a+)+$`
/// on a long name) stops at the match limit instead of stalling the sensor. A limit hit is not a
/// silent "no match": it is counted here, and reported per rule.
/// Match data is per instance: the rule engine runs on one task, so no locking is needed.
public final class PCRE2Regex: @unchecked Sendable {
  /// Backtracking steps per match at most (PCRE2's own default is 10,000,000).
  public static let matchLimit: UInt32 = 1_000_000
  /// Nested backtracking frames at most (the interpreter; JIT is bounded by its stack).
  public static let depthLimit: UInt32 = 10_000
  /// The JIT's stack, grown from 32 KiB up to this many bytes.
  public static let jitStackBytes = 1 << 20

  public struct CompileError: Error, CustomStringConvertible {
    /// Byte offset in the pattern where PCRE2 stopped.
    public var offset: Int
    public var message: String
    public var description: String { "\(message) (at pattern offset \(offset))" }
  }

  public let pattern: String
  private let code: OpaquePointer
  private let matchData: OpaquePointer
  private let matchContext: OpaquePointer?
  private let jitStack: OpaquePointer?
  public let isJITCompiled: Bool
  /// Subjects on which a limit stopped the match (each counted as no match).
  public private(set) var limitHits: UInt64 = 0

  public init(_ pattern: String, caseInsensitive: Bool = false) throws(CompileError) {
    self.pattern = pattern
    var errorCode: Int32 = 0
    var errorOffset = 0
    let options = UInt32(PCRE2_UTF) | (caseInsensitive ? UInt32(PCRE2_CASELESS) : 0)
    let compiled = pattern.withCString { text in
      text.withMemoryRebound(to: UInt8.self, capacity: pattern.utf8.count) {
        pcre2_compile_8($0, pattern.utf8.count, options, &errorCode, &errorOffset, nil)
      }
    }
    guard let compiled else {
      var buffer = [UInt8](repeating: 0, count: 256)
      let length = pcre2_get_error_message_8(errorCode, &buffer, buffer.count)
      throw CompileError(
        offset: errorOffset, message: String(decoding: buffer.prefix(Int(max(0, length))), as: UTF8.self))
    }
    code = compiled
    isJITCompiled = pcre2_jit_compile_8(compiled, UInt32(PCRE2_JIT_COMPLETE)) == 0
    matchData = pcre2_match_data_create_from_pattern_8(compiled, nil)
    matchContext = pcre2_match_context_create_8(nil)
    if let matchContext {
      pcre2_set_match_limit_8(matchContext, Self.matchLimit)
      pcre2_set_depth_limit_8(matchContext, Self.depthLimit)
    }
    jitStack = isJITCompiled ? pcre2_jit_stack_create_8(32 * 1024, Self.jitStackBytes, nil) : nil
    if let matchContext, let jitStack { pcre2_jit_stack_assign_8(matchContext, nil, UnsafeMutableRawPointer(jitStack)) }
  }

  public func matches(_ subject: String) -> Bool {
    var subject = subject
    return subject.withUTF8 { bytes in
      let base = bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!
      let result =
        isJITCompiled
        ? pcre2_jit_match_8(code, base, bytes.count, 0, 0, matchData, matchContext)
        : pcre2_match_8(code, base, bytes.count, 0, 0, matchData, matchContext)
      if result >= 0 { return true }
      if Self.limitErrors.contains(result) { limitHits += 1 }
      return false
    }
  }

  private static let limitErrors: Set<Int32> = [
    PCRE2_ERROR_MATCHLIMIT, PCRE2_ERROR_DEPTHLIMIT, PCRE2_ERROR_HEAPLIMIT, PCRE2_ERROR_JIT_STACKLIMIT,
  ]

  deinit {
    if let jitStack { pcre2_jit_stack_free_8(jitStack) }
    if let matchContext { pcre2_match_context_free_8(matchContext) }
    pcre2_match_data_free_8(matchData)
    pcre2_code_free_8(code)
  }
}
