import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The one way tests start a process. posix_spawn resets the signal mask and dispositions (the test
/// runner's threads block signals, and a child would inherit that and ignore SIGTERM); a thread of
/// its own reaps it and one per captured stream reads it, so no wait can deadlock on a full pipe
/// (Foundation's `waitUntilExit` can); every wait has a deadline, after which the child and all it
/// started are killed. The child stays in the runner's process group, so that whatever kills the
/// runner (a CI timeout) kills it too.
public final class ChildProcess: Sendable {
  public enum Stream: Sendable {
    /// /dev/null.
    case discard
    /// Read by a thread of its own into memory, up to `outputLimit` bytes (the rest counted, not kept).
    case capture
    /// The read end is the caller's (`stdoutPipe`), for a caller that reads a line as the child
    /// prints it. The reaper does not need it drained, but a child blocks on it once it is full.
    case pipe
  }

  public let pid: pid_t
  /// The command line, for messages.
  public let commandLine: String
  /// The read end of a `.pipe` stdout, closed by deinit (not by the caller).
  public let stdoutPipe: Int32?
  let state: ChildState

  /// Starts `executable` (a path, or a name looked up in PATH). stdin is /dev/null.
  public init(
    _ executable: String, _ arguments: [String], stdout: Stream = .capture, stderr: Stream = .capture,
    outputLimit: Int = 16 << 20
  ) throws {
    commandLine = ([executable] + arguments).joined(separator: " ")
    var actions = posix_spawn_file_actions_t()
    try check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init")
    defer { posix_spawn_file_actions_destroy(&actions) }
    try check(posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0), "addopen stdin")
    var attributes = posix_spawnattr_t()
    try check(posix_spawnattr_init(&attributes), "posix_spawnattr_init")
    defer { posix_spawnattr_destroy(&attributes) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    var allSignals = sigset_t()
    sigfillset(&allSignals)
    try check(posix_spawnattr_setsigmask(&attributes, &noSignals), "setsigmask")
    try check(posix_spawnattr_setsigdefault(&attributes, &allSignals), "setsigdefault")
    let flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
    try check(posix_spawnattr_setflags(&attributes, Int16(flags)), "setflags")

    var readEnds: [Int32?] = [nil, nil]
    var writeEnds: [Int32] = []
    defer { writeEnds.forEach { close($0) } }
    // Glibc's module has no pipe2: between pipe and fcntl another spawn would inherit the ends (and
    // hold our stream open), so this runner makes its pipes and children one at a time.
    spawning.lock()
    do {
      for (index, stream) in [stdout, stderr].enumerated() {
        let target = Int32(index + 1)
        if case .discard = stream {
          try check(posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0), "addopen")
          continue
        }
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw ChildProcessError.system("pipe", errno) }
        for end in ends where fcntl(end, F_SETFD, FD_CLOEXEC) != 0 {
          throw ChildProcessError.system("fcntl FD_CLOEXEC", errno)
        }
        readEnds[index] = ends[0]
        writeEnds.append(ends[1])
        try check(posix_spawn_file_actions_adddup2(&actions, ends[1], target), "adddup2")
      }
    } catch {
      spawning.unlock()
      readEnds.compactMap { $0 }.forEach { close($0) }
      throw error
    }

    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var child: pid_t = 0
    let status =
      executable.contains("/")
      ? posix_spawn(&child, executable, &actions, &attributes, argv, environ)
      : posix_spawnp(&child, executable, &actions, &attributes, argv, environ)
    spawning.unlock()
    guard status == 0 else {
      readEnds.compactMap { $0 }.forEach { close($0) }
      throw ChildProcessError.system("spawn \(executable)", status)
    }
    pid = child
    state = ChildState(limit: outputLimit)
    stdoutPipe = if case .pipe = stdout { readEnds[0] } else { nil }
    let state = self.state
    for (index, stream) in [stdout, stderr].enumerated() {
      if case .capture = stream, let descriptor = readEnds[index] {
        state.startReading(descriptor, stdout: index == 0)
      }
    }
    state.startReaping(child)
  }

  /// Kills a child still running: nothing a test started outlives it.
  deinit {
    kill()
    if let stdoutPipe { close(stdoutPipe) }
  }

  /// nil while the child runs.
  public var termination: Termination? { state.withLock { $0.termination } }
  public var isRunning: Bool { termination == nil }
  /// What the child printed so far (`.capture` only).
  public var stdout: String { state.withLock { String(decoding: $0.stdout.bytes, as: UTF8.self) } }
  public var stderr: String { state.withLock { String(decoding: $0.stderr.bytes, as: UTF8.self) } }
  /// Bytes past `outputLimit`, read and not kept.
  public var droppedOutput: (stdout: Int, stderr: Int) { state.withLock { ($0.stdout.dropped, $0.stderr.dropped) } }

  /// Sends `number` to the child alone.
  public func signal(_ number: Int32) {
    // Unreaped, the child exists (a zombie at worst), so only a bad signal number can fail.
    state.withLock { if $0.termination == nil { precondition(Glibc.kill(pid, number) == 0, "kill \(number)") } }
  }

  /// SIGKILL to the child and every process it started. Once the child is reaped its id may be
  /// another's and its children are init's, so then nothing is sent.
  public func kill() {
    state.withLock { streams in
      guard streams.termination == nil else { return }
      // A descendant that ended since /proc listed it fails with ESRCH, which is what was wanted.
      for process in [pid] + Self.descendants(of: pid) { _ = Glibc.kill(process, SIGKILL) }
    }
  }

  /// The processes `pid` started, and theirs, from /proc.
  static func descendants(of pid: pid_t) -> [pid_t] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    let children = tasks.flatMap { task in
      ((try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? "")
        .split(separator: " ").compactMap { pid_t($0) }
    }
    return children + children.flatMap { descendants(of: $0) }
  }

  /// Blocks this thread until the child ended and its captured streams reached their end. After
  /// `timeout` it is killed (with what it started) and `ChildProcessError.timedOut` thrown.
  @discardableResult
  public func wait(timeout: Duration = .seconds(60)) throws -> Termination {
    if let termination = state.waitForEnd(until: Date(timeIntervalSinceNow: timeout.timeInterval)) {
      return termination
    }
    kill()
    _ = state.waitForEnd(until: Date(timeIntervalSinceNow: 5))
    throw ChildProcessError.timedOut(commandLine, timeout, stderr: stderr)
  }

  /// `wait` for async tests: polls, so that no thread of the cooperative pool blocks.
  @discardableResult
  public func exit(timeout: Duration = .seconds(15)) async throws -> Termination {
    let deadline = ContinuousClock.now + timeout
    while true {
      if let termination = state.withLock({ $0.ended ? $0.termination : nil }) { return termination }
      guard ContinuousClock.now < deadline else { break }
      try await Task.sleep(for: .milliseconds(20))
    }
    kill()
    _ = state.waitForEnd(until: Date(timeIntervalSinceNow: 5))
    throw ChildProcessError.timedOut(commandLine, timeout, stderr: stderr)
  }

  /// Waits until `condition` holds for the captured stdout (or stderr), the child ended, or `timeout`
  /// passed; returns the text either way, for the caller to check.
  public func waitForOutput(
    _ stream: KeyPath<ChildState.Streams, ChildState.Captured> = \.stdout, timeout: Duration = .seconds(10),
    until condition: (String) -> Bool
  ) async throws -> String {
    let deadline = ContinuousClock.now + timeout
    while true {
      let (text, ended) = state.withLock { (String(decoding: $0[keyPath: stream].bytes, as: UTF8.self), $0.ended) }
      if condition(text) || ended || ContinuousClock.now >= deadline { return text }
      try await Task.sleep(for: .milliseconds(20))
    }
  }

  /// Runs a command to its end and returns what it printed; throws unless it exited with 0.
  @discardableResult
  public static func output(of executable: String, _ arguments: [String], timeout: Duration = .seconds(60)) throws
    -> String
  {
    let result = try run(executable, arguments, timeout: timeout)
    guard result.termination == .exited(0) else {
      throw ChildProcessError.failed(result.commandLine, result.termination, stderr: result.stderr)
    }
    return result.stdout
  }

  /// Runs a command to its end, whatever its status.
  public static func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(60)) throws
    -> Completed
  {
    let child = try ChildProcess(executable, arguments)
    let termination = try child.wait(timeout: timeout)
    return Completed(
      commandLine: child.commandLine, termination: termination, stdout: child.stdout, stderr: child.stderr)
  }

  public struct Completed: Sendable {
    public var commandLine: String
    public var termination: Termination
    public var stdout: String
    public var stderr: String
    /// The status as a shell reports it.
    public var status: Int32 { termination.status }
  }
}

