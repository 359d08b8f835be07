/// A host and a port written as text: `HOST:PORT`, with an IPv6 address in brackets
/// (`[2001:db8::1]:9464`, RFC 3986 section 3.2.2). The one parser of such text: outputs, NATS
/// servers, the metrics address and `aggregate --input` all read it here.
public enum HostAndPort {
  /// Why a text is not `HOST[:PORT]`.
  public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
  }

  /// `host` as it goes before `:port`: bracketed when it is an IPv6 address.
  public static func bracketed(_ host: String) -> String {
    host.contains(":") ? "[\(host)]" : host
  }

  /// `host` and `port` as one text.
  public static func text(host: String, port: Int) -> String { "\(bracketed(host)):\(port)" }

  /// `HOST:PORT` or `[IPV6]:PORT` as a host (brackets removed) and a port 0–65535; nil when it
  /// is neither.
  public static func parse(_ text: String) -> (host: String, port: Int)? {
    try? parse(authority: Substring(text), defaultPort: nil, ports: 0...65_535)
  }

  /// `HOST[:PORT]` or `[IPV6][:PORT]`: the host (brackets removed) and the port, `defaultPort` when
  /// none is written (an error when there is no default); a port outside `ports` is an error.
  public static func parse(authority: Substring, defaultPort: Int?, ports: ClosedRange<Int> = 1...65_535)
    throws(ParseError) -> (host: String, port: Int)
  {
    var host: Substring
    var portText: Substring?
    if authority.hasPrefix("[") {
      guard let close = authority.firstIndex(of: "]") else {
        throw ParseError(reason: "an IPv6 address needs its closing ']'")
      }
      host = authority[authority.index(after: authority.startIndex)..<close]
      let after = authority[authority.index(after: close)...]
      if after.hasPrefix(":") {
        portText = after.dropFirst()
      } else if !after.isEmpty {
        throw ParseError(reason: "bad address '\(authority)'")
      }
    } else if let colon = authority.lastIndex(of: ":") {
      host = authority[..<colon]
      portText = authority[authority.index(after: colon)...]
    } else {
      host = authority
    }
    guard !host.isEmpty else { throw ParseError(reason: "no host in '\(authority)'") }
    guard let portText else {
      guard let defaultPort else { throw ParseError(reason: "no port in '\(authority)'") }
      return (String(host), defaultPort)
    }
    guard let port = Int(portText), ports.contains(port) else {
      throw ParseError(reason: "port '\(portText)' is not \(ports.lowerBound) to \(ports.upperBound)")
    }
    return (String(host), port)
  }
}
