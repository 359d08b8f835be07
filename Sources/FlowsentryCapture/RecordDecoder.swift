import CFlowsentryRecord
import FlowsentryCore

/// Swift's reading of the records defined in bpf/include/flowsentry_record.h.
///
/// Runs once per record on the reader thread, so it reads fields at their offsets with plain
/// loads: no generic collection code, no allocation (a comm of up to 15 bytes is a small string).
enum RecordDecoder {
  static let tcpRecordSize = MemoryLayout<fs_tcp_record>.size

  fileprivate static let sourceAddressOffset = MemoryLayout<fs_tcp_record>.offset(of: \.header.source_address)!
  fileprivate static let destinationAddressOffset = MemoryLayout<fs_tcp_record>.offset(
    of: \.header.destination_address)!
  private static let ownerCommandOffset = MemoryLayout<fs_tcp_record>.offset(of: \.owner_comm)!
  private static let afInet = UInt8(FS_FAMILY_IPV4.rawValue)
  private static let afInet6 = UInt8(FS_FAMILY_IPV6.rawValue)

  /// The fields of `fs_record_header` every kind shares, in Swift's terms.
  private struct Header {
    var timestamp: WallClockNanoseconds
    var hook: Hook
    var source: Endpoint
    var destination: Endpoint
    var cgroupID: UInt64

    init?(_ header: fs_record_header, _ bytes: UnsafeRawBufferPointer, clockOffset: Int64) {
      guard let source = address(bytes, at: sourceAddressOffset, family: header.family),
        let destination = address(bytes, at: destinationAddressOffset, family: header.family)
      else { return nil }
      timestamp = Int64(bitPattern: header.timestamp_ns) &+ clockOffset
      hook = header.hook == UInt8(FS_HOOK_EGRESS.rawValue) ? .egress : .ingress
      self.source = Endpoint(source, header.source_port)
      self.destination = Endpoint(destination, header.destination_port)
      cgroupID = header.cgroup_id
    }
  }

  /// Decodes a TCP record (its kind already checked); nil for a wrong size or family.
  static func decodeTCP(_ bytes: UnsafeRawBufferPointer, clockOffset: Int64) -> TCPPacketObservation? {
    guard bytes.count >= tcpRecordSize else { return nil }
    let record = bytes.loadUnaligned(as: fs_tcp_record.self)
    guard let header = Header(record.header, bytes, clockOffset: clockOffset) else { return nil }
    var process: ProcessIdentity?
    if record.owner_known != 0 {
      process = ProcessIdentity(
        pid: record.owner_pid, uid: record.owner_uid, command: command(bytes, at: ownerCommandOffset))
    }
    return TCPPacketObservation(
      timestamp: header.timestamp, hook: header.hook, source: header.source, destination: header.destination,
      flags: TCPFlags(rawValue: record.tcp_flags),
      networkNamespace: record.header.netns_cookie,
      sequence: record.sequence,
      acknowledgment: record.acknowledgment,
      socketState: record.socket_state == 0 ? nil : record.socket_state,
      cgroupID: header.cgroupID,
      socketCookie: record.header.socket_cookie,
      process: process,
      localListening: record.local_listening == FS_LISTENING_UNKNOWN.rawValue
        ? nil : record.local_listening == FS_LISTENING_YES.rawValue)
  }

  private static let dnsRecordSize = MemoryLayout<fs_dns_record>.size
  private static let dnsPayloadOffset = MemoryLayout<fs_dns_record>.offset(of: \.payload)!

  /// Decodes one record of either kind; nil for an unknown kind or a wrong size.
  static func decode(_ bytes: UnsafeRawBufferPointer, clockOffset: Int64) -> CapturedRecord? {
    guard bytes.count >= 4 else { return nil }
    switch bytes.loadUnaligned(as: UInt32.self) {
    case FS_RECORD_TCP.rawValue: return decodeTCP(bytes, clockOffset: clockOffset).map(CapturedRecord.tcp)
    case FS_RECORD_DNS.rawValue: return decodeDNS(bytes, clockOffset: clockOffset).map(CapturedRecord.dns)
    case FS_RECORD_FLOW.rawValue: return decodeFlow(bytes, clockOffset: clockOffset).map(CapturedRecord.socket)
    default: return nil
    }
  }

  static func decodeDNS(_ bytes: UnsafeRawBufferPointer, clockOffset: Int64) -> DNSPacketObservation? {
    guard bytes.count >= dnsRecordSize else { return nil }
    let record = bytes.loadUnaligned(as: fs_dns_record.self)
    let length = Int(record.payload_length)
    guard length <= Int(FS_DNS_MAX_PAYLOAD), let header = Header(record.header, bytes, clockOffset: clockOffset)
    else { return nil }
    return DNSPacketObservation(
      timestamp: header.timestamp, hook: header.hook, source: header.source, destination: header.destination,
      transport: record.transport == 6 ? .tcp : .udp,
      cgroupID: header.cgroupID,
      networkNamespace: record.header.netns_cookie,
      messageLength: Int(record.message_length),
      payload: Array(UnsafeRawBufferPointer(rebasing: bytes[dnsPayloadOffset..<dnsPayloadOffset + length])))
  }

