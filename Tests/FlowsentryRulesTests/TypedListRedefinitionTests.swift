import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryRules

/// A typed list defined again without `type` would become an inline list whose feeds are no longer
/// read: an error at the new definition's name, which says what the list was and how to add to it.
@Suite struct TypedListRedefinitionTests {
  static let typed =
    "- list: {name: c2, type: address, items: [192.0.2.254], files: [feeds/*.ip.txt], optional: true}\n"
  static let rule = "- rule: {id: T-1, name: listed, condition: remote in c2}\n"

  func load(_ text: String) -> Result<RuleSet, RuleLoadError> {
    Result { () throws(RuleLoadError) in try RuleLoader.load(text: text, file: "r.yaml") }
  }

  @Test func anUntypedRedefinitionIsAnErrorNamingTheTypeAndFiles() throws {
    let text = Self.typed + "- list: {name: c2, items: [203.0.113.9]}\n" + Self.rule
    guard case .failure(let error) = load(text) else {
      Issue.record("an untyped redefinition of a typed list loaded")
      return
    }
    let diagnostic = try #require(error.diagnostics.first { $0.severity == .error })
    #expect((diagnostic.file, diagnostic.line, diagnostic.column) == ("r.yaml", 2, 16), "\(diagnostic)")
    #expect(
      diagnostic.message.contains("list 'c2' is a typed list (address, files feeds/*.ip.txt) defined at r.yaml:1:9"))
    #expect(diagnostic.message.contains("files are no longer read") && diagnostic.message.contains("'append: true'"))
  }

  @Test func appendingOrRepeatingTheTypeStillLoads() throws {
    let appended = try load(Self.typed + "- list: {name: c2, append: true, items: [203.0.113.9]}\n" + Self.rule).get()
    #expect(appended.listings(of: "203.0.113.9").map(\.list) == ["c2"])
    #expect(appended.listings(of: "192.0.2.254").map(\.list) == ["c2"])
    let replaced = try load(Self.typed + "- list: {name: c2, type: address, items: [203.0.113.9]}\n" + Self.rule).get()
    #expect(replaced.listings(of: "203.0.113.9").map(\.list) == ["c2"])
    #expect(replaced.listings(of: "192.0.2.254").isEmpty)
    // An untyped list stays replaceable by an untyped one.
    let plain = "- list: {name: ports, items: [22]}\n- list: {name: ports, items: [443]}\n"
    _ = try load(plain + "- rule: {id: T-2, name: port, condition: dst_port in ports}\n").get()
  }

  /// Repeating `type` without `files` replaced the list and dropped its feeds with no word, which
  /// someone changing only `match` or the items did not mean: a warning at the new name.
  @Test func aTypedRedefinitionThatReadsNoneOfTheFilesWarns() throws {
    let text = Self.typed + "- list: {name: c2, type: address, items: [203.0.113.9]}\n" + Self.rule
    let rules = try load(text).get()
    let warning = try #require(rules.warnings.first { $0.message.contains("replaces the typed list") })
    #expect((warning.file, warning.line, warning.column) == ("r.yaml", 2, 16), "\(warning)")
    #expect(
      warning.message
        == "list 'c2' replaces the typed list defined at r.yaml:1:9, which read feeds/*.ip.txt; "
        + "those files are no longer read (list them in this definition's files to read them too, "
        + "or add replace: true if no longer reading them is meant)")
    // replace: true says it is meant (the documented way to read another format's feed): no warning,
    // and the replacement is what loads.
    let meant = Self.typed + "- list: {name: c2, type: address, replace: true, items: [203.0.113.9]}\n" + Self.rule
    let replaced = try load(meant).get()
    #expect(!replaced.warnings.contains { $0.message.contains("replaces the typed") }, "\(replaced.warnings)")
    #expect(replaced.listings(of: "203.0.113.9").map(\.list) == ["c2"])
    // Extended and replaced at once is no definition.
    let both = Self.typed + "- list: {name: c2, append: true, replace: true, items: [203.0.113.9]}\n" + Self.rule
    guard case .failure(let error) = load(both) else {
      Issue.record("append and replace together loaded")
      return
    }
    #expect(error.diagnostics.contains { $0.message.contains("'replace' and 'append' contradict each other") })
    // Still reading one of the files, or replacing a list that read none: nothing is lost.
    let kept = Self.typed + "- list: {name: c2, type: address, files: [feeds/*.ip.txt, more/*.txt], optional: true}\n"
    #expect(!(try load(kept + Self.rule).get()).warnings.contains { $0.message.contains("replaces the typed") })
    let inline = "- list: {name: c2, type: address, items: [192.0.2.1]}\n"
    let again = inline + "- list: {name: c2, type: address, items: [192.0.2.2]}\n"
    #expect(!(try load(again + Self.rule).get()).warnings.contains { $0.message.contains("replaces the typed") })
  }

  /// The override the red team wrote in a user's file over the shipped intel_addresses.
  @Test func theShippedIntelListIsNotSilentlyMadeInline() throws {
    let user = RuleSource(name: "my.yaml", text: "- list: {name: intel_addresses, items: [192.0.2.254, 203.0.113.9]}\n")
    do {
      _ = try RuleLoader.load(sources: RuleLoader.builtInRules + [user], paths: [])
      Issue.record("an untyped intel_addresses replaced the shipped typed one")
    } catch {
      let diagnostic = try #require(error.diagnostics.first { $0.severity == .error })
      #expect((diagnostic.file, diagnostic.line, diagnostic.column) == ("my.yaml", 1, 16), "\(diagnostic)")
      #expect(
        diagnostic.message.contains(
          "(address, files /etc/flowsentry/intel/*.ip.txt) defined at built-in/30-intel.yaml:17:5"))
    }
    let appended = RuleSource(
      name: "my.yaml", text: "- list: {name: intel_addresses, append: true, items: [203.0.113.9]}\n")
    let rules = try RuleLoader.load(sources: RuleLoader.builtInRules + [appended], paths: [])
    #expect(rules.listings(of: "203.0.113.9").map(\.list) == ["intel_addresses"])
    #expect(rules.listings(of: "192.0.2.254").map(\.list) == ["intel_addresses"])
  }
}
