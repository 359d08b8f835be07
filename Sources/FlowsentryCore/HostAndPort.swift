/// A host and a port written as text: `HOST:PORT`, with an IPv6 address in brackets
/// (`[2001:db8::1]:9464`, RFC 3986 section 3.2.2).
public enum HostAndPort {
  /// `host` as it goes before `:port`: bracketed when it is an IPv6 address.
  public static func bracketed(_ host: String) -> String {
    host.contains(":") ? "[\(host)]" : host
  }

  /// `host` and `port` as one text.
  public static func text(host: String, port: Int) -> String { "\(bracketed(host)):\(port)" }

  /// `HOST:PORT` or `[IPV6]:PORT` as a host (brackets removed) and a port 0–65535; nil when it
  /// is neither.
  public static func parse(_ text: String) -> (host: String, port: Int)? {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
      (0...65_535).contains(port)
    else { return nil }
    var host = text[..<colon]
    if host.hasPrefix("[") {
      guard host.hasSuffix("]") else { return nil }
      host = host.dropFirst().dropLast()
    }
    guard !host.isEmpty else { return nil }
    return (String(host), port)
  }
}
