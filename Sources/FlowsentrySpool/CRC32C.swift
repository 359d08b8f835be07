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
