import CFlowsentryPCRE2

/// A PCRE2 pattern compiled once (JIT when the platform has it) and matched many times.
/// Match data is per instance: the rule engine runs on one task, so no locking is needed.
public final class PCRE2Regex: @unchecked Sendable {
  public struct CompileError: Error, CustomStringConvertible {
    /// Byte offset in the pattern where PCRE2 stopped.
    public var offset: Int
    public var message: String
    public var description: String { "\(message) (at pattern offset \(offset))" }
  }

  public let pattern: String
  private let code: OpaquePointer
  private let matchData: OpaquePointer
  public let isJITCompiled: Bool

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
  }

  public func matches(_ subject: String) -> Bool {
    var subject = subject
    return subject.withUTF8 { bytes in
      let base = bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!
      let result =
        isJITCompiled
        ? pcre2_jit_match_8(code, base, bytes.count, 0, 0, matchData, nil)
        : pcre2_match_8(code, base, bytes.count, 0, 0, matchData, nil)
      return result >= 0
    }
  }

  deinit {
    pcre2_match_data_free_8(matchData)
    pcre2_code_free_8(code)
  }
}
