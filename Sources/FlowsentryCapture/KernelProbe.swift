import CFlowsentryLibbpf
import CFlowsentryRecord
import Synchronization
import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// The loaded eBPF object and its links to one cgroup. Owns the C handle; `close()` detaches.
/// Links are not pinned, so the kernel also detaches them if this process dies, however it dies.
///
/// Any thread may read counters or program ids (the /metrics thread does) while another closes:
/// every use but `poll` holds `lifetime`, which `close()` takes to destroy the handle, so a reader
/// finishes first or finds it closed. `poll` runs on the reader thread only, which has ended
/// before `close()`; it skips the lock so that a slow poll never stalls a counter read.
final class KernelProbe: @unchecked Sendable {
  private let handle: OpaquePointer
  /// Whether the handle has been destroyed; held for the whole of every use of the handle.
  private let lifetime = Mutex(false)

  init(ringBufferBytes: UInt32, dnsPorts: [UInt16], cgroup: CgroupDirectory) throws(CaptureError) {
    LibbpfLog.shared.install()
    LibbpfLog.shared.reset()
    var probe: OpaquePointer?
    let loaded = cfs_probe_load(
      &probe, ringBufferBytes, dnsPorts, Int32(dnsPorts.count), cgroup.id, UInt32(clamping: cgroup.level))
    guard loaded == 0, let probe else {
      let errno = Errno(rawValue: -loaded)
      if errno == .permissionDenied || errno == .notPermitted, geteuid() != 0 { throw .notPrivileged }
      throw .loadFailed(errno, kernelLog: LibbpfLog.shared.takeLines())
    }
    handle = probe
    let version = cfs_probe_record_version(probe)
    guard version == UInt32(FS_RECORD_VERSION) else {
      close()
      throw .recordVersionMismatch(object: version, expected: UInt32(FS_RECORD_VERSION))
    }

    let cgroupFD = open(cgroup.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard cgroupFD >= 0 else {
      close()
      throw .cannotOpenCgroup(path: cgroup.path, Errno(rawValue: errno))
    }
    defer { Glibc.close(cgroupFD) }
    let attached = cfs_probe_attach(probe, cgroupFD)
    guard attached == 0 else {
      close()
      throw .attachFailed(path: cgroup.path, Errno(rawValue: -attached), kernelLog: LibbpfLog.shared.takeLines())
    }
  }

  /// Runs `body` on the handle unless it has been destroyed; `close()` waits for it to return.
  private func withHandle<Result: Sendable>(or closed: Result, _ body: (OpaquePointer) -> Result) -> Result {
    lifetime.withLock { isClosed in isClosed ? closed : body(handle) }
  }

  func openRing(context: UnsafeMutableRawPointer, callback: cfs_record_function) throws(CaptureError) {
    let opened = withHandle(or: -EBADF) { cfs_probe_open_ring($0, callback, context) }
    guard opened == 0 else { throw .ringBufferFailed(Errno(rawValue: -opened)) }
  }

  /// Blocks up to `timeoutMilliseconds`; returns records handled or a negative errno. Only from
  /// the reader thread, or after it has ended, and never after `close()` (see the type's comment).
  func poll(timeoutMilliseconds: Int32) -> Int32 {
    cfs_probe_poll(handle, timeoutMilliseconds)
  }

  /// Visits at most `visitLimit` entries of the half-open map; `visit` returns true to delete an
  /// entry it has accounted for. Whether the walk reached the map's end, or the errno that stopped it.
  func scanHalfOpen(context: UnsafeMutableRawPointer, visitLimit: Int, visit: cfs_half_open_function) -> Result<
    Bool, Errno
  > {
    withHandle(or: .failure(.badFileDescriptor)) { handle in
      var complete: Int32 = 0
      let visited = cfs_probe_half_open_scan(handle, visit, context, Int32(clamping: visitLimit), &complete)
      return visited < 0 ? .failure(Errno(rawValue: -visited)) : .success(complete != 0)
    }
  }

  /// Walks the TCP sockets of one network namespace (`namespaceFD`, or nil for this thread's own),
  /// handing each record to `visit`; the records handed, or the errno that stopped the walk (EIO:
  /// the thread could not return to its own namespace). Blocks: only on the reader thread.
  func walk(namespaceFD: Int32?, context: UnsafeMutableRawPointer, visit: cfs_record_function) -> Result<Int, Errno> {
    withHandle(or: .failure(.badFileDescriptor)) { handle in
      let walked = cfs_probe_walk(handle, namespaceFD ?? -1, visit, context)
      return walked < 0 ? .failure(Errno(rawValue: -walked)) : .success(Int(walked))
    }
  }

  /// Runs a packet program on one frame (BPF_PROG_TEST_RUN); its verdict or a negative errno.
  func testRun(frame: [UInt8], egress: Bool) -> Int32 {
    withHandle(or: -EBADF) { handle in
      frame.withUnsafeBytes { cfs_probe_test_run(handle, egress ? 1 : 0, $0.baseAddress, UInt32($0.count)) }
    }
  }

  /// Detaches the programs: nothing new reaches the ring buffer, what it holds can still be read.
  func detach() {
    withHandle(or: ()) { cfs_probe_detach($0) }
  }

  /// The eBPF programs' counters, or nil once the probe is closed.
  func counters() -> KernelCounters? {
    withHandle(or: nil) { handle in
      KernelCounters { counter in
        var total: UInt64 = 0
        return cfs_probe_read_counter(handle, counter.rawValue, &total) == 0 ? total : 0
      }
    }
  }

  var programIDs: [UInt32] {
    withHandle(or: []) { handle in
      var ids = [UInt32](repeating: 0, count: 8)
      let count = cfs_probe_program_ids(handle, &ids, Int32(ids.count))
      return Array(ids.prefix(Int(max(0, count))))
    }
  }

  /// Destroys the handle once, after any use in progress on another thread has returned.
  func close() {
    lifetime.withLock { isClosed in
      guard !isClosed else { return }
      isClosed = true
      cfs_probe_destroy(handle)
    }
  }

  deinit { close() }
}

/// Collects libbpf's messages so that a failed load can show the verifier's reason.
final class LibbpfLog: Sendable {
  static let shared = LibbpfLog()
  private let lines = Mutex<[String]>([])
  private let installed = Mutex(false)
  private static let keptLines = 200
  /// libbpf's LIBBPF_DEBUG: too chatty to keep.
  private static let debugLevel: Int32 = 2

  func install() {
    installed.withLock { done in
      guard !done else { return }
      done = true
      cfs_set_log_function(
        { _, level, line in
          guard let line, level < LibbpfLog.debugLevel else { return }
          LibbpfLog.shared.append(String(cString: line))
        }, nil)
    }
  }

  func reset() { lines.withLock { $0.removeAll() } }

  func takeLines() -> [String] {
    lines.withLock { kept in
      defer { kept.removeAll() }
      return kept
    }
  }

  private func append(_ text: String) {
    lines.withLock { kept in
      for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
        kept.append(String(line))
      }
      if kept.count > Self.keptLines { kept.removeFirst(kept.count - Self.keptLines) }
    }
  }
}
