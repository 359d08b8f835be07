import ArgumentParser
import FlowsentryConfiguration
import FlowsentryCore
import FlowsentryRules
import Foundation
import Logging

#if canImport(Glibc)
  import Glibc
#endif

struct RulesCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "rules",
    abstract: "Check, test and list rule files.",
    subcommands: [Check.self, Test.self, List.self, Lookup.self]
  )

  struct Paths: ParsableArguments {
    @Argument(
      help: """
        Rule files or directories (their *.yaml, *.yml), loaded in order after the built-in rules and \
        /etc/flowsentry/rules.d; later ones override.
        """)
    var paths: [String] = []

    @Flag(help: "Do not load the built-in rules first.")
    var noDefaultRules = false
  }

  /// Loads the chain (built-in rules unless excluded, /etc/flowsentry/rules.d, then `paths`), printing
  /// every diagnostic to stderr; nil when there were errors.
  /// `errorsBefore`: errors already reported about this chain (a configuration's missing path), so
  /// that the set is refused and the count said covers them.
  static func load(_ paths: [String], builtIn: Bool = true, logger: Logger? = nil, errorsBefore: Int = 0)
    -> RuleSet?
  {
    var errors = errorsBefore
    var rules: RuleSet?
    do {
      let loaded = try RuleLoader.loadChain(builtIn: builtIn, paths: paths)
      for warning in loaded.warnings { report(warning, logger) }
      rules = loaded
    } catch {
      for diagnostic in error.diagnostics { report(diagnostic, logger) }
      errors += error.diagnostics.filter { $0.severity == .error }.count
    }
    guard errors > 0 else { return rules }
    if let logger { logger.error("\(counted(errors, "error"))") } else { standardError(counted(errors, "error")) }
    return nil
  }

  /// A diagnostic as printed text on stderr (the checking commands), or through `logger` at its own
  /// level (the monitor, whose log may be JSON lines: a raw multi-line diagnostic there breaks
  /// a log shipper's parsing at every start, while the same text came as records at a reload).
  static func report(_ diagnostic: Diagnostic, _ logger: Logger?) {
    guard let logger else {
      standardError(diagnostic.description)
      return
    }
    switch diagnostic.severity {
    case .error: logger.error("\(diagnostic)")
    case .warning: logger.warning("\(diagnostic)")
    }
  }

  struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Validate rule files: every problem as file:line:col, exit status 1 on errors.",
      discussion: """
        When the rules hold regexes, their pattern sets are built as the monitor builds them at its \
        start (without its cache, so the time printed is a cold start's) and reported: per field, how \
        many regexes Hyperscan answers exactly, how many it finds candidates for that PCRE2 confirms \
        (confirmed, prefilter), and how many PCRE2 alone evaluates on every value, each of those \
        listed with its rule, file:line:col and why. Building takes seconds for thousands of \
        regexes; --no-patterns skips it.
        """)
    @OptionGroup var paths: Paths

    @Flag(help: "Do not build the regex pattern sets (faster for thousands of regexes; no per-field report).")
    var noPatterns = false

    @Option(help: ArgumentHelp("How many PCRE2-only regexes to list; the rest are counted.", valueName: "count"))
    var pcre2OnlyLimit = 20

    func validate() throws {
      if pcre2OnlyLimit < 0 { throw ValidationError("--pcre2-only-limit is a count, 0 or more") }
    }

    func run() throws {
      guard let rules = RulesCommand.load(paths.paths, builtIn: !paths.noDefaultRules) else { throw ExitCode.failure }
      let enabled = rules.rules.filter(\.enabled).count
      for list in rules.intelLists { print(list.description) }
      if !noPatterns && rules.regexCount > 0 {
        for line in PatternReport.lines(rules.preparePatterns(stateDirectory: nil), limit: pcre2OnlyLimit) {
          print(line)
        }
      }
      // Each replacement was printed above as a warning, with both positions.
      let replaced = rules.replacements.isEmpty ? "" : ", \(rules.replacements.count) replaced by a later file"
      print(
        "\(counted(rules.files.count, "file")), \(counted(rules.rules.count, "rule")) (\(enabled) enabled\(replaced)), "
          + "\(counted(rules.regexCount, "regex", "regexes")), \(counted(rules.warnings.count, "warning")): OK")
    }
  }

  struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Show the rules that load: id, on/off, severity, events, threshold, name, and where each came from.")
    @OptionGroup var paths: Paths

    func run() throws {
      guard let rules = RulesCommand.load(paths.paths, builtIn: !paths.noDefaultRules) else { throw ExitCode.failure }
      for rule in rules.rules.sorted(by: { $0.id < $1.id }) {
        let events = rule.events.map(\.rawValue).sorted().joined(separator: ",")
        let state = rule.enabled ? "on " : "off"
        let threshold = rule.threshold.map { " threshold \($0.atLeast)/\($0.windowNanoseconds / 1_000_000_000)s" } ?? ""
        print("\(rule.id)\t\(state)\t\(rule.severity.rawValue)\t\(events)\(threshold)\t\(rule.name)\t\(rule.origin)")
      }
    }
  }

  struct Lookup: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Show which threat-intel lists the rules read hold a domain, address, string or port, and where from.",
      discussion: """
        Each value is looked up in every typed list an enabled rule tests (the chain the monitor \
        loads), as the list's type reads it (a domain \
        in any case, a trailing dot ignored, subdomains of a suffix list's names included; an address \
        by longest prefix; a defanged indicator, evil[.]com or hxxps://, or a URL by its host); each \
        list holding it prints the indicator it holds and its file:line (or \
        Zeek's meta.source). A block, 203.0.113.0/24 or 2001:db8::/32, is looked up in address lists \
        as a block: each entry covering it (most specific first), then the entries inside it in \
        address order, up to --inside-limit a list, and a count of the rest. \
        Membership only: an allowlist is a list too, a listing that a list's `except:` list holds too \
        says so (no rule matches the value by that list), and a rule's own condition still decides. `-` reads values from stdin, one a line (blank lines and # comments skipped), \
        such as the indicators of an incident report. When none is listed, stderr names the lists \
        searched: a list no enabled rule tests is not searched, so a value only it holds is not listed. \
        Exit status: 0 when some value is listed, 1 when none is, 2 when the rules or the configuration \
        do not load.
        """)

    @Argument(help: "Domains, addresses, strings or ports to look up; - reads them from stdin, one a line.")
    var values: [String]

    @Flag(help: "Print only the values some list holds.")
    var listedOnly = false

    @Flag(
      help: """
        Print a line of JSON a value (value, listed, lists: list, type, relation, indicator, source, \
        severity, excepted_by) instead of text, for a playbook or script.
        """)
    var json = false

    @Option(
      help: ArgumentHelp(
        "For a block, how many of one list's entries inside it to print; the rest are counted.", valueName: "count"))
    var insideLimit = RuleSet.defaultInsideLimit

    @Option(
      name: .customLong("rules"),
      help: """
        A rule file or directory, loaded after the built-in rules and /etc/flowsentry/rules.d, as \
        monitor's --rules (repeatable).
        """)
    var rules: [String] = []

    @Flag(help: "Do not load the built-in rules first.")
    var noDefaultRules = false

    @Option(
      help: """
        The monitor's configuration file, whose rules: and default_rules: decide the chain (default \
        /etc/flowsentry/config.yaml when it exists); --rules and --no-default-rules override them.
        """)
    var config: String?

    func validate() throws {
      if values.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
        throw ValidationError("an empty value names nothing to look up")
      }
      if insideLimit < 0 { throw ValidationError("--inside-limit is a count, 0 or more") }
    }

    func run() throws {
      // The chain the monitor loads, so that the answer is the running sensor's.
      guard var settings = PipelineOptions.configurationFile(config) else { throw ExitCode(2) }
      if !rules.isEmpty { settings.rulePaths = rules }
      if noDefaultRules { settings.defaultRules = false }
      guard let ruleSet = PipelineOptions.loadRules(settings) else {
        throw ExitCode(2)
      }
      var anyListed = false
      func lookUp(_ value: String) {
        // Cleared as a feed clears them, but said: 203.0.113.7/24 may have meant the one address.
        if let cleared = RuleSet.blockClearingHostBits(of: value) {
          standardError(
            "\(IndicatorListing.terminalSafe(value)): host bits set; looked up as the block \(cleared), as a feed's entry is read"
          )
        }
        if let reason = RuleSet.malformedBlock(value) {
          standardError("\(IndicatorListing.terminalSafe(value)): \(reason)")
        }
        let listings = ruleSet.listings(of: value, insideLimit: insideLimit)
        anyListed = anyListed || !listings.isEmpty
        if json {
          if !listings.isEmpty || !listedOnly { print(IndicatorListing.jsonLine(value: value, listings: listings)) }
          return
        }
        // Escaped where a value (from a file, say) holds control characters: never sent to the terminal raw.
        if listings.isEmpty && !listedOnly { print("\(IndicatorListing.terminalSafe(value)): not listed") }
        for listing in listings { print(listing.description) }
      }
      let whitespace = CharacterSet.whitespaces.union(CharacterSet(charactersIn: "\r"))
      for value in values {
        guard value == "-" else {
          lookUp(value.trimmingCharacters(in: whitespace))
          continue
        }
        while let line = readLine(strippingNewline: true) {
          let value = line.trimmingCharacters(in: whitespace)
          if value.isEmpty || value.hasPrefix("#") { continue }
          lookUp(value)
        }
      }
      if !anyListed {
        // Said once, on stderr: a value in a feed that no enabled rule reads is "not listed" here
        // (its list is not searched), which looks like a lookup that failed unless the lists are named.
        standardError(Self.listsSearched(ruleSet.listsLookedUpIn))
        throw ExitCode(1)
      }
    }

    /// Which lists a lookup that found nothing searched.
    static func listsSearched(_ lists: [(name: String, indicators: Int)]) -> String {
      guard !lists.isEmpty else {
        return "no enabled rule tests a typed list, so there was none to look in"
      }
      let named = lists.map { "\(IndicatorListing.terminalSafe($0.name)) (\(counted($0.indicators, "indicator")))" }
      return "looked in the typed lists that enabled rules test: \(named.joined(separator: ", ")); "
        + "a list no enabled rule tests is not searched"
    }
  }
}
