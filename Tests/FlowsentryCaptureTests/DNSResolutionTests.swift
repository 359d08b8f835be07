import FlowsentryCapture
import FlowsentryCore
import FlowsentryOutput
import FlowsentryPackets
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryTestSupport
import Foundation
import Testing

/// A real resolver (dnsmasq on loopback, records the test defines), a real client (dig) in the
/// monitored cgroup, then a real connection to the address it resolved: the flow events must carry
/// the names, queried name first, then the CNAME chain.
@Suite(.serialized, .requires(.root, .cgroup2, .dnsmasq, .dig, .tcpdump))
struct DNSResolutionTests {
  static let resolverAddress = "127.0.0.77"
  static let serviceAddress = "127.0.0.88"

  @Test func flowsAreNamedByTheAnswersThatPrecededThem() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let port = UInt16.random(in: 20_000...40_000)
    let resolver = try Resolver(
      address: Self.resolverAddress, port: port,
      records: [
        "--host-record=web.fs.test,\(Self.serviceAddress),::1,300",
        "--cname=edge.fs.test,web.fs.test",
        "--cname=www.fs.test,edge.fs.test",
        "--host-record=short.fs.test,127.0.0.89,1",
      ])
    defer { resolver.stop() }
    var configuration = CaptureSession.Configuration()
    configuration.dnsPorts = [port]  // a port of the test's own: the port list is configurable
    let recording = try await PacketRecording(interface: "lo")
    try await Task.sleep(for: .milliseconds(300))
    let capture = try LiveCapture(cgroup: cgroup, configuration: configuration)

    let v4 = try dig(cgroup, resolver, "www.fs.test", "A")
    #expect(v4.last == Self.serviceAddress)
    let v6 = try dig(cgroup, resolver, "www.fs.test", "AAAA")
    #expect(v6.last == "::1")
    _ = try dig(cgroup, resolver, "short.fs.test", "A")
    // Over TCP, a name of another address, so that the chains above stay the most recent ones.
    #expect(try dig(cgroup, resolver, "short.fs.test", "A", tcp: true).last == "127.0.0.89")

    var expectedEnds: [Endpoint] = []
    for (family, host) in [(TestSocket.Family.v4, Self.serviceAddress), (.v6, "::1")] {
      let listener = try cgroup.listener(family, on: host)
      let client = try cgroup.socket(family)
      #expect(try client.connect(to: listener.localEndpoint) == 0)
      let accepted = try listener.accept()
      client.close()
      accepted.readToEnd()
      accepted.close()
      expectedEnds.append(listener.localEndpoint)
    }

    let events = try await capture.events(count: 8 + 2)  // and the TCP lookup's own flow
    let dnsEvents = capture.dnsEvents
    await capture.stop()

    let chain = ["www.fs.test", "edge.fs.test", "web.fs.test"]
    for server in expectedEnds {
      let outgoing = events.filter { $0.direction == .outgoing && $0.remote == server }
      #expect(outgoing.map(\.name).sorted { $0.rawValue < $1.rawValue } == [.netFlowTCPBegin, .netFlowTCPEnd])
      for event in outgoing {
        let names = event.destination == server ? event.destinationNames : event.sourceNames
        #expect(names == chain, "\(event.shape) names \(names)")
      }
    }
    // The net_packet_dns events: what was asked and answered, TTLs included.
    let www = try #require(dnsEvents.first { $0.questions == ["www.fs.test"] })
    #expect(www.answers.map(\.type) == ["CNAME", "CNAME", "A"])
    #expect(www.answers.last?.data == Self.serviceAddress)
    let short = try #require(dnsEvents.first { $0.questions == ["short.fs.test"] })
    #expect(short.answers.first?.timeToLive == 1)
    // Over TCP too: the message after its 2-byte length prefix.
    let overTCP = try #require(dnsEvents.first { $0.transport == .tcp })
    #expect(overTCP.questions == ["short.fs.test"] && overTCP.answers.first?.data == "127.0.0.89")
    #expect(capture.dnsCounters.malformed == 0)

    // The same traffic replayed from tcpdump's file names the same flows the same way.
    try await Task.sleep(for: .milliseconds(300))
    recording.stop()
    var observing = PacketObserver.Configuration()
    observing.dnsPorts = [port]
    let replayer = Replayer(
      pipeline: Pipeline(configuration: Pipeline.Configuration().validatingSegments),
      observer: PacketObserver(configuration: observing))
    let replayed = InMemoryEventSink()
    replayer.replay(path: recording.path, to: replayed)
    for server in expectedEnds {
      let outgoing = replayed.events.compactMap { event -> FlowEvent? in
        guard case .flow(let flow) = event, flow.direction == .outgoing, flow.remote == server else { return nil }
        return flow
      }
      #expect(outgoing.map(\.name) == [.netFlowTCPBegin, .netFlowTCPEnd], "replayed flows to \(server)")
      #expect(
        outgoing.allSatisfy { $0.destinationNames == chain }, "replayed names \(outgoing.map(\.destinationNames))")
    }
  }

  /// Runs dig inside the cgroup; returns its answer lines (+short).
  func dig(_ cgroup: TestCgroup, _ resolver: Resolver, _ name: String, _ type: String, tcp: Bool = false) throws
    -> [String]
  {
    let output = try cgroup.run(
      "/usr/bin/dig",
      [
        "+short", "+tries=1", "+time=2", tcp ? "+tcp" : "+notcp", "@\(resolver.address)", "-p", String(resolver.port),
        name, type,
      ])
    return output.split(separator: "\n").map(String.init)
  }
}

/// dnsmasq serving only the records a test gives it, on one loopback address and port.
final class Resolver {
  let address: String
  let port: UInt16
  private var process: ChildProcess?

  init(address: String, port: UInt16, records: [String]) throws {
    self.address = address
    self.port = port
    let arguments =
      [
        "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-dhcp-interface=", "--bind-interfaces",
        "--listen-address=\(address)", "--port=\(port)", "--pid-file=", "--user=root", "--conf-file=/dev/null",
      ] + records
    process = try ChildProcess("/usr/sbin/dnsmasq", arguments)
    // Ready when it answers.
    for _ in 0..<100 {
      let answer = try? run(
        "/usr/bin/dig", ["+short", "+tries=1", "+time=1", "@\(address)", "-p", "\(port)", "web.fs.test"])
      if answer?.isEmpty == false { return }
      usleep(50_000)
    }
    let stderr = process?.stderr ?? ""
    stop()
    throw MissingValue(description: "dnsmasq did not start on \(address):\(port): \(stderr)")
  }

  func stop() {
    process?.signal(SIGTERM)
    _ = try? process?.wait(timeout: .seconds(5))
    process = nil
  }
}
