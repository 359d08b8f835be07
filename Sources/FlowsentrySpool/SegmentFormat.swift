/// The on-disk shape of one spooled record: a fixed header, then the payload.
///
///     magic "FSR1" (4) · payload length (u32) · CRC-32C (u32) · sequence (u64) · rank (u8) · payload
///
/// little-endian, the checksum over sequence, rank and payload. A record is good only when its magic,
/// a sane length and its checksum all hold; a segment is read up to its first record that is not.
enum SegmentFormat {
  static let magic: UInt32 = 0x3152_5346  // "FSR1" as it reads on disk
  static let headerSize = 21
  /// Larger lengths are damage, not records: no alert comes near it.
  static let maximumPayload = 4 << 20

  /// Appends one record's frame to `bytes` (a batch of appends, or a segment being rewritten).
  static func append(sequence: UInt64, rank: UInt8, payload: [UInt8], to bytes: inout [UInt8]) {
    bytes.reserveCapacity(bytes.count + headerSize + payload.count)
    append(magic, to: &bytes)
    append(UInt32(payload.count), to: &bytes)
    append(checksum(sequence: sequence, rank: rank, payload: payload[...]), to: &bytes)
    append(sequence, to: &bytes)
    bytes.append(rank)
    bytes += payload
  }

  struct Header {
    var payloadLength: Int
    var checksum: UInt32
    var sequence: UInt64
    var rank: UInt8
  }

  /// The header at the start of `bytes`, or nil when the magic or the length is wrong.
  static func header(_ bytes: ArraySlice<UInt8>) -> Header? {
    guard bytes.count >= headerSize, read32(bytes, at: 0) == magic else { return nil }
    let length = Int(read32(bytes, at: 4))
    guard length <= maximumPayload else { return nil }
    return Header(
      payloadLength: length, checksum: read32(bytes, at: 8),
      sequence: UInt64(read32(bytes, at: 12)) | UInt64(read32(bytes, at: 16)) << 32,
      rank: bytes[bytes.startIndex + 20])
  }

  static func checksum(sequence: UInt64, rank: UInt8, payload: ArraySlice<UInt8>) -> UInt32 {
    var crc = CRC32C()
    withUnsafeBytes(of: sequence.littleEndian) { crc.update($0) }
    crc.update(byte: rank)
    payload.withUnsafeBytes { crc.update($0) }
    return crc.value
  }

  private static func append<Value: FixedWidthInteger>(_ value: Value, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
  }

  private static func read32(_ bytes: ArraySlice<UInt8>, at offset: Int) -> UInt32 {
    let start = bytes.startIndex + offset
    return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[start + $1]) << (8 * $1) }
  }
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum iSCSI and ext4 use: it catches
/// the torn and zero-filled tails that a power loss leaves. Slicing-by-8: eight table lookups per
/// eight bytes, as it runs on every record appended and read.
struct CRC32C {
  /// tables[k][b]: the CRC of byte b followed by k zero bytes.
  private static let tables: [UInt32] = {
    var tables = [UInt32](repeating: 0, count: 8 * 256)
    for index in 0..<256 {
      tables[index] = (0..<8).reduce(UInt32(index)) { crc, _ in crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    }
    for slice in 1..<8 {
      for index in 0..<256 {
        let previous = tables[(slice - 1) * 256 + index]
        tables[slice * 256 + index] = (previous >> 8) ^ tables[Int(previous & 0xff)]
      }
    }
    return tables
  }()

  private var state: UInt32 = 0xffff_ffff

  mutating func update(_ bytes: UnsafeRawBufferPointer) {
    guard var pointer = bytes.baseAddress else { return }
    var remaining = bytes.count
    var crc = state
    Self.tables.withUnsafeBufferPointer { table in
      let t = table.baseAddress!
      while remaining >= 8 {
        let low = UInt32(littleEndian: pointer.loadUnaligned(as: UInt32.self)) ^ crc
        let high = UInt32(littleEndian: (pointer + 4).loadUnaligned(as: UInt32.self))
        crc =
          t[7 * 256 + Int(low & 0xff)] ^ t[6 * 256 + Int((low >> 8) & 0xff)]
          ^ t[5 * 256 + Int((low >> 16) & 0xff)] ^ t[4 * 256 + Int(low >> 24)]
          ^ t[3 * 256 + Int(high & 0xff)] ^ t[2 * 256 + Int((high >> 8) & 0xff)]
          ^ t[1 * 256 + Int((high >> 16) & 0xff)] ^ t[Int(high >> 24)]
        pointer += 8
        remaining -= 8
      }
      while remaining > 0 {
        crc = t[Int((crc ^ UInt32(pointer.load(as: UInt8.self))) & 0xff)] ^ (crc >> 8)
        pointer += 1
        remaining -= 1
      }
    }
    state = crc
  }

  mutating func update(byte: UInt8) {
    withUnsafeBytes(of: byte) { update($0) }
  }

  var value: UInt32 { state ^ 0xffff_ffff }
}
