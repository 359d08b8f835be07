import FlowsentryTestSupport
import Foundation
import Testing

/// A configuration file as an operator writes it, driving the command line tool.
@Suite(.serialized) struct ConfigurationRunTests {
  let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-config-\(UUID().uuidString)")

  func write(_ text: String) throws -> String {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent("config.yaml").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  @Test func aBrokenConfigurationStopsTheSensorWithPositionedErrors() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = try write("max_flows: 0\noutputs:\n  - url: syslog+tcp://collector\n    facility: local99\n")
    for command in [["monitor"], ["replay", shippedRules + "/captures/refused-storm.pcap"], ["config", "check"]] {
      let run = try CommandLineRun(command == ["config", "check"] ? command + [path] : command + ["--config", path])
      run.wait()
      #expect(run.status == 1, "\(command)")
      #expect(run.errors.contains("\(path):1:12: error: max_flows takes an integer"), "\(run.errors)")
      #expect(run.errors.contains("\(path):4:5: error: unknown facility 'local99'"), "\(run.errors)")
    }
  }

  /// A rules: path that does not exist is said where the file writes it, by every command that
  /// loads the file's rules; not as an error at line 1 of the missing path.
  @Test func aMissingRulesPathIsSaidWhereTheFileNamesIt() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = try write("events: none\nrules: [rulez.d, /nonexistent/rules.yaml]\n")
    let commands = [
      ["config", "check", path], ["replay", "--config", path, shippedRules + "/captures/refused-storm.pcap"],
      ["rules", "lookup", "--config", path, "192.0.2.1"],
    ]
    for command in commands {
      let run = try CommandLineRun(command)
      run.wait()
      #expect(run.status != 0, "\(command)")
      #expect(
        run.errors.contains(
          "\(path):2:9: error: rules: \(directory.path)/rulez.d: no such file or directory (a relative path is "
            + "read from the configuration file's directory)"), "\(command): \(run.errors)")
      #expect(
        run.errors.contains("\(path):2:18: error: rules: /nonexistent/rules.yaml: no such file or directory"),
        "\(command): \(run.errors)")
      #expect(!run.errors.contains("rules.yaml: no such file or directory (a relative"), "\(command): \(run.errors)")
      #expect(!run.errors.contains("rulez.d:1:1"), "\(command): \(run.errors)")
    }
  }

  /// With JSON logs, the rules' diagnostics at the start are records at their own level, as at a
  /// reload: printed raw, their lines (source, caret) broke a log shipper's parsing at every start.
  @Test func ruleDiagnosticsAtTheStartAreJSONRecordsInAJSONLog() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    _ = try write("events: none\n")
    let rules = directory.appendingPathComponent("rules.yaml").path
    try "- list: {name: unused, items: [a]}\n- rule: {id: T-1, name: t, condition: remote_port == 4444}\n".write(
      toFile: rules, atomically: true, encoding: .utf8)
    let run = try CommandLineRun([
      "replay", "--log-format", "json", "--no-default-rules", "--rules", rules,
      shippedRules + "/captures/refused-storm.pcap",
    ])
    run.wait()
    #expect(run.status == 0, "\(run.errors)")
    let records = run.errors.split(separator: "\n").map { line in
      (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }
    #expect(!records.isEmpty && records.allSatisfy { $0 != nil }, "\(run.errors)")
    let warning = records.compactMap { $0 }.first {
      ($0["message"] as? String)?.contains("'unused' is not used") == true
    }
    #expect(warning?["level"] as? String == "warning", "\(run.errors)")
    #expect((warning?["message"] as? String)?.hasPrefix("\(rules):1:") == true, "\(run.errors)")
  }

  @Test func theFileDrivesARunAndFlagsOverrideIt() throws {
    defer { try? FileManager.default.removeItem(at: directory) }
    let receiver = try Rsyslog.started(.tcp)
    let path = try write(
      """
      events: none
      spool_dir: \(directory.appendingPathComponent("spool").path)
      logging:
        format: text
      outputs:
        - url: syslog+tcp://127.0.0.1:\(receiver.port)
          name: siem
          facility: local3

      """)
    let capture = shippedRules + "/captures/refused-storm.pcap"
    let run = try CommandLineRun(["replay", "--config", path, capture])
    run.wait()
    #expect(run.status == 0, "\(run.errors)")
    let messages = receiver.waitForMessages(2)
    #expect(messages.compactMap { $0["msgid"] as? String }.sorted() == ["FS-NET-001", "FS-NET-004"])
    #expect(messages.allSatisfy { ($0["pri"] as? String).flatMap(Int.init).map { $0 / 8 } == 19 })
    // logging.format from the file: text records.
    #expect(
      run.errors.contains("flowsentry: replay: output siem (syslog+tcp://127.0.0.1:\(receiver.port))"), "\(run.errors)")
    #expect(run.errors.contains(" output_delivered{siem=2} "), "\(run.errors)")

    // Flags over the file: no built-in rules, so nothing more arrives; JSON records.
    let overridden = try CommandLineRun([
      "replay", "--config", path, "--no-default-rules", "--log-format", "json", capture,
    ])
    overridden.wait()
    #expect(overridden.status == 0)
    #expect(overridden.errors.contains(#""output_delivered":{"siem":0}"#), "\(overridden.errors)")
    usleep(300_000)
    #expect(receiver.messages().count == 2)
  }
}
