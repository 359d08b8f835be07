import FlowsentryCore
import FlowsentryOutput
import FlowsentrySpool

#if canImport(Glibc)
  import Glibc
#endif

/// Syslog over RELP (rsyslog's Reliable Event Logging Protocol): every message is answered by the
/// receiver's application (`rsp 200 OK`), and a record counts as delivered only then.
///
/// Frames are `TXNR SP COMMAND SP DATALEN [SP DATA] LF`. The session opens with `open` (offering
/// `relp_version=0` and `commands=syslog`), sends each record as `syslog`, and reads `rsp` frames.
///
/// Written here rather than on librelp: librelp's client takes a message into its own in-memory
/// window and reports success when it is queued, with no way to learn which ones the receiver
/// answered; a sensor killed with a full window would lose them. Here the spool commits exactly
/// the answered ones.
final class RELPTransport: Transport {
  private let socket: StreamSocket
  private let timeoutMilliseconds: Int32
  private var nextTransaction = 1
  /// Records sent, oldest first, with their transaction numbers and whether they were answered.
  private var inFlight: [(transaction: Int, sequence: UInt64, answered: Bool)] = []
  private var inFlightHead = 0
  private var positions: [Int: Int] = [:]
  private var received: [UInt8] = []

  init(host: String, port: UInt16, timeoutMilliseconds: Int32) throws(TransportError) {
    socket = try StreamSocket.connect(host: host, port: port, kind: .tcp, timeoutMilliseconds: timeoutMilliseconds)
    self.timeoutMilliseconds = timeoutMilliseconds
    let offers = "relp_version=0\nrelp_software=flowsentry,\(FlowsentryVersion.current)\ncommands=syslog"
    let transaction = try write("open", Array(offers.utf8))
    // The session exists once the receiver accepted the offer.
    var waited: Int32 = 0
    while true {
      for frame in try readFrames() where frame.command == "rsp" && frame.transaction == transaction {
        guard frame.status == 200 else {
          throw .broken("\(socket.peer) refused the RELP session: \(String(decoding: frame.data, as: UTF8.self))")
        }
        guard String(decoding: frame.data, as: UTF8.self).contains("syslog") else {
          throw .broken("\(socket.peer) does not offer the RELP syslog command")
        }
        return
      }
      guard waited < timeoutMilliseconds else { throw .broken("\(socket.peer): no answer to the RELP open") }
      if !socket.wait(for: Int16(POLLIN), timeoutMilliseconds: 50) { waited += 50 }
    }
  }

  var unacknowledged: Int { inFlight.count - inFlightHead }

  func send(_ records: [Spool.Record]) throws(TransportError) {
    for record in records {
      let transaction = try write("syslog", record.payload)
      positions[transaction] = inFlight.count
      inFlight.append((transaction, record.sequence, false))
    }
  }

  func acknowledged() throws(TransportError) -> UInt64? {
    for frame in try readFrames() {
      switch frame.command {
      case "rsp":
        guard let index = positions.removeValue(forKey: frame.transaction) else { continue }
        guard frame.status == 200 else {
          // The receiver could not take it (e.g. its queue is full): reconnect and send it again.
          throw .broken("\(socket.peer) answered \(String(decoding: frame.data.prefix(200), as: UTF8.self))")
        }
        inFlight[index].answered = true
      case "serverclose":
        throw .broken("\(socket.peer) closed the RELP session")
      default:
        continue
      }
    }
    var last: UInt64?
    while inFlightHead < inFlight.count, inFlight[inFlightHead].answered {
      last = inFlight[inFlightHead].sequence
      inFlightHead += 1
    }
    if inFlightHead > 1024, inFlightHead * 2 > inFlight.count {
      inFlight.removeFirst(inFlightHead)
      inFlightHead = 0
      positions = Dictionary(
        uniqueKeysWithValues: inFlight.enumerated().filter { !$0.element.answered }.map {
          ($0.element.transaction, $0.offset)
        })
    }
    return last
  }

  private func write(_ command: String, _ data: [UInt8]) throws(TransportError) -> Int {
    let transaction = nextTransaction
    // Transaction numbers run 1 … 999,999,999, then start over (RELP's bound).
    nextTransaction = nextTransaction == 999_999_999 ? 1 : nextTransaction + 1
    var frame = Array("\(transaction) \(command) \(data.count)".utf8)
    if !data.isEmpty {
      frame.append(UInt8(ascii: " "))
      frame += data
    }
    frame.append(UInt8(ascii: "\n"))
    try socket.write(frame, timeoutMilliseconds: timeoutMilliseconds)
    return transaction
  }

  struct Frame {
    var transaction: Int
    var command: String
    var data: ArraySlice<UInt8>
    /// The status code an `rsp` starts with.
    var status: Int? {
      Int(String(decoding: data.prefix { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") }, as: UTF8.self))
    }
  }

  /// Whole frames read so far; a partial one waits for its rest.
  private func readFrames() throws(TransportError) -> [Frame] {
    guard let bytes = try socket.readAvailable() else { throw .broken("\(socket.peer) closed the connection") }
    received += bytes
    var frames: [Frame] = []
    var position = 0
    while let frame = try parse(from: &position) { frames.append(frame) }
    received.removeFirst(position)
    return frames
  }

  private func parse(from position: inout Int) throws(TransportError) -> Frame? {
    var cursor = position
    func field() -> String? {
      guard let end = received[cursor...].firstIndex(where: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") })
      else { return nil }
      let text = String(decoding: received[cursor..<end], as: UTF8.self)
      cursor = end
      return text
    }
    guard let transactionText = field() else { return nil }
    guard cursor < received.count, received[cursor] == UInt8(ascii: " "), let transaction = Int(transactionText)
    else { throw .broken("\(socket.peer): not a RELP frame") }
    cursor += 1
    guard let command = field() else { return nil }
    guard cursor < received.count, received[cursor] == UInt8(ascii: " ") else {
      throw .broken("\(socket.peer): not a RELP frame")
    }
    cursor += 1
    guard let lengthText = field() else { return nil }
    guard let length = Int(lengthText), length >= 0, length <= 128 << 20 else {
      throw .broken("\(socket.peer): bad RELP data length")
    }
    if length > 0 { cursor += 1 }  // the space before the data
    guard cursor + length < received.count else { return nil }
    let data = received[cursor..<cursor + length]
    cursor += length
    guard received[cursor] == UInt8(ascii: "\n") else {
      throw .broken("\(socket.peer): RELP frame without its trailer")
    }
    position = cursor + 1
    return Frame(transaction: transaction, command: command, data: data)
  }
}