/// How a child ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
  case exited(Int32)
  case signaled(Int32)

  init(waitStatus: Int32) {
    let signal = waitStatus & 0x7f
    self = signal == 0 ? .exited((waitStatus >> 8) & 0xff) : .signaled(signal)
  }

  /// As a shell reports it: the exit code, or 128 plus the signal's number.
  public var status: Int32 {
    switch self {
    case .exited(let code): code
    case .signaled(let signal): 128 + signal
    }
  }

  public var description: String {
    switch self {
    case .exited(let code): "exit status \(code)"
    case .signaled(let signal): "signal \(signal) (\(String(cString: strsignal(signal))))"
    }
  }
}

public enum ChildProcessError: Error, CustomStringConvertible {
  case system(String, Int32)
  case timedOut(String, Duration, stderr: String)
  case failed(String, Termination, stderr: String)

  public var description: String {
    switch self {
    case .system(let what, let code): "\(what): \(String(cString: strerror(code)))"
    case .timedOut(let command, let timeout, let stderr):
      "\(command) did not end within \(timeout); it was killed with what it started. stderr: \(stderr)"
    case .failed(let command, let termination, let stderr): "\(command) ended with \(termination). stderr: \(stderr)"
    }
  }
}

private let spawning = NSLock()

private func check(_ status: Int32, _ what: String) throws {
  guard status == 0 else { throw ChildProcessError.system(what, status) }
}

extension Duration {
  /// In seconds, for Foundation's dates and for poll(2).
  public var timeInterval: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
