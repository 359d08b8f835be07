import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryReplay
import Foundation

// libFuzzer entry point, structure-aware: the input is a recipe, not the file. Its first byte picks
// a pcapng file or a recording (JSON lines); the rest chooses blocks, interface options
// (if_tsresol, if_tsoffset and others), times, sequence numbers and JSON fields, from values at
// the edges of their ranges and from the input's own bytes. Every file is well framed, so the
// fuzzer reaches what reads the numbers rather than stopping at libpcap's framing checks. The file
// is replayed as `flowsentry replay` would; no input may crash, hang or trip a sanitizer.
// Built and run by scripts/fuzz.sh captures.

/// Reads the recipe; past its end every read is 0, so each input describes one file.
struct Recipe {
  let bytes: UnsafeBufferPointer<UInt8>
  var position = 0

  mutating func byte() -> UInt8 {
    guard position < bytes.count else { return 0 }
    defer { position += 1 }
    return bytes[position]
  }

  mutating func word<T: FixedWidthInteger & UnsignedInteger>(_: T.Type) -> T {
    var value: T = 0
    for _ in 0..<MemoryLayout<T>.size { value = value << 8 | T(byte()) }
    return value
  }

  mutating func pick<T>(_ choices: [T]) -> T { choices[Int(byte()) % choices.count] }

  /// Mostly a value from `edges`, sometimes the recipe's own bits.
  mutating func number(_ edges: [UInt64]) -> UInt64 {
    byte() & 3 == 0 ? word(UInt64.self) : pick(edges)
  }

  var remaining: Int { max(0, bytes.count - position) }
}

let timeEdges: [UInt64] = [
  0, 1, 1_700_000_000_000_000_000, 1 << 62, (1 << 62) + 1, 1 << 63, UInt64.max, UInt64.max - 1, UInt64(Int64.max),
  1_000_000_000, 999_999_999, 4_294_967_295, 4_294_967_296,
]
let offsetEdges: [UInt64] = [
  0, 1, UInt64(bitPattern: -1), 1 << 62, UInt64(bitPattern: -9_000_000_000), 9_000_000_000, UInt64(Int64.max),
  UInt64(bitPattern: Int64.min), 1_700_000_000,
]

func le16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
func le32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
func be16(_ value: UInt16) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
func be32(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }

func block(_ type: UInt32, _ body: [UInt8], into file: inout [UInt8]) {
  let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
  file += le32(type) + le32(UInt32(12 + padded.count)) + padded + le32(UInt32(12 + padded.count))
}

/// One option: a known code with a value of its size (or not), or any code with any bytes.
func option(_ recipe: inout Recipe) -> [UInt8] {
  let value: [UInt8]
  let code: UInt16 = recipe.pick([9, 9, 14, 14, 2, 4, 8, 10, 12, 13, 15, 0xbeef])
  switch code {
  case 9: value = recipe.byte() & 7 == 0 ? [] : [recipe.pick([0, 3, 6, 9, 10, 19, 20, 63, 64, 0x80, 0x8a, 0xbf, 0xff])]
  case 14: value = withUnsafeBytes(of: recipe.number(offsetEdges).littleEndian) { Array($0) }
  default: value = (0..<Int(recipe.byte() % 24)).map { _ in recipe.byte() }
  }
  let padded = value + [UInt8](repeating: 0, count: (4 - value.count % 4) % 4)
  return le16(code) + le16(UInt16(value.count)) + padded
}

/// A TCP or DNS frame between two fixed hosts, so that segments of one recipe meet as flows.
func frame(_ recipe: inout Recipe) -> [UInt8] {
  let flags: UInt8 = recipe.pick([0x02, 0x12, 0x11, 0x14, 0x04, 0x10, 0x18, 0x01])
  let outgoing = recipe.byte() & 1 == 0
  let sequence = UInt32(truncatingIfNeeded: recipe.number([0, 1, 100, 101, 0xffff_ffff, 0x8000_0000]))
  let acknowledgment = UInt32(truncatingIfNeeded: recipe.number([0, 1, 101, 102, 0xffff_ffff]))
  let ports: (UInt16, UInt16) = outgoing ? (40_000, 443) : (443, 40_000)
  let payload = (0..<Int(recipe.byte() % 8)).map { _ in recipe.byte() }
  var tcp = be16(ports.0) + be16(ports.1) + be32(sequence) + be32(acknowledgment)
  tcp += [0x50, flags, 0xff, 0xff, 0, 0, 0, 0] + payload
  let hosts: ([UInt8], [UInt8]) = outgoing ? ([10, 0, 0, 2], [203, 0, 113, 80]) : ([203, 0, 113, 80], [10, 0, 0, 2])
  let length = UInt16(20 + tcp.count)
  let ip = [0x45, 0, UInt8(length >> 8), UInt8(length & 0xff), 0, 1, 0x40, 0, 64, 6, 0, 0] + hosts.0 + hosts.1
  return [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00] + ip + tcp
}

