import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryTestSupport
import Foundation
import Testing

extension RecordingInputTests {
  /// Rotated files as a glob sorts them (`X X.1 X.2`) are newest first: replay puts the set oldest
  /// first and says so, so that time runs forward through the rules.
  @Test func aRotationSetInGlobOrderIsReplayedOldestFirst() throws {
    let directory = try temporaryDirectory("rec-rotation")
    defer { try? FileManager.default.removeItem(at: directory) }
    let base = directory.appendingPathComponent("day2.rec").path
    for (index, suffix) in ["", ".1", ".2"].enumerated() {
      // X.2 is the oldest: minute 0; X.1 minute 10; X minute 20.
      try write(Array((Self.line(index, seconds: Int64(2 - index) * 600) + "\n").utf8), base + suffix)
    }
    let result = try replay(["--events", "flows", base, base + ".1", base + ".2"])
    #expect(result.status == 0, "\(result.stderr)")
    let times = result.stdout.split(separator: "\n").compactMap {
      (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["timestamp_ns"] as? Int64
    }
    #expect(times == [Self.start, Self.start + 600_000_000_000, Self.start + 1_200_000_000_000], "\(result.stdout)")
    #expect(
      result.stderr.contains("replay: \(base) and its rotations \(base).1, \(base).2: replayed oldest first"),
      "\(result.stderr)")
    #expect(!result.stderr.contains("backwards"), "\(result.stderr)")
  }

  /// Files of no rotation set given newest first: time runs backwards, which suppression and
  /// windows cannot undo; replay warns once, with where and by how much.
  @Test func timeRunningBackwardsAcrossFilesIsWarnedOnce() throws {
    let directory = try temporaryDirectory("rec-backwards")
    defer { try? FileManager.default.removeItem(at: directory) }
    let later = directory.appendingPathComponent("tuesday.rec").path
    let earlier = directory.appendingPathComponent("monday.rec").path
    try write(Array((Self.line(1, seconds: 3_600) + "\n" + Self.line(2, seconds: 3_601) + "\n").utf8), later)
    // Within the file, a step back of a second: within what the monitor itself writes.
    try write(
      Array((Self.line(3, seconds: 1) + "\n" + Self.line(4, seconds: 0) + "\n" + Self.line(5, seconds: 2) + "\n").utf8),
      earlier)
    let result = try replay(["--events", "none", later, earlier])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(
      result.stderr.contains(
        "\(earlier):1: time runs backwards by 3600 s (3 events earlier than one replayed before them)"),
      "\(result.stderr)")
  }

  /// The set is ordered by number, not text (X.10 is older than X.2), in the places its files had;
  /// other files, a lone X.N and names like X.01 stay where they were.
  @Test func rotationSetsAreOrderedByNumberInTheirPlaces() {
    let (files, notes) = RotationOrder.oldestFirst([
      "a.pcap", "d/x.rec", "d/x.rec.10", "b.rec", "d/x.rec.2", "lone.rec.3", "y.01", "y",
    ])
    #expect(files == ["a.pcap", "d/x.rec.10", "d/x.rec.2", "b.rec", "d/x.rec", "lone.rec.3", "y.01", "y"])
    #expect(notes.count == 1)
    #expect(notes.first?.hasPrefix("d/x.rec and its rotations d/x.rec.2, d/x.rec.10: replayed oldest first") == true)
    let (already, none) = RotationOrder.oldestFirst(["x.2", "x.1", "x"])
    #expect(already == ["x.2", "x.1", "x"] && none.isEmpty)
    // Without the bare name, numbered names are the user's order (dates, chunks numbered in time order).
    for given in [["x.1", "x.2"], ["conn.20241206", "conn.20241207"], ["host-10.0.0.1", "host-10.0.0.2"]] {
      let (kept, none) = RotationOrder.oldestFirst(given)
      #expect(kept == given && none.isEmpty, "\(given)")
    }
  }
}
