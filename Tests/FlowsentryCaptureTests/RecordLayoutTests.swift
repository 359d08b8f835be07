import CFlowsentryRecord
import Testing

/// Swift's view of bpf/include/flowsentry_record.h must match the host C compiler's; the eBPF
/// compiler's own view, from the object's BTF, is checked by RecordBTFLayoutTests.
@Suite struct RecordLayoutTests {
  func swiftOffset(_ name: String) -> (offset: Int, size: Int)? {
    func field<T>(_ path: PartialKeyPath<T>, _ size: Int) -> (Int, Int)? {
      MemoryLayout<T>.offset(of: path).map { ($0, size) }
    }
    typealias Header = fs_record_header
    typealias TCP = fs_tcp_record
    typealias Flow = fs_flow_record
    typealias DNS = fs_dns_record
    typealias HalfOpenKey = fs_half_open_key
    typealias HalfOpenValue = fs_half_open_value
    typealias Owner = fs_process_owner
    typealias ListenerKey = fs_listener_key
    typealias ListenerValue = fs_listener_value
    switch name {
    case "fs_record_header.kind": return field(\Header.kind, MemoryLayout<UInt32>.size)
    case "fs_record_header.hook": return field(\Header.hook, 1)
    case "fs_record_header.family": return field(\Header.family, 1)
    case "fs_record_header.source_port": return field(\Header.source_port, 2)
    case "fs_record_header.destination_port": return field(\Header.destination_port, 2)
    case "fs_record_header.timestamp_ns": return field(\Header.timestamp_ns, 8)
    case "fs_record_header.cgroup_id": return field(\Header.cgroup_id, 8)
    case "fs_record_header.socket_cookie": return field(\Header.socket_cookie, 8)
    case "fs_record_header.source_address":
      return field(\Header.source_address, MemoryLayout.size(ofValue: Header().source_address))
    case "fs_record_header.destination_address":
      return field(\Header.destination_address, MemoryLayout.size(ofValue: Header().destination_address))
    case "fs_record_header.netns_cookie": return field(\Header.netns_cookie, 8)
    case "fs_tcp_record.header": return field(\TCP.header, MemoryLayout<Header>.size)
    case "fs_tcp_record.sequence": return field(\TCP.sequence, 4)
    case "fs_tcp_record.acknowledgment": return field(\TCP.acknowledgment, 4)
    case "fs_tcp_record.tcp_flags": return field(\TCP.tcp_flags, 1)
    case "fs_tcp_record.socket_state": return field(\TCP.socket_state, 1)
    case "fs_tcp_record.owner_known": return field(\TCP.owner_known, 1)
    case "fs_tcp_record.local_listening": return field(\TCP.local_listening, 1)
    case "fs_tcp_record.owner_pid": return field(\TCP.owner_pid, 4)
    case "fs_tcp_record.owner_uid": return field(\TCP.owner_uid, 4)
    case "fs_tcp_record.owner_comm": return field(\TCP.owner_comm, MemoryLayout.size(ofValue: TCP().owner_comm))
    case "fs_flow_record.header": return field(\Flow.header, MemoryLayout<Header>.size)
    case "fs_flow_record.transition": return field(\Flow.transition, 1)
    case "fs_flow_record.direction": return field(\Flow.direction, 1)
    case "fs_flow_record.close_reason": return field(\Flow.close_reason, 1)
    case "fs_flow_record.terminated_by": return field(\Flow.terminated_by, 1)
    case "fs_flow_record.old_state": return field(\Flow.old_state, 1)
    case "fs_flow_record.new_state": return field(\Flow.new_state, 1)
    case "fs_flow_record.owner_known": return field(\Flow.owner_known, 1)
    case "fs_flow_record.owner_pid": return field(\Flow.owner_pid, 4)
    case "fs_flow_record.owner_uid": return field(\Flow.owner_uid, 4)
    case "fs_flow_record.owner_comm": return field(\Flow.owner_comm, MemoryLayout.size(ofValue: Flow().owner_comm))
    case "fs_flow_record.socket_error": return field(\Flow.socket_error, 4)
    case "fs_flow_record.bytes_sent": return field(\Flow.bytes_sent, 8)
    case "fs_flow_record.bytes_received": return field(\Flow.bytes_received, 8)
    case "fs_flow_record.data_segments_sent": return field(\Flow.data_segments_sent, 4)
    case "fs_flow_record.data_segments_received": return field(\Flow.data_segments_received, 4)
    case "fs_flow_record.retransmits": return field(\Flow.retransmits, 4)
    case "fs_flow_record.rtt_us": return field(\Flow.rtt_us, 4)
    case "fs_flow_record.volume_known": return field(\Flow.volume_known, 1)
    case "fs_dns_record.header": return field(\DNS.header, MemoryLayout<Header>.size)
    case "fs_dns_record.message_length": return field(\DNS.message_length, 2)
    case "fs_dns_record.payload_length": return field(\DNS.payload_length, 2)
    case "fs_dns_record.transport": return field(\DNS.transport, 1)
    case "fs_dns_record.payload": return field(\DNS.payload, MemoryLayout.size(ofValue: DNS().payload))
    case "fs_half_open_key.family": return field(\HalfOpenKey.family, 1)
    case "fs_half_open_key.address":
      return field(\HalfOpenKey.address, MemoryLayout.size(ofValue: HalfOpenKey().address))
    case "fs_half_open_key.netns_cookie": return field(\HalfOpenKey.netns_cookie, 8)
    case "fs_half_open_value.syns": return field(\HalfOpenValue.syns, 8)
    case "fs_half_open_value.established": return field(\HalfOpenValue.established, 8)
    case "fs_half_open_value.last_syn_ns": return field(\HalfOpenValue.last_syn_ns, 8)
    case "fs_half_open_value.last_port": return field(\HalfOpenValue.last_port, 2)
    case "fs_half_open_value.last_remote_port": return field(\HalfOpenValue.last_remote_port, 2)
    case "fs_half_open_value.last_local_address":
      return field(\HalfOpenValue.last_local_address, MemoryLayout.size(ofValue: HalfOpenValue().last_local_address))
    case "fs_process_owner.pid": return field(\Owner.pid, 4)
    case "fs_process_owner.uid": return field(\Owner.uid, 4)
    case "fs_process_owner.comm": return field(\Owner.comm, MemoryLayout.size(ofValue: Owner().comm))
    case "fs_process_owner.cgroup_id": return field(\Owner.cgroup_id, 8)
    case "fs_listener_key.netns_cookie": return field(\ListenerKey.netns_cookie, 8)
    case "fs_listener_key.family": return field(\ListenerKey.family, 1)
    case "fs_listener_key.port": return field(\ListenerKey.port, 2)
    case "fs_listener_key.address":
      return field(\ListenerKey.address, MemoryLayout.size(ofValue: ListenerKey().address))
    case "fs_listener_value.owner": return field(\ListenerValue.owner, MemoryLayout<Owner>.size)
    case "fs_listener_value.socket_cookie": return field(\ListenerValue.socket_cookie, 8)
    case "fs_walk_listener_key.netns_cookie": return field(\fs_walk_listener_key.netns_cookie, 8)
    case "fs_walk_listener_key.port": return field(\fs_walk_listener_key.port, 2)
    case "fs_update_record.header": return field(\fs_update_record.header, MemoryLayout<Header>.size)
    case "fs_update_record.direction": return field(\fs_update_record.direction, 1)
    case "fs_update_record.follow": return field(\fs_update_record.follow, 1)
    case "fs_update_record.state": return field(\fs_update_record.state, 1)
    case "fs_update_record.follow_error": return field(\fs_update_record.follow_error, 4)
    case "fs_update_record.bytes_sent": return field(\fs_update_record.bytes_sent, 8)
    case "fs_update_record.bytes_received": return field(\fs_update_record.bytes_received, 8)
    case "fs_update_record.data_segments_sent": return field(\fs_update_record.data_segments_sent, 4)
    case "fs_update_record.data_segments_received": return field(\fs_update_record.data_segments_received, 4)
    case "fs_update_record.retransmits": return field(\fs_update_record.retransmits, 4)
    case "fs_update_record.rtt_us": return field(\fs_update_record.rtt_us, 4)
    default: return nil
    }
  }

