/// Files of one rotation set, as `monitor --record` and the `file://` output name them
/// (`RotatedFileSet`): `FILE` is the newest, then `FILE.1`, up to `FILE.N` the oldest. A shell's
/// glob sorts them newest first (`day2.rec day2.rec.1 day2.rec.2`), and time would then run
/// backwards through the rules: windows and suppression would fold the first contact into a later
/// alert. logrotate numbers its files the same way.
public enum RotationOrder {
  /// `files` with each rotation set among them (a name and that name with `.N` suffixes, N ≥ 1)
  /// in the places its files had, oldest first; every other file stays where it was. A set counts
  /// only with its bare name among the files, as a glob over a rotation set always gives it: names
  /// that merely end in numbers (`conn.20241206 conn.20241207`, `trace.1 trace.2` numbered in time
  /// order) are the user's order, kept (time running backwards through them is warned of). One line
  /// per set whose order changed, naming it.
  public static func oldestFirst(_ files: [String]) -> (files: [String], notes: [String]) {
    let parsed = files.map(rotation)
    var sets: [String: [Int]] = [:]
    var firstSeen: [String] = []
    for (position, (base, _)) in parsed.enumerated() {
      if sets[base] == nil { firstSeen.append(base) }
      sets[base, default: []].append(position)
    }
    var ordered = files
    var notes: [String] = []
    for base in firstSeen {
      let positions = sets[base]!
      let numbers = positions.map { parsed[$0].number }
      // One file, or a name given twice: nothing to order.
      guard positions.count > 1, Set(numbers).count == numbers.count, numbers.contains(0) else { continue }
      let oldestFirst = positions.sorted { parsed[$0].number > parsed[$1].number }
      guard oldestFirst != positions else { continue }
      for (position, source) in zip(positions, oldestFirst) { ordered[position] = files[source] }
      let rotations = positions.filter { parsed[$0].number > 0 }.sorted { parsed[$0].number < parsed[$1].number }
        .map { files[$0] }.joined(separator: ", ")
      notes.append(
        "\(base) and its rotations \(rotations): replayed oldest first, as their numbers say (\(oldestFirst.map { files[$0] }.joined(separator: ", ")))"
      )
    }
    return (ordered, notes)
  }

  /// The set a path belongs to and its number in it: `X.N` (N ≥ 1, without leading zeros) is
  /// number N of X; any other path is number 0 of itself.
  static func rotation(_ path: String) -> (base: String, number: Int) {
    guard let dot = path.lastIndex(of: "."), dot != path.startIndex else { return (path, 0) }
    let digits = path[path.index(after: dot)...]
    guard (1...9).contains(digits.count), digits.first != "0", digits.allSatisfy(\.isASCII),
      let number = Int(digits), number > 0
    else { return (path, 0) }
    let base = String(path[..<dot])
    // "X/.1" is no rotation of "X/".
    guard !base.hasSuffix("/") else { return (path, 0) }
    return (base, number)
  }
}
