/// Bounds on what one typed list may hold, whatever its feeds say: a feed past them is a mistake or
/// an attack, and the sensor keeps running with what fit.
public enum IntelLimits {
  /// Indicators (records, duplicate blocks included) one list holds; a line past it is counted as
  /// malformed ("list is full") and skipped. 100M domains cost about 4 GB, far past any real feed
  /// (the largest public ones hold a few million), and the 2^32 record numbers stay far off.
  public static let maximumIndicatorsPerList = 100_000_000

  /// Distinct Zeek `meta.source` values one list records; a line naming one more has its file as its
  /// origin (counted). A source names a feed (a few per file in practice); one per line would keep a
  /// string per indicator.
  public static let maximumFeedSourcesPerList = 4_096
}
