import FlowsentryPipeline
import FlowsentryRules
import Synchronization
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A reload is background work: its loader thread runs at a lower priority than the pipeline, so
/// that a load of millions of indicators does not stretch the pipeline's batches on a busy host.
@Suite struct RuleReloaderPriorityTests {
  @Test func theLoaderThreadRunsNiced() async throws {
    #if os(Linux)
      let seen = Mutex<(loader: Int32, caller: Int32)?>(nil)
      let callerNice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
      let reloader = RuleReloader(chain: .init(builtIn: false, paths: [])) { _ throws(RuleLoadError) in
        let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        seen.withLock { $0 = (nice, callerNice) }
        return .empty
      }
      guard case .loaded = await reloader.reload() else {
        Issue.record("the load did not complete")
        return
      }
      let observed = try #require(seen.withLock { $0 })
      #expect(reloader.loaderPriorityFailures == 0)
      #expect(observed.loader == max(observed.caller, RuleReloader.loaderNice))
      // The caller's own thread keeps its priority: only the loader is lowered.
      #expect(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) == callerNice)
    #endif
  }
}
