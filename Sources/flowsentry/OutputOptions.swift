import ArgumentParser
import FlowsentryConfiguration
import FlowsentryForwarding
import FlowsentryOutput
import Foundation
import Logging
import SystemPackage

/// `--output` and `--spool-dir`, shared by `monitor` and `replay`.
struct OutputOptions: ParsableArguments {
  @Option(
    name: .customLong("output"),
    help: ArgumentHelp(
      """
      Where alerts go (repeatable): stdout, syslog+tcp://HOST[:PORT], syslog+tls://HOST[:PORT], \
      syslog+udp://HOST[:PORT], relp://HOST[:PORT], file:///PATH, https://HOST[:PORT][/PATH] (http:// to loopback) with \
      profile=splunk-hec|elasticsearch|webhook, nats://HOST:PORT[,HOST:PORT…] (JetStream, subject=TEMPLATE; \
      docs/FLEET.md); options as ?KEY=VALUE&…, values percent-decoded (name, format=json|ecs|cef, events, \
      facility, ca, cert, key, server_name, tls_verify, batch, queue, spool_max_bytes, drain_timeout_ms, max_datagram, index, \
      ndjson, token_file|token_env, api_key_file|api_key_env, basic_auth_file|basic_auth_env, header, \
      timeout_ms, batch_bytes; for nats: subject, creds_file, nkey, nkey_seed_file, ack_timeout_ms, \
      max_in_flight; see docs/FORWARDING.md). Without it, stdout. Each network output has its own \
      queue and disk spool and delivers through receiver outages and restarts.
      """, valueName: "spec"))
  var outputs: [String] = []

  @Option(help: "Directory of the outputs' spools, one subdirectory per output (default /var/lib/flowsentry/spool).")
  var spoolDir: String?

  func validate() throws {
    do { _ = try forwarding() } catch { throw ValidationError(error.description) }
    let names = try forwarding().map(\.name)
    if let repeated = names.first(where: { name in names.filter { $0 == name }.count > 1 }) {
      throw ValidationError("two outputs are named \(repeated); give one a name=… of its own")
    }
  }

  func forwarding() throws(OutputSpecificationError) -> [OutputConfiguration] {
    var configurations: [OutputConfiguration] = []
    for spec in outputs where spec != "stdout" { configurations.append(try OutputSpecification.parse(spec)) }
    return configurations
  }

  /// `--output` replaces the file's outputs (stdout prints only when listed); `--spool-dir` its directory.
  func apply(to settings: inout SensorConfiguration) {
    if !outputs.isEmpty {
      settings.outputs = (try? forwarding()) ?? []
      settings.printsToStandardOutput = outputs.contains("stdout")
    }
    if let spoolDir { settings.spoolDirectory = spoolDir }
  }

  /// Opens every forwarding output (spools recovered, TLS files loaded) and starts its thread.
  static func startOutputs(_ settings: SensorConfiguration, logger: Logger) throws -> [ForwardingOutput] {
    var started: [ForwardingOutput] = []
    for configuration in settings.outputs {
      if [.syslogTLS, .https, .nats].contains(configuration.kind), !configuration.tls.verify {
        let warning =
          "output \(configuration.name): TLS certificate verification is OFF (tls_verify=false); "
          + "anyone on the path can read and forge what it sends"
        logger.warning("\(warning)")
      }
      let output = try ForwardingOutput(
        configuration: configuration, spoolDirectory: FilePath(settings.spoolDirectory).appending(configuration.name),
        log: { logger.notice("\($0)") })
      let spool = output.counters
      if spool.spoolPending > 0 || spool.spool.damagedBytes > 0 {
        let damage =
          spool.spool.damagedBytes > 0
          ? "; spool damage recovered: \(spool.spool.damagedRecords) records and \(spool.spool.damagedBytes) bytes unreadable"
          : ""
        logger.info("output \(configuration.name): \(spool.spoolPending) records from a previous run to send\(damage)")
      }
      output.start()
      started.append(output)
    }
    return started
  }
}

extension ForwardingOutput {
  /// Stops every output (each delivers what it can within its drain timeout) off the cooperative
  /// pool: stopping waits on the outputs' threads.
  static func stopAll(_ outputs: [ForwardingOutput]) async {
    guard !outputs.isEmpty else { return }
    await runOffThePool { DispatchQueue.concurrentPerform(iterations: outputs.count) { outputs[$0].stop() } }
  }
}

/// Runs blocking work (waiting on writer threads) on a thread of its own, not on Swift's
/// cooperative pool, and resumes when it is done.
func runOffThePool(_ body: @escaping @Sendable () -> Void) async {
  await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
    Thread {
      body()
      continuation.resume()
    }.start()
  }
}
