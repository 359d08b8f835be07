import FlowsentryCore

/// What one side of a flow sent.
struct SideVolume {
  var bytes: UInt64
  var packets: UInt64
}

extension FlowEvent {
  /// The local socket's volume as what `source` and `destination` each sent, for formats (ECS, CEF)
  /// whose byte fields belong to the endpoints: on an end, `source` is the side that terminated,
  /// which is the local socket or its peer by `terminatedBy`. Nil without volume.
  var volumeBySide: (source: SideVolume, destination: SideVolume)? {
    guard let volume else { return nil }
    let local = SideVolume(bytes: volume.bytesSent, packets: volume.packetsSent)
    let remote = SideVolume(bytes: volume.bytesReceived, packets: volume.packetsReceived)
    let sourceIsLocal: Bool
    switch name {
    case .netFlowTCPEnd: sourceIsLocal = terminatedBy != .remote
    // A begin or update: source is the initiator, the local socket when it connected.
    default: sourceIsLocal = direction == .outgoing
    }
    return sourceIsLocal ? (local, remote) : (remote, local)
  }
}
