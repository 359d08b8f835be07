import CFlowsentryRecord
import FlowsentryCore

/// Swift's reading of the records defined in bpf/include/flowsentry_record.h.
///
/// Runs once per record on the reader thread, so it reads fields at their offsets with plain
/// loads: no generic collection code, no allocation (a comm of up to 15 bytes is a small string).
enum RecordDecoder {
  static let tcpRecordSize = MemoryLayout<fs_tcp_record>.size

  private static let sourceAddressOffset = MemoryLayout<fs_tcp_record>.offset(of: \.header.source_address)!
  private static let destinationAddressOffset = MemoryLayout<fs_tcp_record>.offset(of: \.header.destination_address)!
  private static let ownerCommandOffset = MemoryLayout<fs_tcp_record>.offset(of: \.owner_comm)!
  private static let afInet: UInt8 = 2
  private static let afInet6: UInt8 = 10

  /// Decodes one ring-buffer record; nil for a record of another kind or a wrong size.
  static func decodeTCP(_ bytes: UnsafeRawBufferPointer, clockOffset: Int64) -> TCPPacketObservation? {
    guard bytes.count >= tcpRecordSize else { return nil }
    let record = bytes.loadUnaligned(as: fs_tcp_record.self)
    guard record.header.kind == FS_RECORD_TCP.rawValue else { return nil }
    let family = record.header.family
    guard let source = address(bytes, at: sourceAddressOffset, family: family),
      let destination = address(bytes, at: destinationAddressOffset, family: family)
    else { return nil }
    var process: ProcessIdentity?
    if record.owner_known != 0 {
      process = ProcessIdentity(pid: record.owner_pid, uid: record.owner_uid, command: command(bytes))
    }
    return TCPPacketObservation(
      timestamp: Int64(bitPattern: record.header.timestamp_ns) &+ clockOffset,
      hook: record.header.hook == UInt8(FS_HOOK_EGRESS.rawValue) ? .egress : .ingress,
      source: Endpoint(source, record.header.source_port),
      destination: Endpoint(destination, record.header.destination_port),
      flags: TCPFlags(rawValue: record.tcp_flags),
      sequence: record.sequence,
      acknowledgment: record.acknowledgment,
      socketState: record.socket_state == 0 ? nil : record.socket_state,
      cgroupID: record.header.cgroup_id,
      socketCookie: record.header.socket_cookie,
      process: process)
  }

  private static let dnsRecordSize = MemoryLayout<fs_dns_record>.size
  private static let dnsPayloadOffset = MemoryLayout<fs_dns_record>.offset(of: \.payload)!

  /// Decodes one record of either kind; nil for an unknown kind or a wrong size.
  static func decode(_ bytes: UnsafeRawBufferPointer, clockOffset: Int64) -> CapturedRecord? {
    guard bytes.count >= 4 else { return nil }
    switch bytes.loadUnaligned(as: UInt32.self) {
    case FS_RECORD_TCP.rawValue: return decodeTCP(bytes, clockOffset: clockOffset).map(CapturedRecord.tcp)
    case FS_RECORD_DNS.rawValue: return decodeDNS(bytes, clockOffset: clockOffset).map(CapturedRecord.dns)
    default: return nil
    }
  }

  static func decodeDNS(_ bytes: UnsafeRawBufferPointer, clockOffset: Int64) -> DNSPacketObservation? {
    guard bytes.count >= dnsRecordSize else { return nil }
    let record = bytes.loadUnaligned(as: fs_dns_record.self)
    let family = record.header.family
    let length = Int(record.payload_length)
    guard length <= Int(FS_DNS_MAX_PAYLOAD),
      let source = address(bytes, at: sourceAddressOffset, family: family),
      let destination = address(bytes, at: destinationAddressOffset, family: family)
    else { return nil }
    return DNSPacketObservation(
      timestamp: Int64(bitPattern: record.header.timestamp_ns) &+ clockOffset,
      hook: record.header.hook == UInt8(FS_HOOK_EGRESS.rawValue) ? .egress : .ingress,
      source: Endpoint(source, record.header.source_port),
      destination: Endpoint(destination, record.header.destination_port),
      transport: record.transport == 6 ? .tcp : .udp,
      cgroupID: record.header.cgroup_id,
      messageLength: Int(record.message_length),
      payload: Array(UnsafeRawBufferPointer(rebasing: bytes[dnsPayloadOffset..<dnsPayloadOffset + length])))
  }

  private static func address(_ bytes: UnsafeRawBufferPointer, at offset: Int, family: UInt8) -> IPAddress? {
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

  private static func command(_ bytes: UnsafeRawBufferPointer) -> String {
    let field = UnsafeRawBufferPointer(rebasing: bytes[ownerCommandOffset..<ownerCommandOffset + Int(FS_COMM_LEN)])
    let length = field.firstIndex(of: 0) ?? field.count
    return String(decoding: UnsafeRawBufferPointer(rebasing: field[0..<length]), as: UTF8.self)
  }
}
