import FlowsentryCore
import FlowsentryOutput
import FlowsentryPipeline
import FlowsentryReplay
import FlowsentryTestSupport
import Foundation
import Testing

extension RecordingInputTests {
  /// The exit status says whether every file gave events: a recording with lines none of which
  /// is an event (another schema version) fails the run, naming the first line; an empty file
  /// among good ones does not.
  @Test func exitStatusFailsOnlyForAFileWithLinesButNoEvent() throws {
    let directory = try temporaryDirectory("rec-status")
    defer { try? FileManager.default.removeItem(at: directory) }
    let current = directory.appendingPathComponent("day2.rec").path
    let rotated = directory.appendingPathComponent("day2.rec.1").path
    try write([], current)
    try write(Array((Self.line(1) + "\n" + Self.line(2, seconds: 1) + "\n").utf8), rotated)
    let good = try replay(["--events", "none", current, rotated])
    #expect(good.status == 0, "\(good.stderr)")
    #expect(!good.stderr.contains("truncated dump file"), "\(good.stderr)")

    let newer = directory.appendingPathComponent("v2.rec").path
    try write(Array((Self.line(1, version: 2) + "\n" + Self.line(2, version: 2) + "\n").utf8), newer)
    let unusable = try replay(["--events", "none", rotated, newer])
    #expect(unusable.status != 0, "\(unusable.stderr)")
    #expect(unusable.stderr.contains("\(newer): no usable event in 2 lines"), "\(unusable.stderr)")
    #expect(unusable.stderr.contains("\(newer):1:19:"), "\(unusable.stderr)")
  }
}
