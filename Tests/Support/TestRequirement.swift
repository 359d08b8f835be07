import Foundation
import Synchronization
import Testing

/// Something a test needs from the machine: root, a tool, a Python module. Where one is missing the
/// test is skipped (cancelled, with the reason) — unless `TestEnvironment.mustRunEverything`, as in
/// CI, where it fails instead: CI never passes a test it did not run.
public struct Requirement: Sendable, CustomStringConvertible {
  public let description: String
  /// What to do about it, for the message.
  public let remedy: String
  private let check: @Sendable () -> Bool

  public init(_ description: String, remedy: String, isMet check: @escaping @Sendable () -> Bool) {
    self.description = description
    self.remedy = remedy
    self.check = check
  }

  /// Asked once a run: some checks start a process.
  public var isMet: Bool {
    if let known = Self.known.withLock({ $0[description] }) { return known }
    let met = check()
    Self.known.withLock { $0[description] = met }
    return met
  }

  private static let known = Mutex<[String: Bool]>([:])

  public static let root = Requirement("root", remedy: "run the tests as root (`sudo make test`)") { geteuid() == 0 }

  /// An executable at exactly this path, the one the test runs.
  public static func executable(_ path: String, remedy: String = "run scripts/install-deps.sh") -> Requirement {
    Requirement(path, remedy: remedy) { FileManager.default.isExecutableFile(atPath: path) }
  }

  /// A module that `interpreter` imports (by default the python3 first on PATH, which
  /// scripts/install-deps.sh installs for).
  public static func pythonModule(
    _ name: String, interpreter: String = "python3", remedy: String = "run scripts/install-deps.sh"
  ) -> Requirement {
    Requirement("the Python module \(name) (\(interpreter))", remedy: remedy) {
      (try? ChildProcess.run(interpreter, ["-c", "import \(name)"]).termination) == .exited(0)
    }
  }
}

public enum TestEnvironment {
  /// The variable that makes a missing requirement a failure, and the older name it had
  /// (when it gated BPF only; CI machines still set it).
  public static let mustRunEverythingVariables = ["FLOWSENTRY_REQUIRE_ALL_TESTS", "FLOWSENTRY_REQUIRE_BPF"]

  /// The one of `mustRunEverythingVariables` set to 1, if any.
  static let mustRunEverythingVariable = mustRunEverythingVariables.first {
    ProcessInfo.processInfo.environment[$0] == "1"
  }

  /// Set in CI: every test runs, and one whose requirements are missing fails.
  public static let mustRunEverything = mustRunEverythingVariable != nil

  /// The message for requirements that are missing, or nil when all are met.
  public static func unmet(_ requirements: [Requirement]) -> String? {
    let missing = requirements.filter { !$0.isMet }
    guard !missing.isEmpty else { return nil }
    let reasons = missing.map { "\($0.description) (\($0.remedy))" }.joined(separator: ", ")
    if let variable = mustRunEverythingVariable {
      return "\(variable)=1 and this test's requirements are missing: \(reasons)"
    }
    return "skipped: needs \(reasons); \(mustRunEverythingVariables[0])=1 makes this a failure"
  }

  /// For a requirement known only inside the test: returns when all are met; otherwise throws, a
  /// failure under `mustRunEverything`, else the test's cancellation (reported as a skip).
  public static func require(_ requirements: Requirement..., sourceLocation: SourceLocation = #_sourceLocation)
    throws
  {
    guard let message = unmet(requirements) else { return }
    if mustRunEverything { throw UnmetRequirement(description: message) }
    try Test.cancel(Comment(rawValue: message), sourceLocation: sourceLocation)
  }
}

public struct UnmetRequirement: Error, CustomStringConvertible {
  public var description: String
}

/// `@Suite(.requires(.root, …))` or `@Test(.requires(…))`: the gate as a trait. On a suite a skip
/// cancels the suite once; under `mustRunEverything` each test fails with the reason, unrun.
public struct RequirementTrait: TestTrait, SuiteTrait, TestScoping {
  let requirements: [Requirement]
  let sourceLocation: SourceLocation

  public var isRecursive: Bool { true }

  /// Once per suite and per test function, not per argument of a parameterized one.
  public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? { testCase == nil ? self : nil }

  public func provideScope(
    for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
  ) async throws {
    guard let message = TestEnvironment.unmet(requirements) else { return try await function() }
    if !TestEnvironment.mustRunEverything {
      try Test.cancel(Comment(rawValue: message), sourceLocation: sourceLocation)
    }
    if test.isSuite { return try await function() }  // its tests fail one by one
    Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
  }
}

extension Trait where Self == RequirementTrait {
  public static func requires(_ requirements: Requirement..., sourceLocation: SourceLocation = #_sourceLocation)
    -> Self
  {
    RequirementTrait(requirements: requirements, sourceLocation: sourceLocation)
  }
}
