import FlowsentryCore
import FlowsentryRules

#if canImport(Glibc)
  import Glibc
#endif

// libFuzzer entry point, structure-aware: the input is a stream of choices that builds one to three
// rule files (lists, macros that use each other, rules with conditions nested or chained, numeric
// fields at and past their ranges, thresholds, suppression, outputs, tests with repeated and varied
// events and the alerts' texts they expect, typed lists over feed files in each format that it
// writes), optionally mutated byte by byte, then loaded in order as `rules check` and a SIGHUP
// reload load them. A set that loads runs its tests (`rules test`) and events at the edges of time.
// No input may crash, hang or trip a sanitizer. Built and run by scripts/fuzz.sh rule-files.

/// The fuzzer's bytes, read as choices; past the end every choice is the first option.
struct Choices {
  let bytes: UnsafeBufferPointer<UInt8>
  var index = 0

  mutating func byte() -> Int {
    defer { index += 1 }
    return index < bytes.count ? Int(bytes[index]) : 0
  }

  mutating func below(_ count: Int) -> Int { count <= 1 ? 0 : byte() % count }
  mutating func chance(_ outOf: Int) -> Bool { below(outOf) == 0 }
  mutating func pick<T>(_ options: [T]) -> T { options[below(options.count)] }
  /// A small count, now and then a large one (the sizes that once overflowed a stack).
  mutating func count(_ small: Int, large: Int) -> Int { chance(8) ? byte() * large / 255 : below(small + 1) }
}

let numbers = [
  "0", "1", "-1", "5", "443", "65535", "65536", "66979", "-5", "4294967295", "4294967296", "2147483648",
  "4611686018427387904", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
  "99999999999999999999", "1e30", "0x10", "1_000", "+7", "~", "true", "abc", "100000", "100001",
]
/// What a careful author writes: most inputs in this mode load, so the engine and tests run.
let saneNumbers = ["1", "2", "5", "22", "100"]
let saneDurations = ["10s", "1ms", "10ms", "1s", "5m", "1h", "31d"]
let durations = ["0s", "1ms", "10s", "5m", "1h", "31d", "32d", "-1s", "9223372036854775807ms", "1e9s", "s", "10"]
let integerFields = [
  "dst_port", "src_port", "local_port", "remote_port", "process.pid", "process.uid", "duration_ns", "attempts",
  "cgroup_id",
]
let stringFields = ["process.comm", "close_reason", "conn_direction", "event", "terminated_by"]
let addressFields = ["src", "dst", "local", "remote"]
let listFields = ["dst_dns", "src_dns", "remote_dns", "dns.questions", "dns.answers"]
let texts = ["a", "x.example", "sshd", "rst", "\\x07", "\\n", "\\u0085", "\u{FFFD}", "é", "{count}", "{dst_port}", "{"]
let addresses = ["10.0.0.0/8", "203.0.113.7", "::1", "2001:db8::/32", "0.0.0.0/0", "255.255.255.255", "10.0.0.0/33"]
let saneAddresses = ["203.0.113.7", "::1", "198.51.100.2"]
/// Feed lines: indicators of each type, and what a broken feed holds.
let feedValues = [
  "evil.example", "A.Example.", "xn--bcher-kva.example", "203.0.113.0/24", "2001:db8::/32", "::ffff:198.51.100.7",
  "198.51.100.7", "4444", "65536", "-1", "10.0.0.0/33", "1.2.3.04", "é.example", "a..b", "", " ", "\"quoted,field\"",
  "\"unterminated", "127.0.0.1 hosted.example other.example", String(repeating: "x", count: 300),
]
let zeekTypes = ["Intel::ADDR", "Intel::SUBNET", "Intel::DOMAIN", "Intel::URL", "Intel::FILE_HASH", "", "x"]
/// Where typed lists' feeds are written, one directory a fuzzing process.
let feedDirectory: String = {
  let path = "/tmp/flowsentry-fuzz-feeds-\(getpid())"
  mkdir(path, 0o700)
  return path
}()
let events = ["net_flow_tcp_begin", "net_flow_tcp_end", "net_flow_tcp_half_open", "net_packet_dns", "flows", "bogus"]

