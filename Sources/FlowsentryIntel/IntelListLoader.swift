import FlowsentryCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A list as a rule file declares it: `{name, type, match, files, format}`.
public struct IntelListSpecification: Sendable, Equatable {
  public var name: String
  public var type: IndicatorType
  public var match: DomainMatch
  /// Paths or globs (`*`, `?`, `[…]`), relative to the base directory the loader is given, or absolute.
  public var files: [String]
  public var format: FeedFormat

  public init(
    name: String, type: IndicatorType, match: DomainMatch = .exact, files: [String], format: FeedFormat = .lines
  ) {
    self.name = name
    self.type = type
    self.match = match
    self.files = files
    self.format = format
  }
}

/// What loading a specification gave: the list, the globs that matched no file (an empty list and
/// a warning, so that rules naming feeds load on a host that has none), and what globs matched that
/// is not a regular file (each skipped with a warning).
public struct IntelListLoad: Sendable {
  public var list: IntelList
  public var unmatchedPatterns: [String]
  /// Files that gave the list nothing: empty, comments only, or every line malformed (with how
  /// many were), as a download cut short or an error page renamed over a feed leaves it. A file
  /// whose lines are all of types the list does not hold (a Zeek file of domains, read by an
  /// address list too) is not one. With the pattern that named it, as the specification wrote it.
  public var filesWithoutIndicators: [(pattern: String, path: String, malformed: Int)] = []
  public var skippedFiles: [SkippedFeedFile] = []
}

/// Why a load failed, and the pattern (as the specification wrote it) whose path or glob gave the
/// feed that failed it: a rule file puts the error at that `files:` item. The pattern travels with
/// each path from the glob that expanded it, since matching a path against the globs afterwards
/// can disagree with what glob(3) did.
public struct IntelListLoadFailure: Error, Sendable, Equatable, CustomStringConvertible {
  public var pattern: String
  public var error: IntelFeedError

  public init(pattern: String, error: IntelFeedError) {
    self.pattern = pattern
    self.error = error
  }

  public var description: String { error.description }
}

/// A path a glob matched that names no regular file, or a regular file past
/// `IntelLimits.maximumFeedFileBytes`: skipped, where a path named literally is an error. A stray
/// FIFO, directory, dangling link or oversized file beside good feeds must not refuse a rule set
/// (at start the monitor would not run at all).
public struct SkippedFeedFile: Sendable, Equatable {
  /// The pattern as the specification wrote it.
  public var pattern: String
  public var path: String
  /// What the path names: `a FIFO`, `a directory`, `a dangling symbolic link`, `a regular file`, ….
  public var kind: String
  /// The size of a regular file skipped for it; nil for a path skipped for its kind.
  public var bytes: Int64?

  public init(pattern: String, path: String, kind: String, bytes: Int64? = nil) {
    self.pattern = pattern
    self.path = path
    self.kind = kind
    self.bytes = bytes
  }

  /// Why it was skipped, for a warning: `a FIFO, not a regular file`, or its size and the limit.
  public var reason: String {
    guard let bytes else { return "\(kind), not a regular file" }
    return "\(bytes) bytes, over the feed size limit of \(IntelLimits.maximumFeedFileBytes) bytes"
  }
}

public enum IntelListLoader {
  /// The directories of `pattern` before its first component with a glob character: what must
  /// exist for the glob to match anything, and what a watch of its files watches.
  public static func globDirectory(_ pattern: String) -> String {
    var components: [Substring] = []
    for component in pattern.split(separator: "/", omittingEmptySubsequences: false).dropLast() {
      if component.contains(where: { "*?[".contains($0) }) { break }
      components.append(component)
    }
    let prefix = components.joined(separator: "/")
    return prefix.isEmpty ? (pattern.hasPrefix("/") ? "/" : ".") : prefix
  }

