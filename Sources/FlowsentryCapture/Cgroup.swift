import SystemPackage

#if canImport(Glibc)
  import Glibc
#endif

/// A directory of the cgroup v2 hierarchy that programs attach to.
public struct CgroupDirectory: Sendable, Equatable {
  public var path: String
  /// The cgroup id the kernel reports in events (the directory's inode number on cgroup v2).
  public var id: UInt64
  /// How deep below the mount's root it is (the root is 0): the kernel's cgroup level.
  public var level: Int = 0

  /// The root of the cgroup v2 mount (the whole host), or `path` when given: absolute, or relative to the mount.
  public static func resolve(_ path: String?, mounts: String = "/proc/mounts") throws(CaptureError) -> CgroupDirectory {
    let mountPoints = cgroup2Mounts(mountsFile: mounts)
    guard let root = mountPoints.first else { throw .cgroupV2NotMounted }
    var target = path.map { $0.hasPrefix("/") ? $0 : root + "/" + $0 } ?? root
    while target.count > 1 && target.hasSuffix("/") { target.removeLast() }
    var status = stat()
    guard stat(target, &status) == 0 else { throw .cannotOpenCgroup(path: target, Errno(rawValue: errno)) }
    guard status.st_mode & S_IFMT == S_IFDIR,
      mountPoints.contains(where: { target == $0 || target.hasPrefix($0 + "/") })
    else { throw .notACgroupV2Directory(path: target) }
    let mount = mountPoints.filter { target == $0 || target.hasPrefix($0 + "/") }.max { $0.count < $1.count } ?? root
    let below = target.dropFirst(mount.count).split(separator: "/").count
    return CgroupDirectory(path: target, id: UInt64(status.st_ino), level: below)
  }

  /// The first cgroup2 mount point listed in /proc/mounts.
  public static func cgroup2Mount(mountsFile: String = "/proc/mounts") -> String? {
    cgroup2Mounts(mountsFile: mountsFile).first
  }

  static func cgroup2Mounts(mountsFile: String) -> [String] {
    guard let text = try? readTextFile(mountsFile) else { return [] }
    return text.split(separator: "\n").compactMap { line in
      let fields = line.split(separator: " ")
      return fields.count >= 3 && fields[2] == "cgroup2" ? unescapeMountField(fields[1]) : nil
    }
  }

  /// /proc/mounts writes space, tab, newline and backslash as three-digit octal escapes.
  static func unescapeMountField(_ field: Substring) -> String {
    var bytes: [UInt8] = []
    var utf8 = Array(field.utf8)[...]
    while let byte = utf8.popFirst() {
      if byte == UInt8(ascii: "\\"), utf8.count >= 3,
        let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8)
      {
        bytes.append(value)
        utf8 = utf8.dropFirst(3)
      } else {
        bytes.append(byte)
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}

/// Reads a whole (small, procfs or sysfs) text file.
func readTextFile(_ path: String) throws(Errno) -> String {
  let descriptor: FileDescriptor
  do {
    descriptor = try FileDescriptor.open(path, .readOnly, options: .closeOnExec)
  } catch { throw error as! Errno }
  defer { try? descriptor.close() }
  var bytes: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 65_536)
  while true {
    let count: Int
    do {
      count = try chunk.withUnsafeMutableBytes { try descriptor.read(into: $0, retryOnInterrupt: true) }
    } catch { throw error as! Errno }
    if count == 0 { break }
    bytes += chunk[0..<count]
  }
  return String(decoding: bytes, as: UTF8.self)
}
