import FlowsentryCore

#if canImport(Glibc)
  import Glibc
#endif

/// `IntelBenchmark recording PATH EVENTS`: writes a recording as `monitor --record` writes one (JSON
/// lines of the event schema, docs/EVENTS.md) for `flowsentry replay` to retro-hunt through, with the
/// event mix of the rule benchmark (of every four: two connection begins naming their peer, one end,
/// one lookup), so that bench-intel.sh times the real command on it. `replay`'s summary counts
/// malformed lines: the script checks that every line was read as an event.
func writeRecording(path: String, count: Int) {
  let events = ruleBenchmarkEvents(domainCount: 1_000_000, cidrCount: 0, count: count)
  var file = GeneratedFile(path)
  for (index, event) in events.enumerated() {
    appendRecordLine(event, cookie: UInt64(index / 4), to: &file.buffer)
    file.flushIfFull()
  }
  file.close()
}

private func appendRecordLine(_ event: SensorEvent, cookie: UInt64, to output: inout [UInt8]) {
  func text(_ value: String) { output.append(contentsOf: value.utf8) }
  func quoted(_ value: String) {
    output.append(UInt8(ascii: "\""))
    text(value)
    output.append(UInt8(ascii: "\""))
  }
  func names(_ values: [String]) {
    output.append(UInt8(ascii: "["))
    for (index, value) in values.enumerated() {
      if index > 0 { output.append(UInt8(ascii: ",")) }
      quoted(value)
    }
    output.append(UInt8(ascii: "]"))
  }
  func endpoints(_ source: Endpoint, _ destination: Endpoint) {
    text("\"src\":")
    quoted(source.address.description)
    text(",\"dst\":")
    quoted(destination.address.description)
    text(",\"src_port\":\(source.port),\"dst_port\":\(destination.port)")
  }
  switch event {
  case .flow(let flow):
    let name = flow.name == .netFlowTCPBegin ? "net_flow_tcp_begin" : "net_flow_tcp_end"
    text("{\"schema_version\":1,\"event\":\"\(name)\",\"timestamp_ns\":\(flow.timestamp),\"host\":\"bench\"")
    text(",\"cgroup_id\":0,\"socket_cookie\":\(cookie)")
    if let process = flow.process {
      text(",\"process\":{\"pid\":\(process.pid),\"comm\":")
      quoted(process.command)
      text(",\"uid\":\(process.uid)}")
    } else {
      text(",\"process\":null")
    }
    text(",\"args\":{\"conn_direction\":\"\(flow.direction == .outgoing ? "outgoing" : "incoming")\",")
    endpoints(flow.source, flow.destination)
    text(",\"src_dns\":")
    names(flow.sourceNames)
    text(",\"dst_dns\":")
    names(flow.destinationNames)
    if flow.name == .netFlowTCPEnd {
      text(",\"close_reason\":\"fin\",\"terminated_by\":\"local\",\"duration_ns\":\(flow.durationNanoseconds ?? 0)")
    }
    text("}}\n")
  case .dns(let dns):
    text("{\"schema_version\":1,\"event\":\"net_packet_dns\",\"timestamp_ns\":\(dns.timestamp),\"host\":\"bench\"")
    text(",\"cgroup_id\":0,\"process\":null,\"args\":{")
    endpoints(dns.source, dns.destination)
    text(",\"transport\":\"udp\",\"id\":\(dns.id),\"rcode\":\(dns.responseCode),\"questions\":")
    names(dns.questions)
    text(",\"answers\":[")
    for (position, answer) in dns.answers.enumerated() {
      text(position == 0 ? "{\"name\":" : ",{\"name\":")
      quoted(answer.name)
      text(",\"type\":\"\(answer.type)\",\"ttl\":\(answer.timeToLive),\"data\":")
      quoted(answer.data)
      text("}")
    }
    text("],\"truncated\":false}}\n")
  }
}
