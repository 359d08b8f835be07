import FlowsentryCore
import Testing

@testable import FlowsentryRules

/// Case-sensitive tests on DNS name fields whose literal capture can never deliver (names are lower
/// case, other bytes `\DDD`), regexes that match the empty string, and the `#` hint: warnings at
/// the literal or pattern, never on what can match.
@Suite struct CapturedNameWarningTests {
  private func warnings(_ condition: String, lists: String = "") throws -> [Diagnostic] {
    let text = """
      \(lists)- rule:
          id: T-1
          name: t
          events: [net_flow_tcp_begin, net_packet_dns]
          condition: \(condition)
          output: x
      """
    return try RuleLoader.load(text: text, file: "w.yaml").warnings.filter { !$0.message.contains("is not used") }
  }

  @Test func upperCaseLiteralsOnNameFieldsWarnAtTheLiteral() throws {
    let found = try warnings("remote_dns endswith 'BadCorp.com' or dns.questions == Upper.com")
    #expect(found.count == 2, "\(found)")
    // The condition starts at column 16: the quote, then the bare word.
    #expect(found.map(\.column) == [36, 70])
    #expect(
      found[0].line == 5 && found[0].message.contains("'iendswith'") && found[0].message.contains("'badcorp.com'"))
    #expect(found[1].message.contains("'upper.com'"))
  }

  @Test func nonASCIIAndSpacesInSetsAndListsWarnAtTheirItem() throws {
    let found = try warnings(
      "dns.questions in ('café.org', 'ok.org', 'x y.org') or dst_dns contains bad",
      lists: "- list:\n    name: bad\n    items: [Evil.org, fine.org]\n")
    #expect(found.count == 3, "\(found)")
    #expect(found.contains { $0.line == 3 && $0.column == 13 && $0.message.contains("'icontains'") })
    #expect(found.contains { $0.message.contains(#"'caf\195\169.org'"#) })
    #expect(found.contains { $0.message.contains(#"'x\032y.org'"#) })
    // `iendswith` folds ASCII only: it cannot help a non-ASCII byte, so it is not offered.
    let accent = try warnings("remote_dns endswith 'café.org'")
    #expect(accent.count == 1 && !accent[0].message.contains("iendswith"), "\(accent)")
  }

  @Test func anUndefinedListIsAnErrorWithoutAWarning() {
    do {
      _ = try warnings("remote_dns endswith Nowhere")
      Issue.record("loaded")
    } catch let error as RuleLoadError {
      #expect(error.diagnostics.count == 1 && error.diagnostics[0].message.contains("undefined list"), "\(error)")
    } catch { Issue.record("\(error)") }
  }

  @Test func whatCanMatchSaysNothing() throws {
    let quiet = [
      "remote_dns iendswith 'BadCorp.com'", "remote_dns imatches 'EvilCorp'", "process.comm == 'ABC'",
      "remote_dns matches '(?i)EVIL'", "remote_dns matches 'a(B?|c)'", #"remote_dns matches 'x\.[A-Z]Q?'"#,
      "remote_dns matches 'E?v|ok'", #"remote_dns matches '\x41b'"#, #"remote_dns matches '\QAb\E'"#,
      "remote_dns matches 'A*b'", "remote_dns matches 'A{0,2}b'", "remote_dns matches '^$'",
      #"remote_dns matches '\d\.example$'"#, "remote_dns endswith 'evil.com'",
    ]
    for condition in quiet { #expect(try warnings(condition).isEmpty, "\(condition)") }
  }

  @Test func aRequiredCapitalInARegexWarnsAtTheLetter() throws {
    let found = try warnings(#"remote_dns matches 'x\'\.EvilCorp\.com$'"#)
    #expect(found.count == 1, "\(found)")
    // The quote is at column 35; `E` is the pattern's 5th scalar, after `\'` and `\.` (two each).
    #expect(found.first?.column == 41)
    #expect(found.first?.message.contains("'imatches'") == true)
  }

  @Test func typedDomainListsCompareFoldedAndSayNothing() throws {
    let found = try warnings(
      "remote_dns in bad", lists: "- list: {name: bad, type: domain, match: suffix, items: [Evil.Example]}\n")
    #expect(found.isEmpty, "\(found)")
  }

  @Test func patternsMatchingTheEmptyStringWarn() throws {
    let everything = try warnings("remote_dns matches 'zzz|' or process.comm matches '(|)'")
    #expect(everything.count == 2 && everything.allSatisfy { $0.message.contains("true of every value") })
    #expect(everything.map(\.column) == [36, 67])
    let alternative = try warnings(#"remote_dns matches '^evil\.com|'"#)
    #expect(alternative.count == 1 && alternative[0].column == 46, "\(alternative)")
    #expect(alternative[0].message.contains("empty alternative"))
    // In a group it is the idiom for an optional part: no warning.
    #expect(try warnings(#"remote_dns matches '^(www\.|)example\.com$' or remote_dns matches 'evil\.(com|)$'"#).isEmpty)
    #expect(try warnings("remote_dns matches 'a?'").count == 1)
  }

  @Test func anUnterminatedStringCutByAYAMLCommentSaysSo() {
    do {
      _ = try warnings(#"remote_dns matches 'evil #1\.com$'"#)
      Issue.record("loaded")
    } catch let error as RuleLoadError {
      let message = error.diagnostics.first?.message ?? ""
      #expect(message.contains("unterminated string") && message.contains("comment"), "\(message)")
    } catch { Issue.record("\(error)") }
    do {
      _ = try warnings(#"remote_dns matches 'evil"#)
      Issue.record("loaded")
    } catch let error as RuleLoadError {
      #expect(error.diagnostics.first?.message == "unterminated string")
    } catch { Issue.record("\(error)") }
  }

  @Test func aPatternTooLargeSuggestsAList() {
    let names = (0..<12_000).map { "name\($0)x\\.example" }.joined(separator: "|")
    do {
      _ = try warnings("remote_dns matches '(\(names))$'")
      Issue.record("loaded")
    } catch let error as RuleLoadError {
      let diagnostic = error.diagnostics.first
      #expect(diagnostic?.message.contains("too large") == true && diagnostic?.message.contains("type: domain") == true)
      let shown = diagnostic?.description.split(separator: "\n") ?? []
      #expect(
        shown.count == 3 && shown[1].unicodeScalars.count <= Diagnostic.shownLineWidth + 2, "\(shown.dropFirst())")
    } catch { Issue.record("\(error)") }
  }
}