struct Generator {
  var choices: Choices
  var macroCount = 0
  var listCount = 0
  /// Bytes of repeated text still allowed: enough to pass every limit, not to exhaust the fuzzer.
  var textBudget = 200_000
  /// Whether numbers and durations come from the hostile pools or the sane ones.
  var hostile = true

  mutating func words() -> String { choices.pick(hostile ? texts : Array(texts.prefix(4))) }
  mutating func event() -> String { choices.pick(hostile ? events : Array(events.prefix(4))) }
  mutating func number() -> String { choices.pick(hostile ? numbers : saneNumbers) }
  mutating func duration() -> String { choices.pick(hostile ? durations : saneDurations) }

  /// `count` repetitions of `size` bytes, as many of them as the budget still allows.
  mutating func spend(_ count: Int, _ size: Int) -> Int {
    let allowed = min(count, max(0, textBudget / size))
    textBudget -= allowed * size
    return allowed
  }

  mutating func value(for field: String) -> String {
    if integerFields.contains(field) {
      return choices.chance(4) ? "(\(number())-\(number()))" : number()
    }
    if addressFields.contains(field) { return choices.pick(hostile ? addresses : saneAddresses) }
    return "'\(words())'"
  }

  mutating func comparison() -> String {
    switch choices.below(5) {
    case 0:
      let field = choices.pick(integerFields)
      let op = choices.pick(hostile ? ["==", "!=", "<", "<=", ">", ">="] : ["==", "!="])
      return "\(field) \(op) \(number())"
    case 1:
      let field = choices.pick(integerFields)
      let items = (0...choices.below(4)).map { _ in
        choices.chance(2) || !hostile ? number() : "\(number())-\(number())"
      }
      return "\(field) in (\(items.joined(separator: ", ")))"
    case 2:
      let field = choices.pick(addressFields)
      return choices.chance(2)
        ? "\(field) in (\(choices.pick(hostile ? addresses : saneAddresses)))"
        : "\(field) == \(choices.pick(hostile ? addresses : saneAddresses))"
    case 3:
      let field = choices.pick(stringFields + listFields)
      let op = choices.pick(["==", "contains", "icontains", "startswith", "iendswith", "matches", "in"])
      if op == "in" { return listCount > 0 ? "\(field) in l\(choices.below(listCount))" : "\(field) in ('a')" }
      return "\(field) \(op) '\(choices.pick(hostile ? ["a+", "(a+)+$", "x", "[", "^s"] : ["a+", "x", "^s"]))'"
    default:
      return macroCount > 0 ? "m\(choices.below(macroCount))" : hostile ? "undefined_macro" : "dst_port == 22"
    }
  }

  /// A condition: nested by recursion up to `depth`, and now and then by repetition far past any limit
  /// (the parenthesis, `not` and term limits), within a budget of text per input.
  mutating func condition(_ depth: Int) -> String {
    if depth <= 0 || choices.chance(3) || textBudget <= 0 { return comparison() }
    switch choices.below(6) {
    case 0:
      let levels = spend(choices.count(3, large: 4000), 2)
      return String(repeating: "(", count: levels) + condition(depth - 1) + String(repeating: ")", count: levels)
    case 1: return String(repeating: "not ", count: spend(choices.count(3, large: 4000), 4)) + condition(depth - 1)
    case 2:
      let term = comparison()
      let count = spend(2 + choices.count(2, large: 12_000), term.utf8.count + 4)
      return Array(repeating: term, count: max(2, count)).joined(separator: " or ")
    case 3: return "\(condition(depth - 1)) and \(condition(depth - 1))"
    case 4: return "(\(condition(depth - 1)) or \(condition(depth - 1)))"
    default: return "not (\(condition(depth - 1)))"
    }
  }

  mutating func list() -> String {
    let index = hostile ? choices.below(listCount + 2) : listCount
    let name = "l\(index)"
    listCount = max(listCount, index + 1)
    let items = (0..<choices.below(4)).map { _ in
      choices.chance(2) || !hostile ? number() : choices.pick(addresses)
    }
    let append = hostile ? choices.pick(["", "\n    append: true", "\n    append: 3"]) : ""
    return "- list:\n    name: \(name)\(append)\n    items: [\(items.joined(separator: ", "))]\n"
  }

  /// A typed list over a feed file the fuzzer writes, in one of the formats, of lines valid and not
  /// (hostile numbers, over-long lines, missing headers, a BOM, CRLF), or over a glob.
  mutating func typedList() -> String {
    let index = hostile ? choices.below(listCount + 2) : listCount
    listCount = max(listCount, index + 1)
    let type = choices.pick(["domain", "address", "string", "port"])
    let format = choices.pick(["lines", "csv", "zeek-intel"])
    let path = feedDirectory + "/feed\(choices.below(4)).\(format)"
    var lines: [String] = []
    if choices.chance(4) { lines.append("\u{FEFF}# comment") }
    switch format {
    case "csv": lines.append(choices.pick(["# id,dst_ip,host,port", "id,dst_ip,host,port", "\"id\",\"host\""]))
    case "zeek-intel":
      if !choices.chance(6) {
        lines.append(choices.pick(["#fields\tindicator\tindicator_type\tmeta.source", "#separator \\x09"]))
      }
    default: break
    }
    for _ in 0..<choices.count(6, large: 300) {
      let value = choices.pick(feedValues)
      switch format {
      case "csv": lines.append("\(choices.byte()),\(value),\(choices.pick(feedValues)),\(number())")
      case "zeek-intel":
        lines.append("\(value)\t\(choices.pick(zeekTypes))\t\(choices.pick(["src", "", "-"]))")
      default: lines.append(value + choices.pick(["", " # note", " ; SBL1", "\r"]))
      }
    }
    if choices.chance(16) { lines.append(String(repeating: "a", count: 70_000)) }
    let text = lines.joined(separator: "\n")
    _ = text.withCString { pointer in
      let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
      defer { if descriptor >= 0 { close(descriptor) } }
      return descriptor >= 0 ? write(descriptor, pointer, strlen(pointer)) : -1
    }
    let files = choices.chance(4) ? feedDirectory + "/*.\(format)" : path
    var keys = "type: \(type), files: [\"\(files)\"], format: \(format)"
    if format == "csv" { keys += ", column: \(choices.pick(["2", "host", "dst_ip", "0", "1001", "nope"]))" }
    if type == "domain" && choices.chance(2) { keys += ", match: suffix" }
    if choices.chance(4) { keys += ", optional: true" }
    // An allowlist: another typed list (of any type, maybe not yet declared, maybe this one, maybe
    // one with its own `except:`), one or several, or a value `except:` refuses.
    if choices.chance(3) {
      let other = "l\(choices.below(listCount + 1))"
      keys += choices.pick([
        ", except: \(other)", ", except: [\(other), l\(choices.below(listCount + 1))]",
        ", except: [\(other), \(other)]",
        hostile ? ", except: {a: 1}" : ", except: []", hostile ? ", except: nowhere" : ", except: \(other)",
      ])
    }
    // Replacing an earlier definition on purpose, with values and companions it refuses.
    if hostile && choices.chance(4) {
      keys += choices.pick([", replace: true", ", replace: 3", ", replace: true, append: true"])
    }
    return "- list: {name: l\(index), \(keys)}\n"
  }

  /// Macros may use the ones before twice (doubling at each level) or refer ahead (loops).
  mutating func macro() -> String {
    let name = "m\(macroCount)"
    var condition = self.condition(2)
    if macroCount > 0 && choices.chance(2) {
      let previous = "m\(macroCount - 1)"
      condition = "\(previous) and (\(previous) or \(condition))"
    } else if choices.chance(6) {
      condition = "m\(macroCount + 1)"
    }
    macroCount += 1
    return "- macro:\n    name: \(name)\n    condition: \"\(condition)\"\n"
  }

  mutating func testEvent() -> String {
    let kind = event()
    var fields = ["event: \(kind)"]
    var keys = [
      "src_port", "dst_port", "attempts", "duration_ns", "repeat", "every", "at", "vary", "process", "src", "dst",
      "dst_dns", "questions",
    ]
    // A careful author gives an event only the keys of its kind (another kind's is an error).
    if !hostile, let name = EventName(rawValue: kind) {
      let taken = Set(TestEventKeys.keys(of: name))
      keys = keys.filter(taken.contains)
    }
    for _ in 0..<choices.below(6) {
      switch choices.pick(keys) {
      case let key where key == "dst_dns" || key == "questions":
        // Names as written by hand: mixed case, a trailing dot, `\DDD` and `\X` escapes, UTF-8.
        let names = [#"Www.Example.COM."#, #"caf\195\169.example"#, "café.example", #"a\.b"#, #"x\"#, "\\999."]
        fields.append("\(key): ['\(choices.pick(names))']")
      case "every", "at": fields.append("\(choices.pick(["every", "at"])): \(duration())")
      case "vary": fields.append("vary: {\(choices.pick(["src", "dst", "src_port", "dst_port"])): \(number())}")
      case "process":
        fields.append("process: {pid: \(number()), uid: \(number()), comm: sshd}")
      case "src", "dst":
        fields.append("\(choices.pick(["src", "dst"])): '\(choices.pick(hostile ? addresses : saneAddresses))'")
      case let key: fields.append("\(key): \(number())")
      }
    }
    return "          - {\(fields.joined(separator: ", "))}\n"
  }

  mutating func rule() -> String {
    let ids = ["R-0", "R-1", "R-2"] + (hostile ? ["\"R-\\x01\"", "\"R-\u{FFFD}\""] : [])
    var text = "- rule:\n    id: \(choices.pick(ids))\n"
    text += "    name: \(choices.pick(hostile ? ["n", "\"n\\nforged\"", "\"\""] : ["n"]))\n"
    if choices.chance(3) { text += "    events: [\(event()), \(event())]\n" }
    text += "    condition: \"\(condition(3))\"\n"
    if choices.chance(3) {
      text += "    threshold: {count: \(number()), window: \(duration())"
      text += choices.chance(2) ? ", group_by: [\(choices.pick(addressFields))]" : ""
      text += choices.chance(3) ? ", distinct: \(choices.pick(integerFields))}\n" : "}\n"
    }
    if choices.chance(3) { text += "    suppress: {window: \(duration())}\n" }
    if choices.chance(2) {
      text += "    output: \"\(words()) {\(choices.pick(integerFields))} {count}\"\n"
    } else if choices.chance(3) {
      // A text per event: keys the rule's events may or may not have, `default`, sets, non-texts.
      text += "    output:\n"
      for _ in 0...choices.below(3) {
        let key = choices.pick(["default", "flows", "deafult", event(), event()])
        let value =
          hostile ? choices.pick(["\"{\(choices.pick(integerFields))}\"", "[1]", "\"{nope\"", "\"x\""]) : "\"x\""
        text += "      \(key): \(value)\n"
      }
    }
    if choices.chance(2) {
      text += "    exceptions:\n      - \"\(condition(1))\"\n"
    }
    if choices.chance(2) {
      text += "    tests:\n"
      for _ in 0...choices.below(2) {
        let expect = choices.pick(hostile ? ["0", "1", "-1", "99999999999999999999"] : ["0", "1"])
        // `alerts` says the count itself: a careful author leaves `expect` out beside it.
        let withAlerts = choices.chance(3)
        text += "      - name: t\n"
        if !withAlerts || (hostile && choices.chance(2)) { text += "        expect: \(expect)\n" }
        if withAlerts { text += alertExpectations() }
        text += "        events:\n"
        for _ in 0...choices.below(3) { text += testEvent() }
      }
    }
    return text
  }

  /// A test's `alerts:`: entries of each key, texts with placeholders and escapes the alert's text
  /// may or may not hold, and (hostile) what the loader refuses: misspelt or misplaced keys, empty
  /// texts and lists, both texts at once, unknown severities, non-lists.
  mutating func alertExpectations() -> String {
    if hostile && choices.chance(8) {
      return choices.pick([
        "        alerts: {output: x}\n", "        alerts: 3\n", "        alerts: [x, [y]]\n",
        "        output_contains: x\n",
      ])
    }
    if choices.chance(6) { return "        alerts: []\n" }
    var text = "        alerts:\n"
    for _ in 0...choices.below(3) {
      var keys: [String] = []
      switch choices.below(hostile ? 5 : 4) {
      case 0: keys.append("output: \"\(words()) {count}\"")
      case 1: keys.append("output_contains: \"\(words())\"")
      case 2: keys.append("output_contains: [\"\(words())\", \"\(words())\"]")
      case 3: break
      default:
        keys.append(
          choices.pick([
            "outptu: x", "output_contain: x", "output: [1]", "output: \"\"", "output_contains: []",
            "output_contains: [\"\"]", "output: x, output_contains: x", "output_contains: {a: b}",
          ]))
      }
      if choices.chance(3) {
        keys.append("severity: \(choices.pick(hostile ? ["high", "low", "urgent", "[high]"] : ["medium", "high"]))")
      }
      text += "          - {\(keys.joined(separator: ", "))}\n"
    }
    return text
  }

  mutating func file() -> String {
    var text = ""
    for _ in 0..<(1 + choices.below(6)) {
      switch choices.below(5) {
      case 0: text += list()
      case 4: text += typedList()
      case 1: text += macro()
      default: text += rule()
      }
    }
    return text
  }

  /// A few byte edits of the generated text: what a careless hand or a flipped bit does to a file.
  mutating func mutate(_ text: String) -> String {
    var bytes = Array(text.utf8)
    for _ in 0..<choices.below(4) where !bytes.isEmpty {
      let position = (choices.byte() << 8 | choices.byte()) % bytes.count
      switch choices.below(3) {
      case 0: bytes.remove(at: position)
      case 1: bytes.insert(UInt8(choices.byte()), at: position)
      default: bytes[position] = UInt8(choices.byte())
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

func event(_ name: EventName, at time: Int64, port: UInt16) -> SensorEvent {
  .flow(
    FlowEvent(
      name: name, timestamp: time, direction: .incoming, source: Endpoint(IPAddress("203.0.113.7")!, 40_000),
      destination: Endpoint(IPAddress("198.51.100.2")!, port), closeReason: name == .netFlowTCPEnd ? .rst : nil,
      terminatedBy: name == .netFlowTCPEnd ? .remote : nil, durationNanoseconds: 5, attempts: 3))
}

let edgesOfTime: [Int64] = [.min, .min + 1, -1, 0, 1, .max - 1, .max, .min, .max]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  var generator = Generator(choices: Choices(bytes: UnsafeBufferPointer(start: data, count: size)))
  generator.hostile = generator.choices.chance(2)
  var sources: [RuleSource] = []
  for index in 0...generator.choices.below(3) {
    var text = generator.file()
    if generator.choices.chance(3) { text = generator.mutate(text) }
    sources.append(RuleSource(name: "fuzz-\(index).yaml", text: text))
  }
  guard let rules = try? RuleLoader.load(sources: sources, paths: []) else { return 0 }
  // As `rules test` prints them: the alerts' texts shown beside what their tests expected.
  for result in RuleTestRunner.run(rules) { _ = result.lines }
  let engine = RuleEngine(rules: rules)
  var alerts: [Alert] = []
  for (index, time) in edgesOfTime.enumerated() {
    let name = EventName.allCases.filter { $0 != .netPacketDNS }[index % 3]
    engine.process(event(name, at: time, port: UInt16(index)), at: time, into: &alerts)
  }
  return 0
}
