/// Where a piece of a rule file sits, and how to point into a condition written there.
struct SourceLocation: Sendable, Equatable {
  var file: String
  var line: Int
  var column: Int
}
