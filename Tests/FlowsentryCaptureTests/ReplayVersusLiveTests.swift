import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryTestSupport
import Foundation
import Testing

/// One truth, two sources: real connections watched live by the eBPF programs while tcpdump writes
/// them to a file, then the file replayed. Replay must give the flows monitor gave: 5-tuples,
/// directions, orientation and close reasons, with one documented difference: replay also sees the
/// refusing side of a refused attempt (live shows it only when watching the whole host).
@Suite(.serialized, .requires(.root, .cgroup2, .tcpdump, .executable("/usr/bin/tshark")))
struct ReplayVersusLiveTests {
  @Test func aCaptureOfRealConnectionsReplaysAsTheyWereSeenLive() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    // Two captures of the same traffic: on lo (Ethernet headers) and on any (Linux cooked v2).
    let recordings = try await [PacketRecording(interface: "lo"), PacketRecording(interface: "any")]
    try await Task.sleep(for: .milliseconds(300))
    let capture = try LiveCapture(cgroup: cgroup)

    var refusals: [EventShape] = []
    for family in [TestSocket.Family.v4, .v6] {
      let listener = try cgroup.withMembership { try TestSocket(family) }
      try listener.bind(family.loopback)
      try listener.listen()
      let server = listener.localEndpoint
      for kind in 0..<3 {
        let client = try cgroup.withMembership { try TestSocket(family) }
        #expect(try client.connect(to: server) == 0)
        let accepted = try listener.accept()
        switch kind {
        case 0:
          client.close()
          accepted.readToEnd()
          accepted.close()
        case 1:
          accepted.close()
          client.readToEnd()
          client.close()
        default:
          client.setLingerZero()
          client.close()
          accepted.readToEnd()
          accepted.close()
        }
      }
      let (nobody, asking) = try TestSocket.refusedAttempt(family, from: cgroup)
      refusals.append(.end(.incoming, .refused, by: .local, from: nobody, to: asking))
    }
    let live = try await capture.events(count: 2 * (3 * 4 + 1))
    await capture.stop()
    try await Task.sleep(for: .milliseconds(300))
    for recording in recordings { recording.stop() }
    #expect(live.count == 26)

    for file in recordings {
      let replayer = Replayer(pipeline: Pipeline(configuration: Pipeline.Configuration().validatingSegments))
      let sink = InMemoryEventSink()
      replayer.replay(path: file.path, to: sink)
      #expect(replayer.summary.fileErrors.isEmpty, "\(file.interface): \(replayer.summary.fileErrors)")
      #expect(try CaptureFile(path: file.path).linkType == (file.interface == "lo" ? 1 : 276))
      // Other traffic of the machine may be in the file: only the test's endpoints count.
      let endpoints = Set(live.flatMap { [$0.source, $0.destination] })
      let replayed = sink.events.compactMap { event -> FlowEvent? in
        guard case .flow(let flow) = event, endpoints.contains(flow.source), endpoints.contains(flow.destination)
        else { return nil }
        return flow
      }
      #expect(replayed.map(\.shape).sorted() == (live.map(\.shape) + refusals).sorted(), "\(file.interface)")
      let ends = replayed.filter { $0.name == .netFlowTCPEnd && $0.closeReason != .refused }
      #expect(ends.allSatisfy { ($0.durationNanoseconds ?? -1) >= 0 }, "\(file.interface): flows keep their begin")

      // An independent count: tshark's TCP conversations on the same file. Each conversation with a
      // handshake is two flows here (both ends are local); a refused attempt is a conversation
      // without one, reported from both sides too; nothing else differs.
      let conversations = try tsharkConversations(file.path).filter {
        endpoints.contains($0.0) && endpoints.contains($0.1)
      }
      let begins = replayed.filter { $0.name == .netFlowTCPBegin }.count
      let refused = replayed.filter { $0.closeReason == .refused }.count
      #expect(
        conversations.count == begins / 2 + refused / 2, "\(file.interface): \(conversations.count) conversations")
      let pairs = Set(replayed.map { Set([$0.source, $0.destination]) })
      #expect(Set(conversations.map { Set([$0.0, $0.1]) }) == pairs, "\(file.interface): the same endpoint pairs")
    }
  }
}

/// `tshark -z conv,tcp`: the TCP conversations of a capture, as endpoint pairs.
func tsharkConversations(_ path: String) throws -> [(Endpoint, Endpoint)] {
  let output = try run("/usr/bin/tshark", ["-n", "-r", path, "-q", "-z", "conv,tcp"])
  func endpoint(_ text: Substring) -> Endpoint? {
    guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]),
      let address = IPAddress(String(text[..<colon]))
    else { return nil }
    return Endpoint(address, port)
  }
  return output.split(separator: "\n").compactMap { line in
    let fields = line.split(separator: " ", omittingEmptySubsequences: true)
    guard fields.count >= 3, fields[1] == "<->", let a = endpoint(fields[0]), let b = endpoint(fields[2]) else {
      return nil
    }
    return (a, b)
  }
}

/// tcpdump writing one interface's TCP and UDP to a file of its own, removed with the recording.
final class PacketRecording {
  let interface: String
  let path: String
  private let process: SpawnedProcess
  private var stopped = false

  init(interface: String) async throws {
    self.interface = interface
    path = FileManager.default.temporaryDirectory.appendingPathComponent("fs-\(interface)-\(getpid()).pcap").path
    process = try SpawnedProcess(
      "/usr/bin/tcpdump", ["-i", interface, "-U", "-n", "-s", "0", "-Z", "root", "-w", path, "tcp or udp"],
      captureOutput: false)
    // Capturing once the file holds its header.
    for _ in 0..<100 where ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) < 24 {
      try await Task.sleep(for: .milliseconds(50))
    }
  }

  /// Ends the capture; the file is complete afterwards.
  func stop() {
    guard !stopped else { return }
    stopped = true
    process.terminate()
  }

  deinit {
    stop()
    try? FileManager.default.removeItem(atPath: path)
  }
}
