import FlowsentryCore
import Testing

@testable import FlowsentryOutput

/// An update's (and an end's) delta in CEF: custom numbers cn1 (what src sent since the previous
/// report) and cn2 (what it received), on the same src → dst sides as out/in.
@Suite struct CEFVolumeDeltaTests {
  let context = EventJSON.Context(hostName: "sensor-1")
  let local = Endpoint(IPAddress("10.0.0.2")!, 40_000)
  let remote = Endpoint(IPAddress("203.0.113.7")!, 443)
  let total = FlowVolume(
    bytesSent: 9000, bytesReceived: 700, packetsSent: 9, packetsReceived: 7, retransmits: 0, rttMicroseconds: 50)
  let delta = FlowVolume(
    bytesSent: 4000, bytesReceived: 300, packetsSent: 4, packetsReceived: 3, retransmits: 0, rttMicroseconds: 50)

  func update(_ direction: ConnectionDirection, delta: FlowVolume?) -> FlowEvent {
    var event = FlowEvent(
      name: .netFlowTCPUpdate, timestamp: 1_700_000_000_000_000_000, direction: direction,
      source: direction == .outgoing ? local : remote, destination: direction == .outgoing ? remote : local,
      volume: total)
    event.volumeDelta = delta
    return event
  }

  @Test func anOutgoingUpdateCarriesWhatTheLocalSocketSentSinceTheLastReport() {
    let line = CEFMessage.line(for: .flow(update(.outgoing, delta: delta)), context: context)
    #expect(line.contains(" out=9000 in=700 cn1Label=bytesOutDelta cn1=4000 cn2Label=bytesInDelta cn2=300"))
  }

  @Test func anIncomingUpdateMapsTheDeltaToTheRemoteInitiator() {
    let line = CEFMessage.line(for: .flow(update(.incoming, delta: delta)), context: context)
    #expect(line.contains(" out=700 in=9000 cn1Label=bytesOutDelta cn1=300 cn2Label=bytesInDelta cn2=4000"))
  }

  @Test func withoutADeltaThereAreNoCustomNumbers() {
    let line = CEFMessage.line(for: .flow(update(.outgoing, delta: nil)), context: context)
    #expect(line.contains(" out=9000"))
    #expect(!line.contains("cn1"))
    #expect(!line.contains("cn2"))
  }
}
