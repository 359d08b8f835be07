#if canImport(Glibc)
  import Glibc
#endif

/// The on-disk shape of one spooled record: a header with its own checksum, then the payload.
///
///     magic "FSR2" (4) · payload length (u32) · sequence (u64) · rank (u8) · payload CRC-32C (u32)
///     · header CRC-32C (u32, over the 21 bytes before it) · payload
///
/// little-endian. The header's checksum lets a reader that lost its place (a flipped length, a
/// stretch overwritten) search forward for the next header and trust the length it finds there.
/// Version 1 ("FSR1", no header checksum, one CRC over sequence, rank and payload) is still read,
/// so that a spool left by an older sensor is delivered; only version 2 is written.
enum SegmentFormat {
  static let magic: UInt32 = 0x3252_5346  // "FSR2" as it reads on disk
  static let legacyMagic: UInt32 = 0x3152_5346  // "FSR1"
  static let headerSize = 25
  static let legacyHeaderSize = 21
  /// Larger lengths are damage, not records: no alert comes near it.
  static let maximumPayload = 4 << 20
  /// Sequences past this are damage: at a billion records a second it takes 146 years to reach, and
  /// it leaves room above for `+ 1` wherever a sequence is stepped.
  static let maximumSequence: UInt64 = 1 << 62

  /// Appends one record's frame to `bytes` (a batch of appends, or a segment being rewritten).
  static func append(sequence: UInt64, rank: UInt8, payload: ArraySlice<UInt8>, to bytes: inout [UInt8]) {
    bytes.reserveCapacity(bytes.count + headerSize + payload.count)
    let start = bytes.count
    append(magic, to: &bytes)
    append(UInt32(payload.count), to: &bytes)
    append(sequence, to: &bytes)
    bytes.append(rank)
    var payloadCRC = CRC32C()
    payload.withUnsafeBytes { payloadCRC.update($0) }
    append(payloadCRC.value, to: &bytes)
    var headerCRC = CRC32C()
    bytes[start...].withUnsafeBytes { headerCRC.update($0) }
    append(headerCRC.value, to: &bytes)
    bytes += payload
  }

  static func append(sequence: UInt64, rank: UInt8, payload: [UInt8], to bytes: inout [UInt8]) {
    append(sequence: sequence, rank: rank, payload: payload[...], to: &bytes)
  }

  struct Header {
    var size: Int
    var payloadLength: Int
    var sequence: UInt64
    var rank: UInt8
    /// Version 2: the header's own checksum held, so its length is trusted.
    var verified: Bool
  }

  /// The header at the start of `bytes` (at least `headerSize` bytes, or the rest of the file), or nil
  /// when it is not one: a wrong magic, a failed header checksum, a field out of range.
  static func header(_ bytes: UnsafeRawBufferPointer) -> Header? {
    guard bytes.count >= legacyHeaderSize else { return nil }
    let length = Int(read32(bytes, 4))
    switch read32(bytes, 0) {
    case magic:
      guard bytes.count >= headerSize else { return nil }
      var crc = CRC32C()
      crc.update(UnsafeRawBufferPointer(rebasing: bytes[0..<21]))
      guard crc.value == read32(bytes, 21) else { return nil }
      return inRange(
        Header(size: headerSize, payloadLength: length, sequence: read64(bytes, 8), rank: bytes[16], verified: true))
    case legacyMagic:
      return inRange(
        Header(
          size: legacyHeaderSize, payloadLength: length, sequence: read64(bytes, 12), rank: bytes[20], verified: false))
    default:
      return nil
    }
  }

  private static func inRange(_ header: Header) -> Header? {
    guard header.payloadLength <= maximumPayload, header.rank < Spool.ranks,
      header.sequence >= 1, header.sequence <= maximumSequence
    else { return nil }
    return header
  }

  /// Whether the payload after `header` (`frame` is the header and the payload) is the one it was written with.
  static func payloadHolds(_ header: Header, frame: UnsafeRawBufferPointer) -> Bool {
    let payload = UnsafeRawBufferPointer(rebasing: frame[header.size..<header.size + header.payloadLength])
    var crc = CRC32C()
    if header.verified {
      crc.update(payload)
      return crc.value == read32(frame, 17)
    }
    withUnsafeBytes(of: header.sequence.littleEndian) { crc.update($0) }
    crc.update(byte: header.rank)
    crc.update(payload)
    return crc.value == read32(frame, 8)
  }

  /// Where the next possible header starts in `bytes` (either version's magic), or nil.
  static func nextMagic(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
    guard let base = bytes.baseAddress else { return nil }
    var position = start
    while position + 4 <= bytes.count {
      guard let found = memchr(base + position, 0x46, bytes.count - 3 - position) else { return nil }
      position = base.distance(to: UnsafeRawPointer(found))
      let word = read32(bytes, position)
      if word == magic || word == legacyMagic { return position }
      position += 1
    }
    return nil
  }

  private static func append<Value: FixedWidthInteger>(_ value: Value, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
  }

  static func read32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
    UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
  }

  static func read64(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
    UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
  }
}
