import CFlowsentryPCRE2

/// A compiled PCRE2 pattern shared by every thread: PCRE2's compiled code is read-only during a
/// match, so one program serves any number of ``PCRE2MatchState``s, one per thread.
public final class PCRE2Program: @unchecked Sendable {
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
  public let caseInsensitive: Bool
  let code: OpaquePointer
  public let isJITCompiled: Bool

  /// Compiles in UTF mode (and caseless when asked), the options every rule regex has; `jit: false`
  /// skips the JIT for a program kept only to validate the pattern.
  public init(_ pattern: String, caseInsensitive: Bool = false, jit: Bool = true) throws(CompileError) {
    self.pattern = pattern
    self.caseInsensitive = caseInsensitive
    var errorCode: Int32 = 0
    var errorOffset = 0
    let options = UInt32(PCRE2_UTF) | (caseInsensitive ? UInt32(PCRE2_CASELESS) : 0)
    var text = pattern
    let compiled = text.withUTF8 { bytes in
      pcre2_compile_8(
        bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!, bytes.count, options, &errorCode, &errorOffset, nil)
    }
    guard let compiled else {
      var buffer = [UInt8](repeating: 0, count: 256)
      let length = pcre2_get_error_message_8(errorCode, &buffer, buffer.count)
      throw CompileError(
        offset: errorOffset, message: String(decoding: buffer.prefix(Int(max(0, length))), as: UTF8.self))
    }
    code = compiled
    isJITCompiled = jit && pcre2_jit_compile_8(compiled, UInt32(PCRE2_JIT_COMPLETE)) == 0
  }

  deinit { pcre2_code_free_8(code) }
}

/// What one thread needs to run any ``PCRE2Program``: match data, the limits, a JIT stack.
/// Not thread-safe: each thread (or each caller) has its own.
public final class PCRE2MatchState {
  public enum Outcome: Equatable {
    case match, noMatch
    /// A limit stopped the match (counted by the caller as no match).
    case limitHit
  }

  private let matchData: OpaquePointer
  private let matchContext: OpaquePointer?
  private let jitStack: OpaquePointer?

  public init() {
    // One pair of offsets suffices: a match that has more groups than room still returns 0 (a match).
    matchData = pcre2_match_data_create_8(1, nil)
    matchContext = pcre2_match_context_create_8(nil)
    if let matchContext {
      pcre2_set_match_limit_8(matchContext, PCRE2Program.matchLimit)
      pcre2_set_depth_limit_8(matchContext, PCRE2Program.depthLimit)
    }
    jitStack = pcre2_jit_stack_create_8(32 * 1024, PCRE2Program.jitStackBytes, nil)
    if let matchContext, let jitStack { pcre2_jit_stack_assign_8(matchContext, nil, UnsafeMutableRawPointer(jitStack)) }
  }

  /// Matches `subject`, whose bytes must be valid UTF-8: the interpreter refuses an invalid subject
  /// (no match), but the JIT does not check, so callers validate first (Swift strings always are).
  public func match(_ program: PCRE2Program, _ subject: UnsafeRawBufferPointer) -> Outcome {
    let base = subject.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 1)!
    let result =
      program.isJITCompiled
      ? pcre2_jit_match_8(program.code, base, subject.count, 0, 0, matchData, matchContext)
      : pcre2_match_8(program.code, base, subject.count, 0, 0, matchData, matchContext)
    if result >= 0 { return .match }
    return Self.limitErrors.contains(result) ? .limitHit : .noMatch
  }

  private static let limitErrors: Set<Int32> = [
    PCRE2_ERROR_MATCHLIMIT, PCRE2_ERROR_DEPTHLIMIT, PCRE2_ERROR_HEAPLIMIT, PCRE2_ERROR_JIT_STACKLIMIT,
  ]

  deinit {
    if let jitStack { pcre2_jit_stack_free_8(jitStack) }
    if let matchContext { pcre2_match_context_free_8(matchContext) }
    pcre2_match_data_free_8(matchData)
  }
}
