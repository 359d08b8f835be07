import CFlowsentryRecord
import FlowsentryTestSupport
import Foundation
import Testing

/// Swift's view of the records against clang -target bpf's own, read from the compiled object's BTF
/// (the eBPF compiler's record of every struct it laid out), not from the host compiler: the two
/// compilers could disagree while each agrees with itself.
@Suite struct RecordBTFLayoutTests {
  static let object = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".build/bpf/flowsentry.bpf.o").path
  static let recordStructs = [
    "fs_record_header", "fs_tcp_record", "fs_flow_record", "fs_dns_record", "fs_half_open_key", "fs_half_open_value",
    "fs_process_owner", "fs_listener_key", "fs_listener_value", "fs_update_record", "fs_walk_listener_key",
  ]

  struct BTFType {
    var kind: String
    var name: String
    var size: Int?
    var typeID: Int?
    var elements: Int?
    var members: [(name: String, typeID: Int, bitOffset: Int)]
  }

  /// `bpftool -j btf dump file`, by type id.
  static func btfTypes() throws -> [Int: BTFType] {
    let bpftool = try ChildProcess.run("/usr/sbin/bpftool", ["-j", "btf", "dump", "file", object])
    try #require(
      bpftool.termination == .exited(0), "bpftool btf dump failed on \(object) (run `make bpf`): \(bpftool.stderr)")
    let data = Data(bpftool.stdout.utf8)
    let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let types = try #require(json["types"] as? [[String: Any]])
    var byID: [Int: BTFType] = [:]
    for entry in types {
      guard let id = entry["id"] as? Int, let kind = entry["kind"] as? String else { continue }
      let members = (entry["members"] as? [[String: Any]] ?? []).compactMap { member -> (String, Int, Int)? in
        guard let name = member["name"] as? String, let type = member["type_id"] as? Int,
          let offset = member["bits_offset"] as? Int
        else { return nil }
        return (name, type, offset)
      }
      byID[id] = BTFType(
        kind: kind, name: entry["name"] as? String ?? "", size: entry["size"] as? Int, typeID: entry["type_id"] as? Int,
        elements: entry["nr_elems"] as? Int, members: members)
    }
    return byID
  }

  /// A type's size in bytes, through typedefs, qualifiers and arrays.
  static func size(of id: Int, in types: [Int: BTFType]) -> Int? {
    guard let type = types[id] else { return nil }
    switch type.kind {
    case "INT", "STRUCT", "UNION", "ENUM", "ENUM64": return type.size
    case "TYPEDEF", "CONST", "VOLATILE", "RESTRICT": return type.typeID.flatMap { size(of: $0, in: types) }
    case "ARRAY":
      guard let element = type.typeID.flatMap({ size(of: $0, in: types) }), let count = type.elements else {
        return nil
      }
      return element * count
    case "PTR": return 8
    default: return nil
    }
  }

  @Test func everyFieldSitsWhereTheBPFCompilerPutsIt() throws {
    let types = try Self.btfTypes()
    let structs = Dictionary(
      types.values.filter { $0.kind == "STRUCT" && Self.recordStructs.contains($0.name) }.map { ($0.name, $0) },
      uniquingKeysWith: { first, _ in first })
    #expect(Set(structs.keys) == Set(Self.recordStructs), "record structs missing from the object's BTF")

    let layout = RecordLayoutTests()
    var checked = 0
    for (structName, type) in structs.sorted(by: { $0.key < $1.key }) {
      for member in type.members {
        let name = "\(structName).\(member.name)"
        #expect(member.bitOffset % 8 == 0, "\(name) is a bit field")
        let btf = (offset: member.bitOffset / 8, size: Self.size(of: member.typeID, in: types))
        guard let swift = layout.swiftOffset(name) else {
          // Padding has no Swift name to check; the fields around it and the struct's size pin it.
          #expect(member.name.hasPrefix("reserved"), "no Swift check for \(name): add it to RecordLayoutTests")
          continue
        }
        checked += 1
        #expect(swift.offset == btf.offset, "\(name): Swift offset \(swift.offset), BPF \(btf.offset)")
        #expect(swift.size == btf.size, "\(name): Swift size \(swift.size), BPF \(btf.size ?? -1)")
      }
    }
    // Every field the host compiler's table lists was found in the BPF object too.
    #expect(checked == fs_record_layout_count)

    let swiftSizes: [String: Int] = [
      "fs_record_header": MemoryLayout<fs_record_header>.size, "fs_tcp_record": MemoryLayout<fs_tcp_record>.size,
      "fs_flow_record": MemoryLayout<fs_flow_record>.size, "fs_dns_record": MemoryLayout<fs_dns_record>.size,
      "fs_half_open_key": MemoryLayout<fs_half_open_key>.size,
      "fs_half_open_value": MemoryLayout<fs_half_open_value>.size,
      "fs_process_owner": MemoryLayout<fs_process_owner>.size, "fs_listener_key": MemoryLayout<fs_listener_key>.size,
      "fs_listener_value": MemoryLayout<fs_listener_value>.size,
      "fs_update_record": MemoryLayout<fs_update_record>.size,
      "fs_walk_listener_key": MemoryLayout<fs_walk_listener_key>.size,
    ]
    for (name, size) in swiftSizes {
      #expect(structs[name]?.size == size, "\(name): Swift size \(size), BPF \(structs[name]?.size ?? -1)")
    }
  }
}
