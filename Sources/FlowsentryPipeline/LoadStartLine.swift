import Synchronization

/// One request's load start and its outcome, paired: the start is said (on the loader thread) only
/// while the outcome has not been handled, and the outcome, once handled, knows whether it was.
/// A flag shared by all requests could cross them: a caller cancelled at shutdown is answered
/// `.busy` at once, and its loader thread, already past its last check, could then say its start
/// after that answer and mark the next request's outcome as following a start it never had.
public final class LoadStartLine: Sendable {
  private enum State { case waiting, said, answered }
  private let state = Mutex(State.waiting)

  public init() {}

  /// Runs `say` unless the outcome was handled already. The outcome waits for `say` to return, so
  /// that its line never comes before the start's: the lock is held across `say` (a log line) on
  /// purpose, and `answer` waits at most that long.
  public func sayStart(_ say: () -> Void) {
    state.withLock { state in
      guard state == .waiting else { return }
      say()
      state = .said
    }
  }

  /// As the outcome is handled: whether the start was said. A start after this is not.
  public func answer() -> Bool {
    state.withLock { state in
      defer { state = .answered }
      return state == .said
    }
  }
}
