import Foundation

/// What /proc/PID/stat says of a process: enough to tell a run from a later process given its pid
/// (the start time), and to say why a run holds something (stopped, say).
enum ProcessLookup: Equatable {
  /// No such process, or a zombie: it will neither use nor remove anything again.
  case gone
  /// `startTime` is field 22 of stat, clock ticks after boot; `state` field 3 (`T` stopped).
  case alive(command: String, state: Character, startTime: UInt64)
  /// /proc would not say: callers take the process to be alive, so nothing of it is removed.
  case unknown(String)

  /// A stat line: `pid (command) state ppid …`. The command may hold spaces and parentheses, so
  /// the fields are counted from the last `)`.
  init(stat: String) {
    guard let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")"), open < close else {
      self = .unknown("no command in stat")
      return
    }
    let command = String(stat[stat.index(after: open)..<close])
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // Field 3 (the state) is fields[0], field 22 (the start time) fields[19].
    guard fields.count >= 20, fields[0].count == 1, let state = fields[0].first, let startTime = UInt64(fields[19])
    else {
      self = .unknown("stat not in the expected form")
      return
    }
    self = state == "Z" || state == "X" ? .gone : .alive(command: command, state: state, startTime: startTime)
  }

  /// Reads /proc/`pid`/stat. A stat line is a few hundred bytes (the command is at most 64), so the
  /// first 1,024 hold every field used.
  static func of(_ pid: Int32) -> ProcessLookup {
    let descriptor = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
      let error = errno
      return error == ENOENT || error == ESRCH ? .gone : .unknown("open: \(String(cString: strerror(error)))")
    }
    let lookup = readStat(descriptor)
    // Not expected of a file only read; should it fail, .unknown (taken as alive) says so.
    guard close(descriptor) == 0 else { return .unknown("close: \(String(cString: strerror(errno)))") }
    return lookup
  }

  private static func readStat(_ descriptor: Int32) -> ProcessLookup {
    var bytes = [UInt8](repeating: 0, count: 1024)
    var filled = 0
    while filled < bytes.count {
      let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + filled, $0.count - filled) }
      if count > 0 {
        filled += count
      } else if count == 0 {
        break
      } else if errno != EINTR {
        // The process ended between open and read.
        let error = errno
        return error == ESRCH ? .gone : .unknown("read: \(String(cString: strerror(error)))")
      }
    }
    return ProcessLookup(stat: String(decoding: bytes[..<filled], as: UTF8.self))
  }

  /// How a message names the process.
  var summary: String {
    switch self {
    case .gone: "no such process now"
    case .alive(let command, let state, _):
      "\(command), \(state == "T" || state == "t" ? "stopped" : "state \(state)")"
    case .unknown(let reason): "/proc does not say: \(reason)"
    }
  }
}
