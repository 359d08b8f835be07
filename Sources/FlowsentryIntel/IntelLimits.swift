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

  /// Indicators room is reserved for, at most, before a load reads its feeds (one for each line that
  /// can hold one); past it the arrays grow as they fill. The count of lines is a guess, and an
  /// address list reserves it in both families (44 bytes a line): 100 MB of junk lines asked for
  /// 3.2 GB, which aborts the process where address space or overcommit is limited. 2^24 stays
  /// above the largest real feeds (a few million indicators) and the 10M-name load benchmark, which
  /// still never doubles an array; its worst reservation is 740 MB of address space, never written.
  public static let maximumIndicatorsReservedAtOnce = 1 << 24

  /// Bytes a feed file may hold; a larger one is refused (as a file that cannot be read is) before a
  /// byte of it is read, by the loader and by a reload's fingerprint of it alike. A 12 GB sparse file
  /// kept the loader busy for two minutes, and every feed event read it again. Real feeds hold at
  /// most a few hundred MB; 2 GiB is room for about as many names as `maximumIndicatorsPerList`,
  /// and reads well within a reload's 60 s.
  public static let maximumFeedFileBytes = 1 << 31

  /// Warnings of one kind a list shows one by one (malformed lines, broad blocks, paths skipped,
  /// feeds that add no indicator), the rest counted in one more warning: a feed of junk lines, or a
  /// glob over thousands of FIFOs or empty files, gave a warning each, megabytes on every load and
  /// reload with the one that mattered lost among them. A hundred show what is wrong with a feed;
  /// the count says how far it goes.
  public static let warningsShownPerKind = 100
}
