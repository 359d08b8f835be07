import CFlowsentryPcap
import Foundation

/// Why a capture file cannot be read at all, worded for the analyst.
public struct CaptureFileError: Error, CustomStringConvertible, Sendable {
  public var path: String
  public var message: String
  public var description: String { "\(path): \(message)" }
}

/// One frame of a capture file, valid only during the call that hands it over.
public struct CapturedFrame {
  /// Nanoseconds since the Unix epoch, as the capture recorded it, saturated to
  /// `CaptureFile.timestampRange` (see there).
  public var timestamp: Int64
  /// Whether the recorded time was outside `CaptureFile.timestampRange` and was clamped to it.
  public var timestampClamped: Bool
  public var bytes: UnsafeRawBufferPointer
  /// The frame's length on the wire; more than `bytes.count` when the snaplen cut it.
  public var wireLength: Int
  /// 1-based, as Wireshark numbers them.
  public var number: Int
}

/// A pcap or pcapng file read through libpcap, with nanosecond timestamps, one frame at a time.
/// libpcap reads a pcapng file whose interfaces share one link type; it refuses one that mixes them,
/// which is reported as the file's read error.
///
/// Of the numbers in the file, libpcap checks block and capture lengths against the snapshot
/// length; a frame's time (with its interface's `if_tsresol` and `if_tsoffset`) is the file's
/// choice, so it saturates: clamped to `timestampRange` and counted, never trapping.
public final class CaptureFile {
  /// 1970 to 2116 (0 to 2^62 ns): any two times are a representable distance apart, and a time
  /// plus a DNS TTL or a rule window still fits in 64 bits.
  public static let timestampRange: ClosedRange<Int64> = 0...(1 << 62)

  public let path: String
  public let linkType: Int32
  /// The file's size in bytes, for progress.
  public let size: Int64
  private let handle: OpaquePointer

  public init(path: String) throws(CaptureFileError) {
    self.path = path
    var error = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
    guard let opened = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &error)
    else {
      let message = error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
      throw CaptureFileError(path: path, message: String(decoding: message, as: UTF8.self))
    }
    handle = opened
    linkType = pcap_datalink(opened)
    size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0
  }

  deinit { pcap_close(handle) }

  /// A record's time in nanoseconds (with nanosecond precision, tv_usec holds nanoseconds),
  /// saturated to `timestampRange`; whether it had to be.
  static func nanoseconds(seconds: Int64, fraction: Int64) -> (Int64, clamped: Bool) {
    let (scaled, scaleOverflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    let (sum, sumOverflow) = scaled.addingReportingOverflow(fraction)
    let exact: Int64
    if scaleOverflow {
      exact = seconds < 0 ? .min : .max
    } else if sumOverflow {
      exact = fraction < 0 ? .min : .max
    } else {
      exact = sum
    }
    let clamped = min(max(exact, timestampRange.lowerBound), timestampRange.upperBound)
    return (clamped, clamped != exact || scaleOverflow || sumOverflow)
  }

  /// Bytes of the file read so far.
  public var bytesRead: Int64 {
    guard let file = pcap_file(handle) else { return 0 }
    return Int64(ftello(file))
  }

  /// Hands every frame to `body`, in order. Returns nil at the end of the file, or the error that
  /// stopped the read (a truncated last packet, a corrupt block) after the frames before it.
  public func forEachFrame(_ body: (CapturedFrame) -> Void) -> String? {
    var number = 0
    while true {
      var header: UnsafeMutablePointer<pcap_pkthdr>?
      var data: UnsafePointer<UInt8>?
      switch pcap_next_ex(handle, &header, &data) {
      case 1:
        guard let header, let data else { continue }
        number += 1
        let record = header.pointee
        let (timestamp, clamped) = Self.nanoseconds(
          seconds: Int64(record.ts.tv_sec), fraction: Int64(record.ts.tv_usec))
        body(
          CapturedFrame(
            timestamp: timestamp, timestampClamped: clamped,
            bytes: UnsafeRawBufferPointer(start: data, count: Int(record.caplen)), wireLength: Int(record.len),
            number: number))
      case PCAP_ERROR_BREAK:
        return nil
      default:
        return "after packet \(number): " + String(cString: pcap_geterr(handle))
      }
    }
  }
}
