import CFlowsentryRecord
import FlowsentryCore

/// Swift's reading of the records defined in bpf/include/flowsentry_record.h.
enum RecordDecoder {
  static let tcpRecordSize = MemoryLayout<fs_tcp_record>.size

  /// Decodes one ring-buffer record; nil for a record of another kind or a wrong size.
  static func decodeTCP(_ bytes: UnsafeRawBufferPointer, clockOffset: Int64) -> TCPPacketObservation? {
    guard bytes.count >= tcpRecordSize else { return nil }
    let record = bytes.loadUnaligned(as: fs_tcp_record.self)
    guard record.header.kind == FS_RECORD_TCP.rawValue else { return nil }
    let family = record.header.family
    guard let source = address(record.header.source_address, family: family),
      let destination = address(record.header.destination_address, family: family)
    else { return nil }
    var process: ProcessIdentity?
    if record.owner_known != 0 {
      process = ProcessIdentity(pid: record.owner_pid, uid: record.owner_uid, command: command(record.owner_comm))
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

  static func recordKind(_ bytes: UnsafeRawBufferPointer) -> UInt32? {
    bytes.count >= 4 ? bytes.loadUnaligned(as: UInt32.self) : nil
  }

  private static let afInet: UInt8 = 2
  private static let afInet6: UInt8 = 10

  private static func address<Tuple>(_ raw: Tuple, family: UInt8) -> IPAddress? {
    withUnsafeBytes(of: raw) { bytes in
      switch family {
      case afInet: return IPAddress(bytes: bytes.prefix(4))
      case afInet6: return IPAddress(bytes: bytes)
      default: return nil
      }
    }
  }

  private static func command<Tuple>(_ raw: Tuple) -> String {
    withUnsafeBytes(of: raw) { bytes in
      String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
  }
}
