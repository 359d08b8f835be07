import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// The `committed` file: `FSC2 COMMITTED SENT CHECKSUM\n`, the last record the receiver accepted, the
/// last one handed to it, and the CRC-32C (8 hex digits) of `COMMITTED SENT`. Version 1
/// (`COMMITTED SENT\n`, no checksum) is still read when it parses exactly and is in range.
enum CommittedFile {
  enum State: Equatable {
    case missing
    case valid(committed: UInt64, sent: UInt64)
    /// Unreadable, damaged or out of range: why, for the log.
    case damaged(String)
  }

  static let tag = "FSC2"
  /// Longer files are damage: the longest valid one is under 60 bytes.
  static let maximumSize = 128

  static func text(committed: UInt64, sent: UInt64) -> [UInt8] {
    let numbers = "\(committed) \(sent)"
    return Array("\(tag) \(numbers) \(hex(checksum(numbers)))\n".utf8)
  }

  /// Reads the file without following a link or blocking on a FIFO, and without trusting its size.
  static func read(_ path: FilePath) -> State {
    let descriptor: FileDescriptor
    do {
      descriptor = try FileDescriptor.open(path, .readOnly, options: [.noFollow, .nonBlocking, .closeOnExec])
    } catch Errno.noSuchFileOrDirectory {
      return .missing
    } catch {
      return .damaged("cannot be opened (\(error))")
    }
    var contents = [UInt8](repeating: 0, count: maximumSize + 1)
    var status = stat()
    let result: Result<Int, any Error>
    if fstat(descriptor.rawValue, &status) != 0 {
      result = .failure(Errno(rawValue: errno))
    } else if status.st_mode & S_IFMT != S_IFREG {
      result = .failure(SegmentReader.NotARegularFile())
    } else {
      result = Result { try contents.withUnsafeMutableBytes { try descriptor.read(fromAbsoluteOffset: 0, into: $0) } }
    }
    do { try descriptor.close() } catch { return .damaged("cannot be closed (\(error))") }
    switch result {
    case .failure(let error): return .damaged("cannot be read (\(error))")
    case .success(let count) where count > maximumSize: return .damaged("is longer than \(maximumSize) bytes")
    case .success(let count): return parse(contents[..<count])
    }
  }

  static func parse(_ bytes: ArraySlice<UInt8>) -> State {
    guard bytes.last == UInt8(ascii: "\n"), bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f || $0 == 0x0a }) else {
      return .damaged("is not one line of text")
    }
    let fields = bytes.dropLast().split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
      .map { String(decoding: $0, as: UTF8.self) }
    switch fields.count {
    case 4 where fields[0] == tag:
      guard fields[3] == hex(checksum("\(fields[1]) \(fields[2])")) else { return .damaged("fails its checksum") }
      return numbers(fields[1], fields[2])
    case 2:
      return numbers(fields[0], fields[1])
    default:
      return .damaged("is not in the form \"\(tag) COMMITTED SENT CHECKSUM\"")
    }
  }

  private static func numbers(_ committedText: String, _ sentText: String) -> State {
    let decimal = { (text: String) in
      !text.isEmpty && text.utf8.count <= 20 && text.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }
    guard decimal(committedText), decimal(sentText), let committed = UInt64(committedText), let sent = UInt64(sentText)
    else { return .damaged("holds something other than two numbers") }
    guard committed <= SegmentFormat.maximumSequence, sent <= SegmentFormat.maximumSequence else {
      return .damaged("holds a sequence past \(SegmentFormat.maximumSequence)")
    }
    return .valid(committed: committed, sent: max(sent, committed))
  }

  private static func checksum(_ text: String) -> UInt32 {
    var crc = CRC32C()
    Array(text.utf8).withUnsafeBytes { crc.update($0) }
    return crc.value
  }

  private static func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
  }
}
