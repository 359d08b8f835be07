import FlowsentryCore
import FlowsentryOutput
import Foundation
import Testing

/// The recording reader parses JSON itself: it must accept what JSON allows, refuse what it does not,
/// and agree with Foundation's parser on which lines are JSON objects at all.
@Suite struct RecordingReaderTests {
  let begin =
    #"{"schema_version":1,"event":"net_flow_tcp_begin","timestamp_ns":5,"args":{"src":"198.51.100.2","#
    + #""src_port":40000,"dst":"203.0.113.7","dst_port":443,"conn_direction":"outgoing","dst_dns":["a.example"]}}"#

  func flow(_ line: String) -> FlowEvent? {
    guard case .event(.flow(let event)) = EventJSONReader.read(line) else { return nil }
    return event
  }

  @Test func escapesBlanksAndDuplicateKeysReadAsJSONDefinesThem() throws {
    #expect(flow(begin)?.destinationNames == ["a.example"])
    // Blanks between tokens, an escaped key, escapes in strings (a surrogate pair among them).
    let spaced = begin.replacingOccurrences(of: ",", with: " ,\t").replacingOccurrences(of: ":", with: " : ")
    #expect(flow(spaced)?.destinationNames == ["a.example"])
    let escapedKey = begin.replacingOccurrences(of: #""dst_dns""#, with: #""dst\u005fdns""#)
    #expect(flow(escapedKey)?.destinationNames == ["a.example"])
    let escapedName = begin.replacingOccurrences(of: "a.example", with: #"a\"b\\c\/\n\u00e9\ud83d\ude00"#)
    #expect(flow(escapedName)?.destinationNames == ["a\"b\\c/\n\u{e9}\u{1F600}"])
    // The last of duplicate keys wins.
    let duplicate = begin.replacingOccurrences(of: #""timestamp_ns":5"#, with: #""timestamp_ns":5,"timestamp_ns":9"#)
    #expect(flow(duplicate)?.timestamp == 9)
    // A number written with a fraction or exponent that is an integer is that integer; 5.5 is not.
    #expect(flow(begin.replacingOccurrences(of: #""timestamp_ns":5"#, with: #""timestamp_ns":5.0e0"#))?.timestamp == 5)
    guard
      case .malformed(_, let column) = EventJSONReader.read(
        begin.replacingOccurrences(of: #""timestamp_ns":5"#, with: #""timestamp_ns":5.5"#))
    else {
      Issue.record("a fractional timestamp was accepted")
      return
    }
    #expect(
      column == begin.utf8.distance(
        from: begin.utf8.startIndex, to: begin.range(of: "5,")!.lowerBound.samePosition(in: begin.utf8)!) + 1)
  }

  @Test func linesThatAreNotJSONAreMalformedAsFoundationSaysSo() {
    let broken = [
      "", "{", "}", "[]", "{}x", #"{"a":01}"#, #"{"a":1.}"#, #"{"a":-}"#, #"{"a":tru}"#, #"{"a":"\x"}"#,
      #"{"a":"\ud800"}"#, #"{"a":"\udc00x"}"#, "{\"a\":\"\u{01}\"}", #"{'a':1}"#,
      #"{"a" 1}"#, #"{"a":1 "b":2}"#, #"{"a":"x"#, #"{"a":1e}"#, #"{"a":.5}"#, #"{"a":+1}"#,
      String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
    ]
    for line in broken {
      let foundation = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
      #expect(foundation == nil, "Foundation reads \(line)")
      guard case .malformed(let reason, _) = EventJSONReader.read(line) else {
        Issue.record("\(line) was not malformed")
        continue
      }
      #expect(reason == "not a JSON object")
    }
    // Trailing commas, which Foundation on Linux lets through, are not JSON (RFC 8259) and not an event.
    for line in [#"{"a":[1,]}"#, #"{"a":1,}"#] {
      guard case .malformed(let reason, _) = EventJSONReader.read(line) else {
        Issue.record("\(line) was not malformed")
        continue
      }
      #expect(reason == "not a JSON object")
    }
    // Valid JSON objects that are not events are malformed for their missing keys, not as JSON.
    for line in [#"{"a":[1,{"b":null}],"c":-0.5e-3}"#, #"{"schema_version":true}"#, "{\n}"] {
      guard case .malformed(let reason, _) = EventJSONReader.read(line) else {
        Issue.record("\(line) was accepted")
        continue
      }
      #expect(reason != "not a JSON object", "\(line)")
    }
  }

  @Test func theDecoderReadsLineAfterLineWithOneBuffer() {
    var decoder = EventJSONReader.Decoder()
    var events = 0
    for index in 0..<50 {
      let line =
        index % 5 == 4 ? "{" : begin.replacingOccurrences(of: #""timestamp_ns":5"#, with: "\"timestamp_ns\":\(index)")
      var bytes = Array(line.utf8)
      let outcome = bytes.withUnsafeMutableBytes { decoder.read(UnsafeRawBufferPointer($0)) }
      if case .event(.flow(let event)) = outcome {
        #expect(event.timestamp == Int64(index))
        events += 1
      }
    }
    #expect(events == 40)
  }

  /// A syntax error is pointed at where the syntax goes wrong, not at the line's start.
  @Test func syntaxErrorsNameTheirColumn() {
    let cases: [(String, Int)] = [
      (#"{"a":1,}"#, 8), (#"{"a":"xy"#, 9), (#"{"a":1 "b":2}"#, 8), (#"{"a":[1,]}"#, 9), ("not json", 1),
      (#"{"a":1}x"#, 8),
    ]
    for (line, expected) in cases {
      guard case .malformed(let reason, let column) = EventJSONReader.read(line) else {
        Issue.record("\(line) was not malformed")
        continue
      }
      #expect(reason == "not a JSON object", "\(line)")
      #expect(column == expected, "\(line)")
    }
  }
}
