import FlowsentryCore
import Foundation
import Testing

@testable import FlowsentryOutput

@Suite struct EventJSONTests {
  let context = EventJSON.Context(hostName: "sensor-1")
  let client = Endpoint(IPAddress("203.0.113.5")!, 40_000)
  let server = Endpoint(IPAddress("::1")!, 443)

  @Test func beginLineHasTheDocumentedShape() throws {
    let event = FlowEvent(
      name: .netFlowTCPBegin, timestamp: 1_700_000_000_123_456_789, direction: .outgoing, source: client,
      destination: server, destinationNames: ["example.test"], cgroupID: 7, socketCookie: 9,
      process: ProcessIdentity(pid: 42, uid: 1000, command: "cu\"rl\n"))
    let line = EventJSON.line(for: event, context: context)
    let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    #expect(object["schema_version"] as? Int == 1)
    #expect(object["event"] as? String == "net_flow_tcp_begin")
    #expect(object["time"] as? String == "2023-11-14T22:13:20.123456789Z")
    #expect(object["host"] as? String == "sensor-1")
    #expect(object["cgroup_id"] as? Int == 7)
    let process = try #require(object["process"] as? [String: Any])
    #expect(process["comm"] as? String == "cu\"rl\n")
    #expect(process["pid"] as? Int == 42)
    let args = try #require(object["args"] as? [String: Any])
    #expect(args["conn_direction"] as? String == "outgoing")
    #expect(args["src"] as? String == "203.0.113.5")
    #expect(args["dst"] as? String == "::1")
    #expect(args["src_port"] as? Int == 40_000)
    #expect(args["dst_port"] as? Int == 443)
    #expect(args["src_dns"] as? [String] == [])
    #expect(args["dst_dns"] as? [String] == ["example.test"])
    #expect(args["close_reason"] == nil)
    #expect(line.hasPrefix(#"{"schema_version":1,"event":"net_flow_tcp_begin","#))
  }

  @Test func endLineCarriesReasonTerminatorAndDuration() throws {
    var event = FlowEvent(
      name: .netFlowTCPEnd, timestamp: 0, direction: .incoming, source: client, destination: server,
      closeReason: .refused, terminatedBy: .remote)
    var args = try arguments(of: event)
    #expect(args["close_reason"] as? String == "refused")
    #expect(args["terminated_by"] as? String == "remote")
    #expect(args["duration_ns"] is NSNull)
    event.durationNanoseconds = 1500
    args = try arguments(of: event)
    #expect(args["duration_ns"] as? Int == 1500)
    #expect(EventJSON.line(for: event, context: context).contains(#""process":null"#))
  }

  private func arguments(of event: FlowEvent) throws -> [String: Any] {
    let line = EventJSON.line(for: event, context: context)
    let object = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    return try #require(object["args"] as? [String: Any])
  }

  @Test(arguments: [
    (Int64(0), "1970-01-01T00:00:00.000000000Z"), (Int64(951_782_400_000_000_001), "2000-02-29T00:00:00.000000001Z"),
    (Int64(-1), "1969-12-31T23:59:59.999999999Z"), (Int64(4_102_444_799_999_999_999), "2099-12-31T23:59:59.999999999Z"),
  ])
  func formatsRFC3339(nanoseconds: Int64, text: String) {
    #expect(RFC3339.format(nanoseconds: nanoseconds) == text)
  }

  @Test func theSecondCacheChangesNothing() {
    let cache = EncodingCache()
    for timestamp: Int64 in [
      0, 999_999_999, 1_000_000_000, 1_700_000_000_123_456_789, 1_700_000_000_999_999_999,
      1_700_000_001_000_000_000, 1_700_000_000_000_000_001, -1,
    ] {
      let event = FlowEvent(
        name: .netFlowTCPBegin, timestamp: timestamp, direction: .incoming, source: client, destination: server)
      var cached: [UInt8] = []
      EventJSON.append(.flow(event), context: context, to: &cached, cache: cache)
      #expect(String(decoding: cached, as: UTF8.self) == EventJSON.line(for: event, context: context))
    }
  }

  @Test func controlCharactersAreEscaped() {
    var json = JSONBytes(bytes: [])
    json.string("a\u{01}b\\\"é")
    #expect(String(decoding: json.bytes, as: UTF8.self) == #""a\u0001b\\\"é""#)
    json = JSONBytes(bytes: [])
    json.integer(Int64.min)
    json.raw(" ")
    json.integer(UInt64.max)
    #expect(String(decoding: json.bytes, as: UTF8.self) == "-9223372036854775808 18446744073709551615")
  }

