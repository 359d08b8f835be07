/// `1 indicator`, `0 indicators`, `2 indicators`: a count printed with its noun as English reads it,
/// so that a list of one feed line does not say `1 indicators`. `plural` for a noun (or phrase) that
/// does not take an `s`: `counted(n, "line of another type", "lines of other types")`.
public func counted(_ count: Int, _ singular: String, _ plural: String? = nil) -> String {
  "\(count) \(count == 1 ? singular : plural ?? singular + "s")"
}
