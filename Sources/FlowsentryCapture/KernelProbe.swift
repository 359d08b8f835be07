import CFlowsentryLibbpf
import CFlowsentryRecord
import Synchronization
import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// The loaded eBPF object and its links to one cgroup. Owns the C handle; `close()` detaches.
/// Links are not pinned, so the kernel also detaches them if this process dies, however it dies.
final class KernelProbe: @unchecked Sendable {
  // Guarded by the fact that only CaptureSession touches it: loads and attaches on its caller,
  // polls on the reader thread, closes after that thread has ended.
  private var handle: OpaquePointer?

  init(ringBufferBytes: UInt32, dnsPorts: [UInt16], cgroup: CgroupDirectory) throws(CaptureError) {
    LibbpfLog.shared.install()
    LibbpfLog.shared.reset()
    var probe: OpaquePointer?
    let loaded = cfs_probe_load(&probe, ringBufferBytes, dnsPorts, Int32(dnsPorts.count))
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

  func openRing(context: UnsafeMutableRawPointer, callback: cfs_record_function) throws(CaptureError) {
    let opened = cfs_probe_open_ring(handle, callback, context)
    guard opened == 0 else { throw .ringBufferFailed(Errno(rawValue: -opened)) }
  }

  /// Blocks up to `timeoutMilliseconds`; returns records handled or a negative errno.
  func poll(timeoutMilliseconds: Int32) -> Int32 {
    cfs_probe_poll(handle, timeoutMilliseconds)
  }

  /// Visits the half-open map; `visit` returns true to delete an entry it has accounted for.
  func scanHalfOpen(context: UnsafeMutableRawPointer, visit: cfs_half_open_function) {
    guard let handle else { return }
    _ = cfs_probe_half_open_scan(handle, visit, context)
  }

  /// Runs a packet program on one frame (BPF_PROG_TEST_RUN); its verdict or a negative errno.
  func testRun(frame: [UInt8], egress: Bool) -> Int32 {
    guard let handle else { return -Int32(EBADF) }
    return frame.withUnsafeBytes { cfs_probe_test_run(handle, egress ? 1 : 0, $0.baseAddress, UInt32($0.count)) }
  }

  /// Detaches the programs: nothing new reaches the ring buffer, what it holds can still be read.
  func detach() {
    guard let handle else { return }
    cfs_probe_detach(handle)
  }

  func counter(_ counter: fs_counter) -> UInt64 {
    guard let handle else { return 0 }
    var total: UInt64 = 0
    return cfs_probe_read_counter(handle, counter.rawValue, &total) == 0 ? total : 0
  }

  var programIDs: [UInt32] {
    guard let handle else { return [] }
    var ids = [UInt32](repeating: 0, count: 8)
    let count = cfs_probe_program_ids(handle, &ids, Int32(ids.count))
    return Array(ids.prefix(Int(max(0, count))))
  }

  func close() {
    cfs_probe_destroy(handle)
    handle = nil
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
