extension Swift.Duration {
  /// The duration in seconds as a `Double`, for a log line, a metric or a growth estimate.
  public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
