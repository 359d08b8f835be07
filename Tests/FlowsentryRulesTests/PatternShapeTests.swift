import Testing

@testable import FlowsentryRules

/// What each of PatternShape's scans answers on syntax they step over (escapes in classes, `\Q…\E`,
/// nested, non-capturing and named groups, `\x{…}`, verbs): pinned so that a change to how they
/// walk a pattern keeps every answer.
@Suite struct PatternShapeTests {
  /// (pattern, requiredLiteralNeverInName, isContextFree, emptyAlternative)
  static let pinned: [(String, Int?, Bool, Int?)] = [
    (#"[\]A]B"#, 5, true, nil),
    (#"[\]]|"#, nil, true, 4),
    (#"[A\]]x"#, nil, true, nil),
    (#"[^]A]Z"#, 5, true, nil),
    (#"[]A]Z"#, 4, true, nil),
    (#"[[:upper:]]Q"#, 11, true, nil),
    (#"[[:alpha:]|]|"#, nil, true, 12),
    (#"[\\]A"#, 4, true, nil),
    (#"[\QA]\E]B"#, nil, false, nil),
    (#"\QAb\E"#, nil, false, nil),
    (#"x\Q|\E"#, nil, false, nil),
    (#"|\QA"#, nil, false, 0),
    (#"A\Q"#, nil, false, nil),
    (#"\Qa|\E|"#, nil, false, nil),
    (#"a((B)|c)D"#, 8, true, nil),
    (#"((x|)|y)"#, nil, true, nil),
    (#"((x|y)|)|"#, nil, true, 8),
    (#"(a(b(C)))D"#, 9, true, nil),
    (#"(A"#, nil, true, nil),
    (#"A)B"#, 0, true, nil),
    (#"a)|"#, nil, true, 2),
    (#"(?:Ab|c)D"#, 8, true, nil),
    (#"(?:|x)"#, nil, true, nil),
    (#"(?:x)|"#, nil, true, 5),
    (#"(?:A)B"#, 5, true, nil),
    (#"(?i)A"#, nil, false, nil),
    (#"(?=A)b"#, nil, false, nil),
    (#"(?<=a)B"#, nil, false, nil),
    (#"(?"#, nil, false, nil),
    (#"(?<n>A)B"#, nil, false, nil),
    (#"(?P<n>x)|"#, nil, false, nil),
    (#"(?'n'x)C"#, nil, false, nil),
    (#"(?<n>x)"#, nil, false, nil),
    (#"\x{41}B"#, nil, false, nil),
    (#"a\x{7c}|"#, nil, false, 7),
    (#"\x{7c}"#, nil, false, nil),
    (#"\p{Lu}B"#, nil, false, nil),
    (#"\N{U+41}"#, nil, false, nil),
    (#"(*UTF)A"#, nil, false, nil),
    (#"(*"#, nil, false, nil),
    (#"A\"#, nil, false, nil),
    (#"\"#, nil, false, nil),
    (#"\.A"#, 2, true, nil),
    (#"\ A"#, 1, true, nil),
    (#"\é"#, nil, false, nil),
    (#"é"#, 0, true, nil),
    (#"A+"#, 0, true, nil),
    (#"A?"#, nil, true, nil),
    (#"A{2}"#, nil, true, nil),
    (#"A*?"#, nil, true, nil),
    (#"\dA"#, 2, true, nil),
    (#"\bA\b"#, 2, false, nil),
    (#"\1A"#, nil, false, nil),
    (#"\kA"#, nil, false, nil),
    (#"^A"#, 1, false, nil),
    (#"a$"#, nil, false, nil),
    (#"x|"#, nil, true, 1),
    (#"|x"#, nil, true, 0),
    (#"a||b"#, nil, true, 1),
    (#"a|b"#, nil, true, nil),
    (#""#, nil, true, nil),
  ]

  @Test func answersOnTrickySyntaxArePinned() {
    for (pattern, literal, free, empty) in Self.pinned {
      #expect(PatternShape.requiredLiteralNeverInName(pattern) == literal, "\(pattern)")
      #expect(PatternShape.isContextFree(pattern) == free, "\(pattern)")
      #expect(PatternShape.emptyAlternative(pattern) == empty, "\(pattern)")
    }
  }
}
