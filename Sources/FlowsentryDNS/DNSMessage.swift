import FlowsentryCore

/// A parsed DNS message (question or answer): only what matching, the cache and the
/// `net_packet_dns` event need.
public struct DNSMessage: Equatable, Sendable {
  public enum RecordData: Equatable, Sendable {
    case address(IPAddress)
    case canonicalName(String)
  }

  public struct Answer: Equatable, Sendable {
    public var name: String
    public var timeToLive: UInt32
    public var data: RecordData
  }

  public var id: UInt16
  public var isResponse: Bool
  public var responseCode: UInt8
  /// The TC bit: the server cut the message itself.
  public var isTruncated: Bool
  public var questions: [String]
  /// The type (QTYPE) of each question, in order.
  public var questionTypes: [UInt16] = []
  /// A, AAAA and CNAME answers of class IN; other types are skipped.
  public var answers: [Answer]
  /// Answers that could not be read because the bytes ran out (a message cut short in transit or by the capture cap).
  public var incomplete: Bool
}

/// Why a message was rejected; each is counted by the caller as malformed.
public enum DNSParseError: Error, Equatable, Sendable {
  case truncatedHeader
  case truncatedSection
  case badLabel
  case nameTooLong
  case compressionLoop
  case pointerOutOfBounds
}

/// RFC 1035 message parsing for hostile input: every read is bounds-checked, compression pointers
/// must point strictly backwards (so they cannot loop), names are at most 255 bytes, and the work per
/// message is bounded by its size.
public enum DNSParser {
  static let maximumNameLength = 255
  /// Records looked at per section at most, whatever the header's counts claim.
  static let maximumRecordsPerSection = 256

  public static func parse(_ bytes: UnsafeRawBufferPointer) throws(DNSParseError) -> DNSMessage {
    var reader = Reader(bytes: bytes)
    guard bytes.count >= 12 else { throw .truncatedHeader }
    let id = reader.u16(at: 0)
    let flags = reader.u16(at: 2)
    let questionCount = Int(reader.u16(at: 4))
    let answerCount = Int(reader.u16(at: 6))
    reader.offset = 12

    var message = DNSMessage(
      id: id, isResponse: flags & 0x8000 != 0, responseCode: UInt8(flags & 0x000f),
      isTruncated: flags & 0x0200 != 0, questions: [], answers: [], incomplete: false)

    for _ in 0..<min(questionCount, maximumRecordsPerSection) {
      let name = try reader.name()
      guard reader.skip(4) else { throw .truncatedSection }
      message.questions.append(name)
      message.questionTypes.append(reader.u16(at: reader.offset - 4))
    }
    for _ in 0..<min(answerCount, maximumRecordsPerSection) {
      do {
        if let answer = try reader.answer() { message.answers.append(answer) }
      } catch .truncatedSection {
        // A message cut short keeps the answers read so far.
        message.incomplete = true
        break
      }
    }
    return message
  }

  public static func parse(_ bytes: [UInt8]) throws(DNSParseError) -> DNSMessage {
    do {
      return try bytes.withUnsafeBytes { buffer in try parse(buffer) }
    } catch let error as DNSParseError {
      throw error
    } catch {
      fatalError("unreachable: parse throws DNSParseError only")
    }
  }

  struct Reader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    func u16(at position: Int) -> UInt16 {
      UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
    }

    func u32(at position: Int) -> UInt32 {
      UInt32(u16(at: position)) << 16 | UInt32(u16(at: position + 2))
    }

    mutating func skip(_ count: Int) -> Bool {
      guard offset + count <= bytes.count else { return false }
      offset += count
      return true
    }

    mutating func answer() throws(DNSParseError) -> DNSMessage.Answer? {
      let name = try self.name()
      guard offset + 10 <= bytes.count else { throw .truncatedSection }
      let type = u16(at: offset)
      let recordClass = u16(at: offset + 2)
      let ttl = u32(at: offset + 4)
      let length = Int(u16(at: offset + 8))
      offset += 10
      guard offset + length <= bytes.count else { throw .truncatedSection }
      let dataStart = offset
      offset += length
      // TTLs with the top bit set are treated as 0 (RFC 2181, 8).
      let timeToLive = ttl & 0x8000_0000 != 0 ? 0 : ttl
      guard recordClass == 1 else { return nil }
      switch (type, length) {
      case (1, 4):
        let address = IPAddress.v4(u32(at: dataStart))
        return .init(name: name, timeToLive: timeToLive, data: .address(address))
      case (28, 16):
        let high = UInt64(u32(at: dataStart)) << 32 | UInt64(u32(at: dataStart + 4))
        let low = UInt64(u32(at: dataStart + 8)) << 32 | UInt64(u32(at: dataStart + 12))
        return .init(name: name, timeToLive: timeToLive, data: .address(.v6(high: high, low: low)))
      case (5, _):
        var target = Reader(bytes: bytes, offset: dataStart)
        let canonical = try target.name()
        guard target.offset <= dataStart + length else { throw .badLabel }
        return .init(name: name, timeToLive: timeToLive, data: .canonicalName(canonical))
      default:
        return nil
      }
    }

    /// Reads a possibly compressed name at `offset`, lower-cased, without the trailing dot;
    /// bytes outside printable ASCII, dots and backslashes inside labels are escaped as \DDD
    /// (``DNSNameText``, which rule test events share).
    mutating func name() throws(DNSParseError) -> String {
      var text: [UInt8] = []
      var position = offset
      var resumeAt: Int?
      var encodedLength = 1  // the root label
      // A pointer must go strictly back from where the current run of labels began, so a chain of
      // pointers strictly decreases and cannot loop.
      var lowestStart = position
      while true {
        guard position < bytes.count else { throw .truncatedSection }
        let length = Int(bytes[position])
        switch length & 0xc0 {
        case 0x00:
          if length == 0 {
            offset = resumeAt ?? position + 1
            return String(decoding: text, as: UTF8.self)
          }
          guard position + 1 + length <= bytes.count else { throw .truncatedSection }
          encodedLength += length + 1
          guard encodedLength <= DNSParser.maximumNameLength else { throw .nameTooLong }
          if !text.isEmpty { text.append(UInt8(ascii: ".")) }
          for byte in bytes[(position + 1)..<(position + 1 + length)] {
            DNSNameText.appendEscaped(byte, to: &text)
          }
          position += 1 + length
        case 0xc0:
          guard position + 1 < bytes.count else { throw .truncatedSection }
          let target = (length & 0x3f) << 8 | Int(bytes[position + 1])
          guard target < bytes.count else { throw .pointerOutOfBounds }
          guard target < lowestStart else { throw .compressionLoop }
          if resumeAt == nil { resumeAt = position + 2 }
          lowestStart = target
          position = target
        default:
          // 0x40 and 0x80 are extended label types (RFC 6891 retired them): not names we can read.
          throw .badLabel
        }
      }
    }
  }
}
