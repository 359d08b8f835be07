import FlowsentryCore
import FlowsentryPipeline
import FlowsentryRules
import Foundation
import Testing

/// A feed replaced by an error page or an empty file reloads (its bytes changed), and the set that
/// loads says, among the warnings each reload logs, which list lost its indicators and how many.
@Suite struct FeedLossReloadTests {
  typealias Chain = FeedReloadSkipTests.Chain

  static func loaded(_ outcome: RuleReloader.FeedChangeOutcome) -> RuleSet? {
    guard case .reloaded(.loaded(let rules)) = outcome else { return nil }
    return rules
  }

  @Test func aFeedEmptiedByAnErrorPageOrAnEmptyFileIsWarnedAboutAtTheReload() async throws {
    let chain = try Chain()
    let reloader = chain.reloader()
    guard case .loaded(let first) = await reloader.reload(cause: .signal) else {
      Issue.record("the first load failed")
      return
    }
    #expect(first.warnings.isEmpty, "\(first.warnings)")

    try chain.replace("a.txt", "<html>\n<body>503 Service Unavailable</body>\n</html>\n")
    let afterErrorPage = try #require(Self.loaded(await reloader.reloadUnlessFeedsUnchanged()))
    let messages = afterErrorPage.warnings.map(\.message)
    #expect(
      messages.contains { $0.hasPrefix("list 'c2' holds 0 indicators after this reload, 1 before") }, "\(messages)")
    #expect(messages.contains { $0.contains("feed \(chain.feed) adds no indicator") }, "\(messages)")

    // Compared with the set that just loaded, not the first: a list already empty loses nothing more.
    try chain.replace("a.txt", "")
    let afterEmpty = try #require(Self.loaded(await reloader.reloadUnlessFeedsUnchanged()))
    #expect(!afterEmpty.warnings.contains { $0.message.contains("after this reload") }, "\(afterEmpty.warnings)")
    #expect(afterEmpty.warnings.contains { $0.message.contains("adds no indicator: it is empty") })

    try chain.replace("a.txt", "evil.example\nc2.example\n")
    _ = try #require(Self.loaded(await reloader.reloadUnlessFeedsUnchanged()))
    try chain.replace("a.txt", "")
    guard case .loaded(let bySignal) = await reloader.reload(cause: .signal) else {
      Issue.record("the reload after SIGHUP failed")
      return
    }
    #expect(
      bySignal.warnings.contains { $0.message.hasPrefix("list 'c2' holds 0 indicators after this reload, 2 before") },
      "\(bySignal.warnings)")
  }
}
