import FlowsentryCore
import FlowsentryOutput
import FlowsentryPackets
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryTestSupport
import Foundation
import Testing

/// Real transfers to a test host in a network namespace: the end carries the socket's totals at
/// its close, payload bytes exactly (the SYN and FIN subtracted), from the local socket's side.
@Suite(.serialized, .requires(.root, .cgroup2, .ip, .python3, .curl, .tcpdump), .testHostsInTurn)
struct FlowVolumeLiveTests {
  /// curl downloads a body of known size: everything it received, headers included, is on the end.
  @Test func aDownloadEndsWithTheBytesReceived() async throws {
    let host = try TestHost(VolumeTestHost.addressing)
    defer { host.remove() }
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let recording = try await HeaderRecording(interface: host.hostLink)
    let capture = try LiveCapture(cgroup: cgroup)
    let bodySize = 3 * 1_048_576 + 123
    let server = try host.runPython(
      """
      import socket
      l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      l.bind(("\(VolumeTestHost.peerAddress)", 0)); l.listen(1)
      print(l.getsockname()[1], flush=True)
      c, _ = l.accept(); request = b""
      while b"\\r\\n\\r\\n" not in request:
          data = c.recv(4096)
          if not data: break
          request += data
      c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\nConnection: close\\r\\n\\r\\n" % \(bodySize))
      c.sendall(b"d" * \(bodySize)); c.close(); l.close()
      """)
    let port = try #require(UInt16(try server.firstLine()))
    let downloaded = try cgroup.run(
      "/usr/bin/curl",
      ["-s", "-o", "/dev/null", "-w", "%{size_download}", "http://\(VolumeTestHost.peerAddress):\(port)/f"]
    )
    _ = try server.finish()
    #expect(downloaded == "\(bodySize)")

    let events = try await capture.events(count: 2)
    await capture.stop()
    let end = try #require(events.first { $0.name == .netFlowTCPEnd }, "no end among \(events)")
    let volume = try #require(end.volume, "an end from sock_ops carries volume")
    #expect(end.direction == .outgoing)
    #expect((bodySize...bodySize + 2048).contains(Int(volume.bytesReceived)), "\(volume)")
    #expect((40...512).contains(Int(volume.bytesSent)), "curl's request: \(volume)")
    // At most one MSS (1448 on a 1500-byte veth; GRO may merge, never split) per data segment.
    #expect(volume.packetsReceived >= volume.bytesReceived / 65_536 && volume.packetsReceived > 0, "\(volume)")
    #expect(volume.packetsReceived <= volume.bytesReceived / 500, "\(volume)")
    #expect(volume.packetsSent == 1, "one request segment: \(volume)")
    #expect(volume.rttMicroseconds < 1_000_000, "\(volume)")
    #expect(events.filter { $0.name == .netFlowTCPBegin }.allSatisfy { $0.volume == nil })

    // tcpdump's view of the same connection, replayed: the same payload bytes each way.
    let replayed = try await Self.replayedVolume(of: end, from: recording)
    #expect(replayed.bytesReceived == volume.bytesReceived, "replayed \(replayed), live \(volume)")
    #expect(replayed.bytesSent == volume.bytesSent, "replayed \(replayed), live \(volume)")
    #expect(replayed.retransmits == volume.retransmits)
  }

