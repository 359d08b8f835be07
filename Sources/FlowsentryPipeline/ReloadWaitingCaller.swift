import Synchronization

/// The caller of one attempt, answered once: by the loader thread, by the timer of the phase the
/// thread is in (a feed change's comparison, then the load), each phase given `timeLimit`, or with
/// `.busy` when its task is cancelled.
final class WaitingCaller: Sendable {
  private struct State {
    var continuation: CheckedContinuation<RuleReloader.Attempt, Never>?
    var cancelled = false
    var phase = 0
    var timer: Task<Void, Never>?
  }
  private let state = Mutex(State())
  private let timeLimit: Duration

  init(timeLimit: Duration) { self.timeLimit = timeLimit }

  /// Whether the caller's task was cancelled (and so answered `.busy`).
  var wasCancelled: Bool { state.withLock { $0.cancelled } }

  /// Keeps `continuation` to answer; false when the task was cancelled first (then nothing starts).
  func attach(_ continuation: CheckedContinuation<RuleReloader.Attempt, Never>) -> Bool {
    state.withLock { state in
      guard !state.cancelled else { return false }
      state.continuation = continuation
      return true
    }
  }

  /// Answers the caller `.busy` now, unless it has been answered; the phase's timer is stopped.
  func cancel() {
    let continuation = state.withLock { state in
      state.cancelled = true
      state.timer?.cancel()
      state.timer = nil
      return state.continuation.take()
    }
    continuation?.resume(returning: .finished(.busy))
  }

  /// Starts the next phase, with a timer of its own in place of the last one's: if it runs out
  /// first, `onTimeout` runs and the caller is answered `answer`. False when the caller has been
  /// answered already (the phase before ran out, or the task was cancelled).
  @discardableResult
  func startPhase(onTimeout: @escaping @Sendable () -> Void = {}, answer: RuleReloader.Attempt) -> Bool {
    state.withLock { state in
      guard state.continuation != nil else { return false }
      state.timer?.cancel()
      state.phase += 1
      let phase = state.phase
      state.timer = Task { [self, timeLimit] in
        try? await Task.sleep(for: timeLimit)
        guard !Task.isCancelled, let continuation = take(inPhase: phase) else { return }
        onTimeout()
        continuation.resume(returning: answer)
      }
      return true
    }
  }

  /// The continuation, to the loader, unless a timer or a cancel took it first; the timer is stopped.
  func take() -> CheckedContinuation<RuleReloader.Attempt, Never>? {
    state.withLock { state in
      state.timer?.cancel()
      state.timer = nil
      return state.continuation.take()
    }
  }

  /// The continuation, to the timer of `phase` only while that phase runs.
  private func take(inPhase phase: Int) -> CheckedContinuation<RuleReloader.Attempt, Never>? {
    state.withLock { $0.phase == phase ? $0.continuation.take() : nil }
  }
}
