/// Bounds on what a rule file may ask for, so that no file (a careless copy or a hostile one) can
/// crash, hang or exhaust the sensor when it loads or reloads rules. Past each, a positioned error.
public enum RuleLimits {
  /// Parentheses and `not`s nested in one condition (the parser recurses once per level), and
  /// macros using macros.
  public static let maximumDepth = 100
  /// Levels of `and`, `or` and `not` in a rule's condition once its macros are expanded: evaluating
  /// the compiled predicate recurses once per level.
  public static let maximumExpandedDepth = 200
  /// Terms and operators in a rule's condition (or one exception) once its macros are expanded:
  /// each is evaluated for every event, so macros that use each other twice cannot grow without end.
  public static let maximumNodes = 10_000
  /// `threshold: count`: each matching event in a window is remembered until the window fires.
  public static let maximumThresholdCount = 100_000
  /// `repeat:` of one test event.
  public static let maximumRepeat = 100_000
  /// Events one test generates, all its `repeat`s together.
  public static let maximumEventsPerTest = 100_000
  /// Events all the tests of one load generate together.
  public static let maximumTestEvents = 200_000
  /// `first_seen: {max_total_values}`: values one first-seen rule keeps in memory and in its
  /// state file, all its groups together (about 100 bytes each).
  public static let maximumFirstSeenValues = 1_000_000
}
