import Foundation
import NIOSSL

/// The TLS files of an output, loaded once at its start: a file that cannot be read is an error
/// of the configuration, never of a connection.
extension ForwardingOutput {
  static func makeTLSContext(_ configuration: OutputConfiguration) throws(OutputError) -> NIOSSLContext {
    do {
      return try NIOSSLContext(configuration: try makeTLSConfiguration(configuration))
    } catch let error as OutputError {
      throw error
    } catch {
      throw .tls(configuration.name, "\(error)")
    }
  }

  static func makeTLSConfiguration(_ configuration: OutputConfiguration) throws(OutputError)
    -> TLSConfiguration
  {
    var tls = TLSConfiguration.makeClientConfiguration()
    do {
      if let ca = configuration.tls.caFile {
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
      }
      if let certificate = configuration.tls.certificateFile {
        tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
      }
      if let key = configuration.tls.keyFile {
        tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
      }
      if !configuration.tls.verify { tls.certificateVerification = .none }
      return tls
    } catch {
      throw .tls(configuration.name, "\(error)")
    }
  }
}

public enum OutputError: Error, CustomStringConvertible, Equatable {
  case spool(String, String)
  case tls(String, String)
  /// A secret could not be read; the text names where it was looked for, never its value.
  case secret(String)

  public var description: String {
    switch self {
    case .spool(let name, let reason): return "output \(name): \(reason)"
    case .tls(let name, let reason): return "output \(name): TLS files: \(reason)"
    case .secret(let reason): return reason
    }
  }
}
