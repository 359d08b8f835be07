#if canImport(Glibc)
  import Glibc
#endif

/// How log records are written to stderr.
public enum LogFormat: String, Sendable, CaseIterable {
  /// Text on a terminal, JSON lines otherwise (a journal, a file, a log shipper).
  case auto
  /// `flowsentry: [level: ]message key=value …`, for people.
  case text
  /// One JSON object per line: `time`, `level`, `logger`, `message`, then the metadata.
  case json

  /// `auto` decided by whether stderr is a terminal.
  public var resolved: LogFormat {
    guard self == .auto else { return self }
    return isatty(2) == 1 ? .text : .json
  }
}

/// The lowest level logged; the names and order are swift-log's, which Logging maps them to.
public enum LogLevel: String, Sendable, CaseIterable {
  case trace, debug, info, notice, warning, error, critical
}