  @Test func sinksFanOutInOrder() {
    let first = InMemoryEventSink()
    let second = InMemoryEventSink()
    let both = MultiplexEventSink([first, second])
    let event = FlowEvent(
      name: .netFlowTCPBegin, timestamp: 1, direction: .incoming, source: client, destination: server)
    both.receive(.flow(event))
    both.receive(.flow(event))
    #expect(first.events.count == 2 && second.events == first.events)
  }

  @Test func jsonLinesSinkWritesOneLinePerEvent() throws {
    var pipe: [Int32] = [0, 0]
    #expect(Foundation.pipe(&pipe) == 0)
    let sink = JSONLinesEventSink(descriptor: pipe[1], context: context)
    let event = FlowEvent(
      name: .netFlowTCPBegin, timestamp: 1, direction: .incoming, source: client, destination: server)
    sink.receive(.flow(event))
    sink.receive(.flow(event))
    sink.flush()
    close(pipe[1])
    let data = FileHandle(fileDescriptor: pipe[0], closeOnDealloc: true).readDataToEndOfFile()
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
    #expect(lines.count == 2)
    #expect(sink.failedWrites == 0)
    #expect(sink.counters.eventsWritten == 2 && sink.counters.eventsLost == 0)
  }

  @Test func failedWritesCountWhatTheyLost() throws {
    let event = SensorEvent.flow(
      FlowEvent(name: .netFlowTCPBegin, timestamp: 1, direction: .incoming, source: client, destination: server))
    // A full disk: /dev/full refuses every write with ENOSPC.
    let full = open("/dev/full", O_WRONLY | O_CLOEXEC)
    #expect(full >= 0)
    defer { close(full) }
    let onFullDisk = JSONLinesEventSink(descriptor: full, context: context)
    onFullDisk.receive(event)
    onFullDisk.receive(event)
    onFullDisk.flush()
    #expect(onFullDisk.counters.failedWrites == 1)
    #expect(onFullDisk.counters.eventsLost == 2 && onFullDisk.counters.eventsWritten == 0)

    // A reader that went away: EPIPE (the monitor ignores SIGPIPE, as here), counted, not fatal.
    signal(SIGPIPE, SIG_IGN)
    var pipe: [Int32] = [0, 0]
    #expect(Foundation.pipe(&pipe) == 0)
    close(pipe[0])
    defer { close(pipe[1]) }
    let toNobody = JSONLinesEventSink(descriptor: pipe[1], context: context)
    toNobody.receive(event)
    toNobody.flush()
    #expect(toNobody.counters.failedWrites == 1 && toNobody.counters.eventsLost == 1)

    // Positive control: the same sink kind on a working descriptor loses nothing.
    let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
    defer { close(devNull) }
    let working = JSONLinesEventSink(descriptor: devNull, context: context)
    working.receive(event)
    working.flush()
    #expect(working.counters.eventsWritten == 1 && working.counters.eventsLost == 0)
    #expect(working.counters.failedWrites == 0 && working.counters.bytesWritten > 0)
  }

  @Test func aSlowReaderOfABackgroundWrittenDescriptorCostsDroppedLinesNeverAWait() throws {
    var descriptors: [Int32] = [0, 0]
    #expect(pipe(&descriptors) == 0)
    defer { close(descriptors[0]) }
    // Nobody reads yet: the pipe (64 KiB) fills, then the 256 KiB the writer may hold.
    let sink = JSONLinesEventSink(descriptor: descriptors[1], context: context, backgroundCapacityBytes: 256 << 10)
    let event = FlowEvent(
      name: .netFlowTCPBegin, timestamp: 1, direction: .outgoing, source: client, destination: server)
    let started = Date()
    for _ in 0..<10_000 {
      sink.receive(.flow(event))
      sink.flush()
    }
    // A writer that waited on the reader would wait forever (nobody reads): the bound only has to
    // be finite, and generous enough for a loaded machine.
    #expect(Date().timeIntervalSince(started) < 60)
    let stalled = sink.counters
    #expect(stalled.droppedForSlowReader > 0)
    // The reader catches up; everything not dropped is written.
    let readEnd = descriptors[0]
    let reader = Thread {
      var buffer = [UInt8](repeating: 0, count: 1 << 16)
      while buffer.withUnsafeMutableBytes({ read(readEnd, $0.baseAddress, $0.count) }) > 0 {}
    }
    reader.start()
    sink.finish()
    close(descriptors[1])
    let final = sink.counters
    #expect(final.eventsWritten + final.eventsLost == 10_000)
    #expect(final.eventsLost == final.droppedForSlowReader)
    #expect(final.eventsWritten > 0)
  }
}
