import FlowsentryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A syslog-over-TLS receiver in Python (its `ssl` module, OpenSSL) that a test starts on loopback
/// and can kill and start again on the same port: it keeps each whole message it read, and on
/// demand requires a client certificate or drops its first connection after some bytes.
final class TLSReceiver {
  let port: UInt16
  let directory: URL
  private let arguments: [String]
  private var child: ChildProcess?

  init(certificates: TestCertificates, port: UInt16 = Rsyslog.freePort(), options: [String] = []) throws {
    self.port = port
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("fs-tls-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let script = directory.appendingPathComponent("tls_receiver.py")
    try Self.script.write(to: script, atomically: true, encoding: .utf8)
    arguments =
      [
        script.path, "--port", String(port), "--cert", certificates.serverCertificate, "--key",
        certificates.serverKey, "--ca", certificates.ca, "--out", directory.appendingPathComponent("messages").path,
      ] + options
  }

  deinit {
    stop()
    try? FileManager.default.removeItem(at: directory)
  }

  func start() throws {
    let child = try ChildProcess("/usr/bin/python3", arguments, stdout: .discard)
    self.child = child
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
      let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      var address = Rsyslog.loopback(port)
      let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
          connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
      }
      close(descriptor)
      if connected { return }
      usleep(50_000)
    }
    throw RsyslogError(log: "the TLS test receiver did not start: \(child.stderr)")
  }

  func stop() {
    guard let child else { return }
    child.kill()
    // Killed, it ends at once; the wait's own deadline only bounds a stuck reap.
    _ = try? child.wait(timeout: .seconds(10))
    self.child = nil
  }

  var messages: [String] {
    guard let text = try? String(contentsOf: directory.appendingPathComponent("messages"), encoding: .utf8) else {
      return []
    }
    return text.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8), options: .fragmentsAllowed) as? String
    }
  }

  /// Which of the test alerts (`alert-INDEX-…`) arrived, at least once.
  func alertIndices(below count: Int) -> Set<Int> {
    let received = messages
    return Set((0..<count).filter { index in received.contains { $0.contains("alert-\(index)-") } })
  }

  func waitForAlerts(_ count: Int, timeout: TimeInterval = 20) -> Set<Int> {
    let deadline = Date().addingTimeInterval(timeout)
    var found = alertIndices(below: count)
    while found.count < count && Date() < deadline {
      usleep(100_000)
      found = alertIndices(below: count)
    }
    return found
  }

  static let script = #"""
    #!/usr/bin/env python3
    """A syslog-over-TLS receiver (RFC 5425 octet counting) for flowsentry's forwarding tests.

    Writes each message it read, one JSON string per line. On demand it requires a client certificate,
    or drops its first connection after a number of bytes (having kept every whole message it read)."""
    import argparse
    import json
    import socket
    import ssl
    import threading

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ca", help="with --require-client-cert: the CA client certificates must chain to")
    parser.add_argument("--require-client-cert", action="store_true")
    parser.add_argument("--drop-after", type=int, default=0, help="close the first connection after N bytes")
    parser.add_argument("--out", required=True)
    arguments = parser.parse_args()

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(arguments.cert, arguments.key)
    if arguments.require_client_cert:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(arguments.ca)
    lock = threading.Lock()
    state = {"connections": 0}


    def frames(buffer):
        """Whole octet-counted messages at the front of buffer, and what is left."""
        messages = []
        while True:
            space = buffer.find(b" ")
            if space <= 0:
                return messages, buffer
            length = int(buffer[:space])
            if len(buffer) < space + 1 + length:
                return messages, buffer
            messages.append(buffer[space + 1:space + 1 + length])
            buffer = buffer[space + 1 + length:]


    def serve(raw):
        try:
            connection = context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        # Counted after the handshake: a test's probe for the listening port is no connection.
        with lock:
            state["connections"] += 1
            drop = arguments.drop_after if state["connections"] == 1 else 0
        buffer, read = b"", 0
        try:
            while True:
                data = connection.recv(65536)
                if not data:
                    break
                buffer += data
                read += len(data)
                messages, buffer = frames(buffer)
                with lock, open(arguments.out, "a") as out:
                    for message in messages:
                        out.write(json.dumps(message.decode("utf-8")) + "\n")
                if drop and read >= drop:
                    # Whatever this side's TCP acknowledged is kept before the reset: the sensor
                    # counts it delivered, rightly (FORWARDING.md), and a reset with it unread
                    # would be a receiver losing it, not the sensor. Read until the sender has been
                    # quiet for 200 ms: a read that merely found nothing waiting (a TLS record half
                    # arrived, this thread late on a loaded machine) lost one alert in a run.
                    connection.settimeout(0.2)
                    try:
                        while True:
                            data = connection.recv(65536)
                            if not data:
                                break
                            buffer += data
                    except (TimeoutError, ssl.SSLError, OSError):
                        pass
                    messages, buffer = frames(buffer)
                    with lock, open(arguments.out, "a") as out:
                        for message in messages:
                            out.write(json.dumps(message.decode("utf-8")) + "\n")
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    break
        except (ssl.SSLError, OSError):
            pass
        connection.close()


    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", arguments.port))
    listener.listen(16)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client,), daemon=True).start()
    """#
}
