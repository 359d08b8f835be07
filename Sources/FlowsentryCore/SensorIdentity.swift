/// A sensor's identity, `host:` in the configuration file or `--host`: part of every alert id and
/// NATS subject, carried by every event (`host`). One rule for both places that take it.
public enum SensorIdentity {
  public static let maximumBytes = 253

  /// Why `name` cannot name a sensor, or nil when it can: 1 to 253 bytes of UTF-8, no space, no
  /// control character (C0 or DEL).
  public static func problem(_ name: String) -> String? {
    guard !name.isEmpty, name.utf8.count <= maximumBytes,
      name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F })
    else {
      return "host takes a name of 1 to \(maximumBytes) bytes without spaces or control characters"
    }
    return nil
  }
}

extension SensorEvent {
  /// The same event, seen by the sensor `host`.
  public func withHost(_ host: String) -> SensorEvent {
    switch self {
    case .flow(var event):
      event.host = host
      return .flow(event)
    case .dns(var event):
      event.host = host
      return .dns(event)
    }
  }
}
