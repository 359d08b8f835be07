// Regex signatures at scale (issue #18), on the generated corpus of RuleCorpus.swift. Release build:
//   PatternsBenchmark rules [counts...]             through the rule engine (scripts/bench-patterns.sh)
//   PatternsBenchmark sets [subjects [counts...]]   pattern sets alone against PCRE2 pattern by pattern
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
let counts = { (from: Int) in arguments.dropFirst(from).compactMap { Int($0) } }
switch arguments.first {
case "rules":
  for count in counts(1).isEmpty ? [1_000, 10_000] : counts(1) { try regexRuleBenchmark(rules: count) }
case "profile":
  try regexRuleProfile(rules: counts(1).first ?? 1_000, passes: counts(1).dropFirst().first ?? 5)
case "sets":
  let subjects = arguments.dropFirst().first.flatMap(Int.init) ?? 20_000
  patternSetBenchmark(subjects: subjects, counts: counts(2).isEmpty ? [1_000, 10_000] : counts(2))
default:
  print("usage: PatternsBenchmark rules [counts...] | sets [subjects [counts...]]")
  exit(2)
}
