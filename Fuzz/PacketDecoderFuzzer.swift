import FlowsentryCore
import FlowsentryPackets

// libFuzzer entry point: the first byte picks a link type, the rest is a captured frame. Every input
// is decoded and, when it decodes, turned into observations; no input may crash, hang or trip a
// sanitizer. Built and run by scripts/fuzz.sh packets.
nonisolated(unsafe) var observer = PacketObserver()
nonisolated(unsafe) var records: [CapturedRecord] = []

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
  guard size > 0 else { return 0 }
  let linkType = LinkType.all[Int(data[0]) % LinkType.all.count]
  let frame = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
  var packet = DecodedPacket()
  guard PacketDecoder.decode(frame, linkType: linkType, into: &packet) == nil else { return 0 }
  observer.observe(packet, frame: frame, at: 0, into: &records)
  records.removeAll(keepingCapacity: true)
  return 0
}