func pcapng(_ recipe: inout Recipe) -> [UInt8] {
  var file: [UInt8] = []
  block(0x0a0d_0d0a, le32(0x1a2b_3c4d) + [1, 0, 0, 0] + [UInt8](repeating: 0xff, count: 8), into: &file)
  let interfaces = 1 + Int(recipe.byte() % 3)
  for _ in 0..<interfaces {
    var options: [UInt8] = []
    for _ in 0..<Int(recipe.byte() % 4) { options += option(&recipe) }
    if !options.isEmpty { options += [0, 0, 0, 0] }
    block(0x0000_0001, [1, 0, 0, 0] + le32(65_535) + options, into: &file)
  }
  while recipe.remaining > 0 {
    let bytes = frame(&recipe)
    let interface = UInt32(recipe.byte() % UInt8(interfaces + 1))  // sometimes one not declared
    let time = recipe.number(timeEdges)
    let wireLength = recipe.byte() & 7 == 0 ? UInt32(recipe.word(UInt16.self)) : UInt32(bytes.count)
    if recipe.byte() & 15 == 0 {
      // A simple packet block: no interface, no time.
      block(0x0000_0003, le32(wireLength) + bytes, into: &file)
    } else {
      block(
        0x0000_0006,
        le32(interface) + le32(UInt32(time >> 32)) + le32(UInt32(time & 0xffff_ffff)) + le32(UInt32(bytes.count))
          + le32(wireLength) + bytes, into: &file)
    }
  }
  return file
}

let numberLiterals = [
  "0", "1", "-1", "5", "65535", "65536", "4294967295", "4294967296", "9223372036854775807", "-9223372036854775808",
  "9223372036854775808", "18446744073709551615", "18446744073709551616", "4611686018427387904",
  "4611686018427387905", "1e30", "-1e30", "1.5", "1e-300", "true", "false", "null", "\"7\"", "[]", "{}",
  "99999999999999999999999999999",
]

/// A JSON value of the recipe's choosing for a field that wants a number.
func numberValue(_ recipe: inout Recipe) -> String {
  recipe.byte() & 3 == 0 ? String(Int64(bitPattern: recipe.word(UInt64.self))) : recipe.pick(numberLiterals)
}

func recordingLine(_ recipe: inout Recipe) -> String {
  let event = recipe.pick([
    "net_flow_tcp_begin", "net_flow_tcp_end", "net_flow_tcp_half_open", "net_packet_dns", "other", "",
  ])
  let addresses = ["10.0.0.2", "203.0.113.80", "::1", "2001:db8::1", "not an address", "", "1.2.3.4.5"]
  var args = [
    "\"src\":\"\(recipe.pick(addresses))\"", "\"dst\":\"\(recipe.pick(addresses))\"",
    "\"src_port\":\(numberValue(&recipe))", "\"dst_port\":\(numberValue(&recipe))",
    "\"conn_direction\":\"\(recipe.pick(["outgoing", "incoming", "sideways"]))\"",
    "\"close_reason\":\"\(recipe.pick(["fin", "rst", "refused", "timeout", "x"]))\"",
    "\"terminated_by\":\"\(recipe.pick(["local", "remote", "x"]))\"", "\"duration_ns\":\(numberValue(&recipe))",
    "\"attempts\":\(numberValue(&recipe))", "\"id\":\(numberValue(&recipe))", "\"rcode\":\(numberValue(&recipe))",
    "\"answers\":[{\"name\":\"a.example\",\"type\":\"A\",\"data\":\"192.0.2.1\",\"ttl\":\(numberValue(&recipe))}]",
    "\"questions\":[\"a.example\"]",
  ]
  // Drop some fields, and sometimes nest a value deeply.
  args = args.filter { _ in recipe.byte() & 7 != 0 }
  if recipe.byte() & 15 == 0 {
    let depth = Int(recipe.word(UInt16.self) % 20_000)
    args.append("\"deep\":" + String(repeating: "[", count: depth) + String(repeating: "]", count: depth))
  }
  var fields = [
    "\"schema_version\":\(recipe.byte() & 7 == 0 ? numberValue(&recipe) : String(EventJSON.schemaVersion))",
    "\"event\":\"\(event)\"", "\"timestamp_ns\":\(numberValue(&recipe))", "\"cgroup_id\":\(numberValue(&recipe))",
    "\"socket_cookie\":\(numberValue(&recipe))",
    "\"process\":{\"pid\":\(numberValue(&recipe)),\"uid\":\(numberValue(&recipe)),\"comm\":\"x\"}",
    "\"args\":{\(args.joined(separator: ","))}",
  ]
  fields = fields.filter { _ in recipe.byte() & 15 != 0 }
  if recipe.byte() & 31 == 0 { fields.append("\"type\":\"alert\"") }
  return "{" + fields.joined(separator: ",") + "}"
}

func recording(_ recipe: inout Recipe) -> [UInt8] {
  var text = ""
  while recipe.remaining > 0 {
    if recipe.byte() & 31 == 0 {
      // Raw bytes of the recipe as a line of its own: anything at all.
      let count = min(recipe.remaining, Int(recipe.byte()))
      text += String(decoding: (0..<count).map { _ in recipe.byte() }, as: UTF8.self) + "\n"
    } else {
      text += recordingLine(&recipe) + "\n"
    }
  }
  return Array(("{" + text.dropFirst()).utf8)  // a recording's first byte opens an object
}

nonisolated(unsafe) let path = FileManager.default.temporaryDirectory.appendingPathComponent(
  "fs-fuzz-capture-\(getpid())"
).path

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  guard size > 0 else { return 0 }
  var recipe = Recipe(bytes: UnsafeBufferPointer(start: data + 1, count: size - 1))
  let bytes = data[0] & 1 == 0 ? pcapng(&recipe) : recording(&recipe)
  guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else { return 0 }
  let replayer = Replayer(pipeline: Pipeline(configuration: Pipeline.Configuration().validatingSegments))
  let sink = InMemoryEventSink()
  replayer.replay(path: path, to: sink)
  // As `flowsentry replay` ends a run: the questions still waiting are given up on, whatever their times.
  replayer.finish(to: sink)
  return 0
}