  /// `pattern` as a path from `baseDirectory` (unless absolute), as the loader reads it, alerts and
  /// `rules check` show it, and a reload's comparison and the feed watch expand it: without its `.`
  /// segments, which name the directory they are in, so `rules/./feeds/a.txt` and `./feeds/a.txt`
  /// show as `rules/feeds/a.txt` and `feeds/a.txt`. A `..` segment is kept as written: after a
  /// symbolic link it is the parent of the link's target, not of the link (`rules.d/../intel`
  /// with `rules.d` a link to `/opt/x/rules` is `/opt/x/intel`), so removing it with the segment
  /// before it could name another file. Repeated slashes are kept too (harmless, and rare).
  public static func resolve(_ pattern: String, in baseDirectory: String) -> String {
    let path = pattern.hasPrefix("/") || baseDirectory.isEmpty ? pattern : baseDirectory + "/" + pattern
    return withoutDotSegments(path)
  }

  /// `path` without its `.` segments but the last (`a/.` names `a` only when `a` is a directory).
  static func withoutDotSegments(_ path: String) -> String {
    var segments = path.split(separator: "/", omittingEmptySubsequences: false)
    guard segments.count > 1, segments.dropLast().contains(".") else { return path }
    let last = segments.removeLast()
    segments.removeAll { $0 == "." }
    segments.append(last)
    let joined = segments.joined(separator: "/")
    // `./` alone, a directory, is no feed: left as written for the error that names it.
    return last.isEmpty && segments.count == 1 ? path : joined
  }

  /// Expands `specification.files` against `baseDirectory` (sorted, so a reload reads the same order)
  /// and reads every feed into one list. A plain path that cannot be read, or a directory a glob cannot
  /// search, throws `IntelFeedError.unreadable` naming it (with its pattern); a glob that matches nothing does not, nor
  /// one that matches something other than a regular file, or one past the size limit
  /// (`IntelListLoad.skippedFiles`): a plain path past it is an error too.
  public static func load(
    _ specification: IntelListSpecification, baseDirectory: String,
    diagnosticLimit: Int = IntelLimits.warningsShownPerKind
  ) throws(IntelListLoadFailure) -> IntelListLoad {
    var builder = IntelListBuilder(
      name: specification.name, type: specification.type, domainMatch: specification.match,
      diagnosticLimit: diagnosticLimit)
    var unmatched: [String] = []
    var skipped: [SkippedFeedFile] = []
    var feeds: [(path: String, pattern: String)] = []
    for pattern in specification.files {
      let path = resolve(pattern, in: baseDirectory)
      guard pattern.contains(where: { "*?[".contains($0) }) else {
        feeds.append((path, pattern))
        continue
      }
      let matches: (files: [String], skipped: [SkippedFeedFile])
      do {
        matches = try expandToFeeds(path, pattern: pattern)
      } catch {
        throw IntelListLoadFailure(pattern: pattern, error: error)
      }
      if matches.files.isEmpty && matches.skipped.isEmpty { unmatched.append(pattern) }
      skipped += matches.skipped
      feeds += matches.files.map { ($0, pattern) }
    }
    feeds = readOnce(feeds)
    // Sized once for all the files, so that the second file does not reallocate what the first filled.
    // A load that records its feeds (a monitor's, for skipping a reload that would read the same
    // bytes) fingerprints each file in this pass, the one read it already makes before loading.
    let recorder = FeedFingerprintRecorder.current
    var feedBytes = 0
    var lines = 0
    for (path, _) in feeds {
      let extent: (bytes: Int, lines: Int)?
      if let recorder { extent = recorder.scanBeforeLoading(path) } else { extent = feedExtent(ofFileAt: path) }
      guard let extent else { continue }
      feedBytes += extent.bytes
      lines += extent.lines
    }
    builder.reserveCapacity(feedBytes: feedBytes, lines: lines)
    var withoutIndicators: [(pattern: String, path: String, malformed: Int)] = []
    for (path, pattern) in feeds {
      let before = (statistics: builder.statistics, entries: builder.entriesTaken)
      do {
        try builder.loadFile(atPath: path, format: specification.format, displayName: path, sized: true)
      } catch {
        throw IntelListLoadFailure(pattern: pattern, error: error)
      }
      recorder?.loaded(path, bytesRead: builder.statistics.bytesRead - before.statistics.bytesRead)
      if builder.entriesTaken == before.entries {
        withoutIndicators.append((pattern, path, builder.statistics.malformed - before.statistics.malformed))
      }
    }
    return IntelListLoad(
      list: builder.build(), unmatchedPatterns: unmatched, filesWithoutIndicators: withoutIndicators,
      skippedFiles: skipped)
  }

