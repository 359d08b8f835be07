import FlowsentryCore

extension Fields {
  /// The fields an event of kind `event` never holds, which a placeholder prints as `-` for it: a
  /// lookup has no process or peer, a connection no questions. Found by reading every field of a
  /// probe of that kind with everything it can carry set, through the same `EventFields.load` the
  /// rules read, so that this cannot drift from what an event holds.
  static func neverCarried(by event: EventName) -> Set<String> {
    neverCarriedByKind[event] ?? []
  }

  private static let neverCarriedByKind: [EventName: Set<String>] = Dictionary(
    uniqueKeysWithValues: EventName.allCases.map { event in
      let probe = EventFields(fullProbe(event))
      return (event, Set(all.filter { !holdsValue($0, probe) }.map(\.name)))
    })

  private static func holdsValue(_ field: Field, _ event: EventFields) -> Bool {
    switch field.accessor {
    case .string(let read): read(event) != nil
    case .integer(let read): read(event) != nil
    case .address(let read): read(event) != nil
    case .strings(let read): !read(event).isEmpty
    }
  }

  /// An event of kind `event` with every optional part set.
  private static func fullProbe(_ event: EventName) -> SensorEvent {
    let client = Endpoint(IPAddress("198.51.100.2")!, 40_000)
    let server = Endpoint(IPAddress("203.0.113.9")!, 443)
    guard event != .netPacketDNS else {
      var dns = DNSEvent(
        timestamp: 1, source: server, destination: client, transport: .udp, cgroupID: 1, id: 1, responseCode: 0,
        questions: ["probe.example"],
        answers: [
          .init(name: "probe.example", type: "CNAME", timeToLive: 1, data: "alias.example"),
          .init(name: "alias.example", type: "A", timeToLive: 1, data: "203.0.113.9"),
        ], truncated: false)
      dns.host = "probe"
      return .dns(dns)
    }
    var flow = FlowEvent(
      name: event, timestamp: 1, direction: .outgoing, source: client, destination: server,
      sourceNames: ["local.example"], destinationNames: ["probe.example"], closeReason: .fin, terminatedBy: .local,
      durationNanoseconds: 1, cgroupID: 1, socketCookie: 1, process: ProcessIdentity(pid: 1, uid: 1, command: "probe"),
      attempts: 1, networkNamespace: 1,
      volume: FlowVolume(
        bytesSent: 1, bytesReceived: 1, packetsSent: 1, packetsReceived: 1, retransmits: 1, rttMicroseconds: 1))
    flow.host = "probe"
    return .flow(flow)
  }
}
