import ServiceLifecycle
import Synchronization
import UnixSignals

/// SIGTERM and SIGINT for the monitor's whole life, trapped as it starts. The service group traps
/// them only once it runs, after the rules' load, a cold pattern build (seconds to minutes with
/// thousands of regexes) and the attach: a stop before that took the signal's default action, and
/// the monitor died without its `stopped` record. Here the first signal asks for a stop whenever it
/// comes: the start gives up what it waits for, or the group shuts down gracefully. Later ones
/// change nothing, as they did while the group ran (it reads only the first).
final class StopSignals: Sendable {
  private struct State {
    var requested = false
    var group: ServiceGroup?
    var waiters: [@Sendable () -> Void] = []
  }

  private let state = Mutex(State())

  private init() {}

  /// Trapped before this returns: a signal from then on is this object's.
  static func trap() async -> StopSignals {
    let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
    let stops = StopSignals()
    Task {
      for await _ in signals { await stops.requestStop() }
    }
    return stops
  }

  var isRequested: Bool { state.withLock { $0.requested } }

  private func requestStop() async {
    let (group, waiters) = state.withLock { state -> (ServiceGroup?, [@Sendable () -> Void]) in
      guard !state.requested else { return (nil, []) }
      state.requested = true
      defer { state.waiters = [] }
      return (state.group, state.waiters)
    }
    for waiter in waiters { waiter() }
    await group?.triggerGracefulShutdown()
  }

  /// From now on a stop shuts `group` down gracefully; one asked for already does so as it runs.
  func stop(_ group: ServiceGroup) async {
    // Set and read under the lock that `requestStop` reads and sets: one of the two sees the other.
    let requested = state.withLock { state in
      state.group = group
      return state.requested
    }
    if requested { await group.triggerGracefulShutdown() }
  }

  /// `operation`'s result, or nil as soon as a stop is asked for (at once if it was already): the
  /// operation is then left to run on unawaited, and its result is dropped.
  func unlessStopped<T: Sendable>(_ operation: @escaping @Sendable () async -> T) async -> T? {
    await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
      let answer = Answer(continuation)
      let waiting = state.withLock { state in
        if !state.requested { state.waiters.append { answer.resume(nil) } }
        return !state.requested
      }
      guard waiting else { return answer.resume(nil) }
      Task { answer.resume(await operation()) }
    }
  }

  /// A continuation resumed by the first of the operation and a stop.
  private final class Answer<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T?, Never>?>
    init(_ continuation: CheckedContinuation<T?, Never>) { self.continuation = Mutex(continuation) }
    func resume(_ value: T?) { continuation.withLock { $0.take() }?.resume(returning: value) }
  }
}
