import FlowsentryTestSupport
import Foundation

/// An NKey user made without NATS tooling: openssl makes the Ed25519 key, and the NKey text
/// encoding (a prefix byte, the 32 key bytes, CRC-16/XMODEM little-endian, base32 without
/// padding) is written here. `seed` is what an `nkey_seed_file` holds, `publicKey` what a
/// server's `nkey:` user and the output's `nkey=` take.
struct NKeyPair {
  var seed: String
  var publicKey: String

  /// The prefix byte of the NKey encoding of a seed.
  static let seedPrefix: UInt8 = 18 << 3

  /// Whose key: the prefix byte of its public key's encoding (its first letter: O, A, U).
  enum Kind: UInt8 {
    case `operator` = 112  // 14 << 3
    case account = 0
    case user = 160  // 20 << 3
  }

  /// The Ed25519 key file openssl wrote, for signing JWTs.
  var privateKeyFile = ""

  /// A fresh key pair; its files are written to `directory` (removed by the caller).
  static func make(in directory: URL, name: String, kind: Kind = .user) throws -> NKeyPair {
    let key = directory.appendingPathComponent("\(name).der").path
    let script = """
      set -e
      openssl genpkey -algorithm ed25519 -outform DER -out '\(key)'
      openssl pkey -in '\(key)' -inform DER -pubout -outform DER -out '\(key).pub'
      """
    let result = try ChildProcess.run("/bin/sh", ["-c", script])
    guard result.termination == .exited(0) else {
      throw NATSServerError.notListening(0, "openssl failed (\(result.termination)): \(result.stderr)")
    }
    // Both DER forms end with the 32 raw bytes: the private key's seed, the public key.
    let privateDER = try [UInt8](Data(contentsOf: URL(fileURLWithPath: key)))
    let publicDER = try [UInt8](Data(contentsOf: URL(fileURLWithPath: key + ".pub")))
    guard privateDER.count >= 32, publicDER.count >= 32 else {
      throw NATSServerError.notListening(0, "openssl wrote a short Ed25519 key")
    }
    let seed = Array(privateDER.suffix(32))
    let publicKey = Array(publicDER.suffix(32))
    let prefix = kind.rawValue
    return NKeyPair(
      seed: encode([seedPrefix | (prefix >> 5), (prefix & 31) << 3] + seed),
      publicKey: encode([prefix] + publicKey), privateKeyFile: key)
  }

  static func encode(_ bytes: [UInt8]) -> String {
    let checksum = crc16(bytes)
    return base32(bytes + [UInt8(checksum & 0xFF), UInt8(checksum >> 8)])
  }

  /// CRC-16/XMODEM: polynomial 0x1021, initial value 0.
  static func crc16(_ bytes: [UInt8]) -> UInt16 {
    var crc: UInt16 = 0
    for byte in bytes {
      crc ^= UInt16(byte) << 8
      for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
    }
    return crc
  }

  /// RFC 4648 base32, upper case, without padding.
  static func base32(_ bytes: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    var text = ""
    var buffer: UInt32 = 0
    var bits = 0
    for byte in bytes {
      buffer = (buffer << 8) | UInt32(byte)
      bits += 8
      while bits >= 5 {
        text.append(alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
        bits -= 5
      }
    }
    if bits > 0 { text.append(alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
    return text
  }
}
