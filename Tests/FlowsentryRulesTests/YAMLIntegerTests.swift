import FlowsentryCore
import Testing
import Yams

@testable import FlowsentryRules

/// YAML 1.1 base-60 integers (`1:30`), which Yams multiplies unchecked: refused, never a trap.
@Suite struct YAMLIntegerTests {
  @Test func baseSixtyIsRefusedAndOtherFormsReadAsBefore() throws {
    func integer(_ text: String) throws -> Int? { try Yams.compose(yaml: "v: \(text)")?["v"]?.checkedInt }
    #expect(try integer("461168601842738790:4") == nil)
    #expect(try integer("1:30") == nil)
    #expect(try integer("443") == 443)
    #expect(try integer("0x1bb") == 443)
    #expect(try integer("-7") == -7)
    #expect(try integer("99999999999999999999") == nil)
  }

  /// The input the rule-loader fuzzer found: a test event's port in base 60 past Int's range
  /// trapped `rules check` and a SIGHUP reload.
  @Test func aRuleFileWithAHugeBaseSixtyNumberIsAPositionedErrorNotATrap() {
    let text = """
      - rule:
          id: T-1
          name: t
          condition: dst_port == 1
          threshold: {count: "1:0:0:0:0:0:0:0:0:0:0:0", window: 1s}
          tests:
            - name: t
              expect: 0
              events:
                - {event: net_flow_tcp_end, repeat: 3, vary: {dst_port: 461168601842738790:4}}
      """
    do {
      _ = try RuleLoader.load(text: text)
      Issue.record("the rule file loaded")
    } catch {
      let messages = error.diagnostics.filter { $0.severity == .error }.map { "\($0.line) \($0.message)" }
      #expect(messages.contains { $0.hasPrefix("5 ") }, "\(messages)")
      #expect(messages.contains { $0.hasPrefix("10 ") }, "\(messages)")
    }
  }
}