  /// The end of the flow `live` names in `recording`'s file, replayed with the test's address local.
  static func replayedVolume(of live: FlowEvent, from recording: HeaderRecording) async throws -> FlowVolume {
    try await Task.sleep(for: .seconds(1))  // the last segments reach tcpdump's file, on a loaded machine too
    recording.stop()
    var observing = PacketObserver.Configuration()
    observing.localNetworks = [try #require(IPNetwork("\(VolumeTestHost.localAddress)/32"))]
    let replayer = Replayer(
      pipeline: Pipeline(configuration: Pipeline.Configuration().validatingSegments),
      observer: PacketObserver(configuration: observing))
    let sink = InMemoryEventSink()
    replayer.replay(path: recording.path, to: sink)
    #expect(replayer.summary.fileErrors.isEmpty, "\(replayer.summary.fileErrors)")
    let ends = sink.events.compactMap { event -> FlowEvent? in
      guard case .flow(let flow) = event, flow.name == .netFlowTCPEnd else { return nil }
      return Set([flow.source, flow.destination]) == Set([live.source, live.destination]) ? flow : nil
    }
    #expect(ends.count == 1, "\(sink.events)")
    return try #require(ends.first?.volume, "the replayed end has volume: \(ends)")
  }

  /// An upload the client half-closes before the server answers: the bytes sent after the FIN
  /// are on the end, exactly, since the end waits for the socket's close.
  @Test func anUploadHalfClosedBeforeTheAnswerCountsEveryByteSent() async throws {
    let host = try TestHost(VolumeTestHost.addressing)
    defer { host.remove() }
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let recording = try await HeaderRecording(interface: host.hostLink)
    let capture = try LiveCapture(cgroup: cgroup)
    let uploadSize = 5 * 1_048_576 + 77
    let server = try host.runPython(
      """
      import socket
      l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      l.bind(("\(VolumeTestHost.peerAddress)", 0)); l.listen(1)
      print(l.getsockname()[1], flush=True)
      c, _ = l.accept(); total = 0
      while True:
          data = c.recv(65536)
          if not data: break
          total += len(data)
      c.sendall(b"received %d\\n" % total); c.close(); l.close()
      """)
    let port = try #require(UInt16(try server.firstLine()))
    let client = try cgroup.run(
      "/usr/bin/python3",
      [
        "-c",
        """
        import socket
        s = socket.create_connection(("\(VolumeTestHost.peerAddress)", \(port)))
        s.sendall(b"u" * \(uploadSize)); s.shutdown(socket.SHUT_WR)
        answer = b""
        while True:
            data = s.recv(4096)
            if not data: break
            answer += data
        print(s.getsockname()[1], len(answer), answer.decode().strip(), flush=True); s.close()
        """,
      ])
    _ = try server.finish()
    let fields = client.split(separator: " ")
    let clientPort = try #require(fields.first.flatMap { UInt16($0) })
    let answerLength = try #require(fields.dropFirst().first.flatMap { UInt64($0) })
    #expect(client.contains("received \(uploadSize)"))

    let events = try await capture.events(count: 2)
    await capture.stop()
    let end = try #require(events.first { $0.name == .netFlowTCPEnd && $0.terminatedBy == .local }, "\(events)")
    #expect(end.source.port == clientPort)
    #expect(end.closeReason == .fin)
    let volume = try #require(end.volume)
    #expect((UInt64(uploadSize)...UInt64(uploadSize) + 64).contains(volume.bytesSent), "\(volume)")
    #expect(volume.bytesReceived == answerLength, "\(volume)")
    #expect(volume.packetsReceived == 1, "\(volume)")
    #expect(volume.packetsSent >= UInt64(uploadSize) / 65_536 && volume.packetsSent <= UInt64(uploadSize) / 500)

    // Replayed, the upload's bytes agree; the answer came after the client's FIN, and a replayed
    // end goes out at the first FIN (docs/EVENTS.md#volume), so it is not counted there.
    let replayed = try await Self.replayedVolume(of: end, from: recording)
    #expect(replayed.bytesSent == volume.bytesSent, "\(replayed)")
    #expect(replayed.bytesReceived == 0, "\(replayed)")
  }

  /// Both ends of a loopback transfer watched: the accepted socket (no SYN in its bytes_acked)
  /// and the connecting one (its SYN subtracted) agree byte for byte, each from its own side.
  @Test func bothSidesOfALoopbackTransferAgreeExactly() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let capture = try LiveCapture(cgroup: cgroup)
    let output = try cgroup.run(
      "/usr/bin/python3",
      [
        "-c",
        """
        import socket, threading
        l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
        def serve():
            c, _ = l.accept(); total = 0
            while True:
                data = c.recv(65536)
                if not data: break
                total += len(data)
            c.sendall(b"a" * 1000); c.close()
        t = threading.Thread(target=serve); t.start()
        s = socket.create_connection(l.getsockname()); s.sendall(b"q" * 200000); s.shutdown(socket.SHUT_WR)
        while s.recv(4096): pass
        print(s.getsockname()[1], flush=True); s.close(); t.join(); l.close()
        """,
      ])
    let clientPort = try #require(UInt16(output.trimmingCharacters(in: .whitespacesAndNewlines)))
    let events = try await capture.events(count: 4)
    await capture.stop()
    let ends = events.filter { $0.name == .netFlowTCPEnd }
    let outgoing = try #require(ends.first { $0.direction == .outgoing }?.volume, "\(events)")
    let incoming = try #require(ends.first { $0.direction == .incoming }?.volume, "\(events)")
    #expect(ends.allSatisfy { $0.source.port == clientPort }, "the client closed first: \(ends)")
    #expect(outgoing.bytesSent == 200_000 && outgoing.bytesReceived == 1000, "\(outgoing)")
    #expect(incoming.bytesReceived == 200_000 && incoming.bytesSent == 1000, "\(incoming)")
    #expect(outgoing.packetsSent == incoming.packetsReceived, "\(outgoing) \(incoming)")
    #expect(outgoing.packetsReceived == incoming.packetsSent, "\(outgoing) \(incoming)")
  }
}