  private static let flowRecordSize = MemoryLayout<fs_flow_record>.size
  private static let flowOwnerCommandOffset = MemoryLayout<fs_flow_record>.offset(of: \.owner_comm)!

  /// Decodes a socket state change; nil for a wrong size, family or an unknown transition.
  static func decodeFlow(_ bytes: UnsafeRawBufferPointer, clockOffset: Int64) -> SocketStateChange? {
    guard bytes.count >= flowRecordSize else { return nil }
    let record = bytes.loadUnaligned(as: fs_flow_record.self)
    guard let header = Header(record.header, bytes, clockOffset: clockOffset) else { return nil }
    let direction: ConnectionDirection =
      record.direction == UInt8(FS_DIRECTION_INCOMING.rawValue) ? .incoming : .outgoing
    let transition: SocketStateChange.Transition
    switch UInt32(record.transition) {
    case FS_FLOW_BEGIN.rawValue:
      transition = .established
    case FS_FLOW_END.rawValue:
      let side: Side = record.terminated_by == UInt8(FS_SIDE_REMOTE.rawValue) ? .remote : .local
      switch UInt32(record.close_reason) {
      case FS_CLOSE_FIN.rawValue: transition = .ended(.fin, by: side)
      case FS_CLOSE_RST.rawValue: transition = .ended(.rst, by: side)
      case FS_CLOSE_REFUSED.rawValue: transition = .ended(.refused, by: side)
      case FS_CLOSE_TIMEOUT.rawValue: transition = .ended(.timeout, by: side)
      default: return nil
      }
    default:
      return nil
    }
    var process: ProcessIdentity?
    if record.owner_known != 0 {
      process = ProcessIdentity(
        pid: record.owner_pid, uid: record.owner_uid, command: command(bytes, at: flowOwnerCommandOffset))
    }
    // A dual-stack socket sees IPv4 peers as ::ffff:a.b.c.d; the packets themselves are IPv4.
    return SocketStateChange(
      timestamp: header.timestamp, transition: transition, direction: direction,
      local: Endpoint(header.source.address.unmappingIPv4, header.source.port),
      remote: Endpoint(header.destination.address.unmappingIPv4, header.destination.port),
      cgroupID: header.cgroupID, socketCookie: record.header.socket_cookie,
      networkNamespace: record.header.netns_cookie, process: process,
      volume: record.volume_known == 0
        ? nil
        : FlowVolume(
          bytesSent: record.bytes_sent, bytesReceived: record.bytes_received,
          packetsSent: UInt64(record.data_segments_sent), packetsReceived: UInt64(record.data_segments_received),
          retransmits: UInt64(record.retransmits), rttMicroseconds: UInt64(record.rtt_us)))
  }

  static let updateRecordSize = MemoryLayout<fs_update_record>.size

  /// Decodes a record of a socket walk; nil for a wrong kind, size or family. Inlined into the
  /// walk's record handler, so that the change is built where the batch keeps it, not copied there.
  @inline(__always)
  static func decodeUpdate(_ bytes: UnsafeRawBufferPointer, clockOffset: Int64) -> SocketStateChange? {
    guard bytes.count >= updateRecordSize, bytes.loadUnaligned(as: UInt32.self) == FS_RECORD_UPDATE.rawValue
    else { return nil }
    let record = bytes.loadUnaligned(as: fs_update_record.self)
    guard let header = Header(record.header, bytes, clockOffset: clockOffset) else { return nil }
    return SocketStateChange(
      timestamp: header.timestamp, transition: .open(preexisting: record.follow != UInt8(FS_FOLLOW_ALREADY.rawValue)),
      direction: record.direction == UInt8(FS_DIRECTION_INCOMING.rawValue) ? .incoming : .outgoing,
      local: Endpoint(header.source.address.unmappingIPv4, header.source.port),
      remote: Endpoint(header.destination.address.unmappingIPv4, header.destination.port),
      cgroupID: header.cgroupID, socketCookie: record.header.socket_cookie,
      networkNamespace: record.header.netns_cookie, process: nil,
      volume: FlowVolume(
        bytesSent: record.bytes_sent, bytesReceived: record.bytes_received,
        packetsSent: UInt64(record.data_segments_sent), packetsReceived: UInt64(record.data_segments_received),
        retransmits: UInt64(record.retransmits), rttMicroseconds: UInt64(record.rtt_us)))
  }

  fileprivate static func address(_ bytes: UnsafeRawBufferPointer, at offset: Int, family: UInt8) -> IPAddress? {
    switch family {
    case afInet:
      return .v4(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
    case afInet6:
      return .v6(
        high: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
        low: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
    default:
      return nil
    }
  }

  private static func command(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> String {
    let field = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + Int(FS_COMM_LEN)])
    let length = field.firstIndex(of: 0) ?? field.count
    return String(decoding: UnsafeRawBufferPointer(rebasing: field[0..<length]), as: UTF8.self)
  }
}
