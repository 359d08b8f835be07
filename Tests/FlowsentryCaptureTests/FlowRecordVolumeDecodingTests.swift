import CFlowsentryRecord
import FlowsentryCore
import Testing

@testable import FlowsentryCapture

/// The end record's counters reach the state change as they were written, 64-bit ones whole.
@Suite struct FlowRecordVolumeDecodingTests {
  func endRecord(volumeKnown: Bool) -> fs_flow_record {
    var record = fs_flow_record()
    record.header.kind = FS_RECORD_FLOW.rawValue
    record.header.hook = UInt8(FS_HOOK_SOCKET.rawValue)
    record.header.family = UInt8(FS_FAMILY_IPV4.rawValue)
    record.header.source_port = 40_000
    record.header.destination_port = 443
    record.transition = UInt8(FS_FLOW_END.rawValue)
    record.direction = UInt8(FS_DIRECTION_OUTGOING.rawValue)
    record.close_reason = UInt8(FS_CLOSE_FIN.rawValue)
    record.terminated_by = UInt8(FS_SIDE_LOCAL.rawValue)
    record.bytes_sent = UInt64.max - 1
    record.bytes_received = 1 << 40
    record.data_segments_sent = .max
    record.data_segments_received = 7
    record.retransmits = 3
    record.rtt_us = 250
    record.volume_known = volumeKnown ? 1 : 0
    return record
  }

  func decode(_ record: fs_flow_record) throws -> SocketStateChange {
    var copy = record
    return try #require(
      withUnsafeBytes(of: &copy) { RecordDecoder.decodeFlow($0, clockOffset: 0) })
  }

  @Test func anEndCarriesTheRecordsCounters() throws {
    let change = try decode(endRecord(volumeKnown: true))
    #expect(change.transition == .ended(.fin, by: .local))
    #expect(
      change.volume
        == FlowVolume(
          bytesSent: UInt64.max - 1, bytesReceived: 1 << 40, packetsSent: UInt64(UInt32.max), packetsReceived: 7,
          retransmits: 3, rttMicroseconds: 250))
  }

  @Test func aRecordWithoutVolumeHasNone() throws {
    #expect(try decode(endRecord(volumeKnown: false)).volume == nil)
  }
}