extension FlowVolumeLiveTests {
  /// Retransmissions forced by taking the test host's address away for 0.7 s in mid-upload (its
  /// segments are dropped there; this kernel has no netem, and no nft to drop with numgen): the end's counters agree with `ss -ti` read from the
  /// same socket once its FIN was acknowledged, before the server's answer.
  @Test func retransmissionsAndSegmentsAgreeWithSS() async throws {
    let host = try TestHost(VolumeTestHost.addressing)
    defer { host.remove() }
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let capture = try LiveCapture(cgroup: cgroup)
    let trigger = FileManager.default.temporaryDirectory.appendingPathComponent("fs-volume-go-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: trigger) }
    let server = try host.runPython(
      """
      import os, socket, time
      l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      l.bind(("\(VolumeTestHost.peerAddress)", 0)); l.listen(1)
      print(l.getsockname()[1], flush=True)
      c, _ = l.accept(); total = 0
      while True:
          data = c.recv(65536)
          if not data: break
          total += len(data)
      while not os.path.exists("\(trigger)"): time.sleep(0.02)
      c.sendall(b"received %d\\n" % total); c.close(); l.close()
      """)
    let port = try #require(UInt16(try server.firstLine()))
    let output = try cgroup.run(
      "/usr/bin/python3",
      [
        "-c",
        """
        import socket, subprocess, threading, time
        def address(change): subprocess.run(["/usr/sbin/ip", "-n", "\(host.namespace)", "addr", change, "\(VolumeTestHost.peerAddress)/30", "dev", "\(host.peerLink)"], check=True)
        def restore(): time.sleep(0.7); address("add")
        def ss(): return subprocess.run(["/usr/bin/ss", "-tinH", "src", "\(VolumeTestHost.localAddress)", "dst", "\(VolumeTestHost.peerAddress)"], capture_output=True, text=True, check=True).stdout
        s = socket.create_connection(("\(VolumeTestHost.peerAddress)", \(port)))
        s.sendall(b"r" * 300000); time.sleep(0.2)
        address("del"); t = threading.Thread(target=restore); t.start(); s.sendall(b"r" * 200000); t.join()
        s.sendall(b"r" * 300000); s.shutdown(socket.SHUT_WR)
        deadline = time.time() + 15
        while "FIN-WAIT-2" not in ss() and time.time() < deadline: time.sleep(0.05)
        info = " ".join(ss().split())
        open("\(trigger)", "w").close()
        answer = b""
        while True:
            data = s.recv(4096)
            if not data: break
            answer += data
        print(s.getsockname()[1], len(answer), info, flush=True); s.close()
        """,
      ])
    _ = try server.finish()
    let fields = output.split(separator: " ")
    let clientPort = try #require(fields.first.flatMap { UInt16($0) })
    let answerLength = try #require(fields.dropFirst().first.flatMap { UInt64($0) })
    #expect(output.contains("FIN-WAIT-2"), "ss saw the socket with its FIN acknowledged: \(output)")
    // ss leaves out a counter that is 0 (data_segs_in before the answer, retrans without any).
    func ssValue(_ key: String) throws -> UInt64 {
      guard let field = fields.first(where: { $0.hasPrefix("\(key):") }) else { return 0 }
      return try #require(UInt64(field.dropFirst(key.count + 1).split(separator: "/").last ?? ""), "\(field)")
    }

    let events = try await capture.events(count: 2)
    await capture.stop()
    let end = try #require(events.first { $0.name == .netFlowTCPEnd && $0.source.port == clientPort }, "\(events)")
    let volume = try #require(end.volume)
    #expect(volume.bytesSent == 800_000, "\(volume)")
    // ss's bytes_acked still counts the SYN and the acknowledged FIN.
    #expect(try ssValue("bytes_acked") == volume.bytesSent + 2)
    #expect(try ssValue("data_segs_out") == volume.packetsSent, "\(volume)")
    #expect(try ssValue("retrans") == volume.retransmits, "\(volume)")
    #expect(volume.retransmits > 0, "the peer was unreachable for 0.7 s: \(volume)")
    // After ss: the answer, one data segment.
    #expect(try ssValue("data_segs_in") + 1 == volume.packetsReceived, "\(volume)")
    #expect(volume.bytesReceived == answerLength)
  }
}

extension FlowVolumeLiveTests {
  /// The peer's FIN does not end the flow of a socket that keeps sending (CLOSE_WAIT): its end
  /// comes at its close, with what it sent after the FIN, and still names the peer as terminator.
  @Test func aSocketSendingAfterThePeersFINEndsAtItsCloseWithThoseBytes() async throws {
    let cgroup = try TestCgroup()
    defer { cgroup.remove() }
    let capture = try LiveCapture(cgroup: cgroup)
    let trigger = FileManager.default.temporaryDirectory.appendingPathComponent("fs-volume-close-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: trigger) }
    let script = try PeerProcess(
      "/bin/sh",
      [
        "-c", "echo $$ > \"$0/cgroup.procs\" && exec python3 -c \"$1\"", cgroup.path,
        """
        import os, socket, time
        l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
        c = socket.create_connection(l.getsockname()); s, _ = l.accept()
        c.sendall(b"q" * 1000); c.shutdown(socket.SHUT_WR)
        received = 0
        while received < 1000: received += len(s.recv(4096))
        s.sendall(b"a" * 50000)
        print(s.getsockname()[1], c.getsockname()[1], flush=True)
        while not os.path.exists("\(trigger)"): time.sleep(0.02)
        s.close()
        while c.recv(65536): pass
        c.close(); l.close()
        """,
      ])
    let ports = try script.firstLine().split(separator: " ").compactMap { UInt16($0) }
    let clientPort = try #require(ports.last)
    // Both sockets are half-closed now: begins only.
    let early = try await capture.events(count: 2)
    #expect(early.map(\.name) == [.netFlowTCPBegin, .netFlowTCPBegin], "\(early)")
    FileManager.default.createFile(atPath: trigger, contents: Data())
    _ = try script.finish()
    let events = try await capture.events(count: 4)
    await capture.stop()
    let server = try #require(events.first { $0.name == .netFlowTCPEnd && $0.direction == .incoming }, "\(events)")
    #expect(server.terminatedBy == .remote && server.source.port == clientPort && server.closeReason == .fin)
    #expect(
      server.volume?.bytesSent == 50_000 && server.volume?.bytesReceived == 1000, "\(String(describing: server.volume))"
    )
    let client = try #require(events.first { $0.name == .netFlowTCPEnd && $0.direction == .outgoing })
    #expect(client.terminatedBy == .local && client.volume?.bytesReceived == 50_000, "\(client)")
  }
}

/// The volume tests' test host: a /30 of its own (198.51.100.236/30), so that it shares no route with
/// the other suites' test hosts.
enum VolumeTestHost {
  static let addressing = TestHost.Addressing(local: "198.51.100.237", peer: "198.51.100.238", prefixLength: 30)
  static var localAddress: String { addressing.local }
  static var peerAddress: String { addressing.peer }
}

/// tcpdump writing one interface's TCP headers (the first 128 bytes of each packet: lengths come
/// from the IP header) with a 32 MiB buffer, so that a burst of megabytes loses nothing.
final class HeaderRecording {
  let path: String
  private let process: SpawnedProcess
  private var stopped = false

  init(interface: String) async throws {
    path = FileManager.default.temporaryDirectory.appendingPathComponent("fs-volume-\(interface).pcap").path
    process = try SpawnedProcess(
      "/usr/bin/tcpdump",
      // --immediate-mode: without it libpcap hands packets over a block at a time (up to a second
      // late), and a capture stopped soon after the end lacks the closing segments.
      ["-i", interface, "--immediate-mode", "-U", "-n", "-s", "128", "-B", "32768", "-Z", "root", "-w", path, "tcp"],
      captureOutput: false)
    for _ in 0..<100 where ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) < 24 {
      try await Task.sleep(for: .milliseconds(50))
    }
  }

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