  @Test func everyFieldSitsWhereCPutsIt() throws {
    #expect(fs_record_layout_count == 77)
    for index in 0..<fs_record_layout_count {
      let entry = fs_record_layout_entry(index).pointee
      let name = String(cString: entry.name)
      let swift = try #require(swiftOffset(name), "no Swift check for \(name): add it")
      #expect(swift.offset == entry.offset, "\(name): Swift offset \(swift.offset), C \(entry.offset)")
      #expect(swift.size == entry.size, "\(name): Swift size \(swift.size), C \(entry.size)")
    }
  }

  @Test func recordSizesMatch() {
    #expect(MemoryLayout<fs_tcp_record>.size == fs_tcp_record_size)
    #expect(MemoryLayout<fs_flow_record>.size == fs_flow_record_size)
    #expect(MemoryLayout<fs_dns_record>.size == fs_dns_record_size)
    #expect(MemoryLayout<fs_update_record>.size == fs_update_record_size)
    #expect(MemoryLayout<fs_update_record>.size == 120)
    #expect(MemoryLayout<fs_tcp_record>.size == 120)
    #expect(MemoryLayout<fs_flow_record>.size == 160)
    #expect(MemoryLayout<fs_dns_record>.size == 1320)
    #expect(MemoryLayout<fs_record_header>.size == 80)
    #expect(MemoryLayout<fs_process_owner>.size == 32)
    #expect(MemoryLayout<fs_listener_key>.size == 32)
    #expect(MemoryLayout<fs_listener_value>.size == 40)
  }
}