  /// `feeds` without a file named again (by two patterns of a list, `feeds/*.txt` and
  /// `feeds/*.ip.txt`, or by two spellings of its path): read twice, its indicators would all count
  /// as duplicates. A file is known by its device and inode; one that cannot be examined, by its
  /// path (reading it then reports why). The first pattern to name a file keeps it.
  static func readOnce(_ feeds: [(path: String, pattern: String)]) -> [(path: String, pattern: String)] {
    var seenFiles: Set<[UInt64]> = []
    var seenPaths: Set<String> = []
    return feeds.filter { (path, _) in
      var status = stat()
      guard stat(path, &status) == 0 else { return seenPaths.insert(path).inserted }
      return seenFiles.insert([UInt64(status.st_dev), UInt64(status.st_ino)]).inserted
    }
  }

  /// The regular files within the size limit that `pattern` matches, sorted, and the paths it
  /// matched that name something else (what a reload's comparison expands too, so that a skipped
  /// path is never a new feed, and a feed grown past the limit is gone from it). `written` is the
  /// pattern as the specification wrote it, for the skipped paths.
  static func expandToFeeds(
    _ pattern: String, pattern written: String? = nil
  ) throws(IntelFeedError) -> (files: [String], skipped: [SkippedFeedFile]) {
    var files: [String] = []
    var skipped: [SkippedFeedFile] = []
    for path in try expand(pattern) {
      if let (kind, bytes) = unusableKind(path) {
        skipped.append(SkippedFeedFile(pattern: written ?? pattern, path: path, kind: kind, bytes: bytes))
      } else {
        files.append(path)
      }
    }
    return (files, skipped)
  }

  /// What `path` names when it is no feed to read: not a regular file (with no size), or a regular
  /// file past `IntelLimits.maximumFeedFileBytes` (with its size). Nil for a feed, and for a path
  /// that cannot be examined for another reason (gone since the glob, say: reading it reports why).
  /// The loader checks the size again as it opens the file, which may have grown since.
  static func unusableKind(_ path: String) -> (kind: String, bytes: Int64?)? {
    var status = stat()
    if stat(path, &status) == 0 {
      guard RegularFile.isRegular(status) else { return (RegularFile.kind(of: status), nil) }
      let bytes = Int64(status.st_size)
      return bytes > Int64(IntelLimits.maximumFeedFileBytes) ? (RegularFile.kind(of: status), bytes) : nil
    }
    return irregularLink(path, statError: errno).map { ($0, nil) }
  }

  /// What a path that `stat` could not follow (for `statError`) names, when it is a symbolic link.
  private static func irregularLink(_ path: String, statError reason: Int32) -> String? {
    var link = stat()
    guard lstat(path, &link) == 0, link.st_mode & S_IFMT == S_IFLNK else { return nil }
    switch reason {
    case ENOENT: return "a dangling symbolic link"
    case ELOOP: return "a symbolic link loop"
    default: return "a symbolic link that cannot be followed (\(String(cString: strerror(reason))))"
    }
  }

  /// The paths `pattern` matches, sorted; empty when none.
  static func expand(_ pattern: String) throws(IntelFeedError) -> [String] {
    var result = glob_t()
    defer { globfree(&result) }
    let status = glob(pattern, GLOB_ERR, nil, &result)
    switch status {
    case 0:
      return (0..<Int(result.gl_pathc)).compactMap { index in result.gl_pathv[index].map { String(cString: $0) } }
    case GLOB_NOMATCH:
      return []
    case GLOB_ABORTED:
      throw .unreadable(path: pattern, reason: "cannot search a directory of the pattern")
    default:
      throw .unreadable(path: pattern, reason: "cannot expand the pattern (glob error \(status))")
    }
  }
}
