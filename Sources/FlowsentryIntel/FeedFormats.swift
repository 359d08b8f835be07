import FlowsentryCore

/// What a reader has learned of one file so far: the CSV column once a header named it, the Zeek
/// columns once `#fields` named them.
struct FeedCursor {
  let file: String
  let format: FeedFormat
  var fileOrigin: UInt32 = 0
  /// 0-based.
  var csvColumn: Int?
  var sawData = false
  var zeekColumns: (indicator: Int, type: Int, source: Int?)?
  /// The last `meta.source` seen and its origin number, so a run of lines from one source is interned once.
  var lastFeedSource: [UInt8] = []
  var lastFeedSourceOrigin: UInt32?
  /// Field ranges of the current line, reused from line to line.
  var fields: [Range<Int>] = []
  var quotedFields: [Bool] = []
  /// The last comment line before the data that parsed as a CSV header without the wanted column,
  /// and its names: what the error says when no line names it.
  var lastHeader: (line: Int, names: [String])?

  init(file: String, format: FeedFormat) throws(IntelFeedError) {
    self.file = file
    self.format = format
    if case .csv(.index(let index)) = format {
      guard index >= 1 else {
        throw .invalid(
          Diagnostic(.error, file: file, line: 1, column: 1, message: "CSV column \(index) is not 1-based"))
      }
      csvColumn = index - 1
    }
  }
}

extension IntelListBuilder {
  mutating func consume(_ feedLine: FeedLine, cursor: inout FeedCursor) throws(IntelFeedError) {
    statistics.lines += 1
    switch feedLine {
    case .tooLong(let prefix, let number):
      malformed(
        file: cursor.file, line: number, column: 1,
        message: "line longer than \(FeedLines.maximumLineLength) bytes", sourceLine: prefix)
    case .text(let line, let number):
      var start = 0
      if number == 1 && line.count >= 3 && line[0] == 0xEF && line[1] == 0xBB && line[2] == 0xBF { start = 3 }
      var end = line.count
      if end > start && line[end - 1] == UInt8(ascii: "\r") { end -= 1 }
      let content = UnsafeRawBufferPointer(rebasing: line[start..<end])
      switch cursor.format {
      case .lines: consumeLinesFormat(content, number: number, cursor: &cursor)
      case .csv(let column): try consumeCSV(content, number: number, column: column, cursor: &cursor)
      case .zeekIntel: try consumeZeek(content, number: number, cursor: &cursor)
      }
    }
  }

  // MARK: lines

  /// One indicator a line. Except in string lists, text after a blank and `#` or `;` is a comment
  /// (Spamhaus' DROP list writes `1.2.3.0/24 ; SBL123`), and in a domain list a hosts-file line,
  /// an address then names (URLhaus' hostfile), gives its names.
  private mutating func consumeLinesFormat(_ line: UnsafeRawBufferPointer, number: Int, cursor: inout FeedCursor) {
    var range = trimmed(line, 0..<line.count)
    guard !range.isEmpty, line[range.lowerBound] != UInt8(ascii: "#") else { return }
    if type != .string {
      for index in range.dropFirst()
      where (line[index] == UInt8(ascii: "#") || line[index] == UInt8(ascii: ";")) && isBlank(line[index - 1]) {
        range = trimmed(line, range.lowerBound..<index)
        break
      }
    }
    if type == .string {
      insertField(range, of: line, number: number, cursor: cursor)
      return
    }
    cursor.fields.removeAll(keepingCapacity: true)
    var index = range.lowerBound
    while index < range.upperBound {
      while index < range.upperBound && isBlank(line[index]) { index += 1 }
      let fieldStart = index
      while index < range.upperBound && !isBlank(line[index]) { index += 1 }
      if fieldStart < index { cursor.fields.append(fieldStart..<index) }
    }
    let fields = cursor.fields
    if fields.count == 1 {
      insertField(fields[0], of: line, number: number, cursor: cursor)
    } else if type == .domain && IndicatorParsing.isAddress(UnsafeRawBufferPointer(rebasing: line[fields[0]])) {
      // A hosts-file line is an address and host names, nothing else. A line that holds other
      // words (a Zeek intel line, `203.0.113.5<TAB>Intel::ADDR<TAB>feodotracker.abuse.ch<TAB>a
      // note`, read without `format: zeek-intel`) is malformed as a whole: taking the words that
      // happen to look like names would list the feed's own name and words of its notes.
      for field in fields.dropFirst() {
        let text = UnsafeRawBufferPointer(rebasing: line[field])
        do throws(IndicatorError) {
          try IndicatorParsing.normalizeDomain(text, into: &hostNameScratch)
        } catch {
          let zeek = text.starts(with: "Intel::".utf8) ? "; a Zeek intel file needs format: zeek-intel" : ""
          malformed(
            file: cursor.file, line: number, column: scalarCount(line, 0..<field.lowerBound) + 1,
            message: "a hosts-file line is an address and host names: \(error.message)\(zeek)", sourceLine: line)
          return
        }
      }
      for field in fields.dropFirst() {
        // `localhost`, `broadcasthost`, `ip6-loopback`: a hosts file's own names, in every copy of it.
        guard Self.hasInnerDot(UnsafeRawBufferPointer(rebasing: line[field])) else {
          statistics.hostsFileLabels += 1
          continue
        }
        insertField(field, of: line, number: number, cursor: cursor)
      }
    } else {
      malformed(
        file: cursor.file, line: number, column: scalarCount(line, 0..<fields[1].lowerBound) + 1,
        message: "expected one indicator a line, found \(fields.count) fields", sourceLine: line)
    }
  }

  /// Whether `name` has a dot before its last byte (a trailing dot ends a name; it is no label).
  private static func hasInnerDot(_ name: UnsafeRawBufferPointer) -> Bool {
    name.dropLast().contains(UInt8(ascii: "."))
  }

  private mutating func insertField(
    _ range: Range<Int>, of line: UnsafeRawBufferPointer, number: Int, cursor: FeedCursor
  ) {
    insert(
      UnsafeRawBufferPointer(rebasing: line[range]), file: cursor.file, line: number,
      column: scalarCount(line, 0..<range.lowerBound) + 1, sourceLine: line, origin: cursor.fileOrigin,
      fromFeed: true)
  }

  // MARK: csv

  private mutating func consumeCSV(
    _ line: UnsafeRawBufferPointer, number: Int, column: CSVColumn, cursor: inout FeedCursor
  ) throws(IntelFeedError) {
    let range = trimmed(line, 0..<line.count)
    guard !range.isEmpty else { return }
    if line[range.lowerBound] == UInt8(ascii: "#") {
      // abuse.ch puts its header in the last comment line before the data.
      if case .name(let wanted) = column, !cursor.sawData {
        let header = trimmed(line, (range.lowerBound + 1)..<range.upperBound)
        if CSVFields.split(line, header, into: &cursor.fields, quoted: &cursor.quotedFields) == nil {
          if let index = Self.fieldIndex(named: wanted, in: line, fields: cursor.fields) {
            cursor.csvColumn = index
          } else if cursor.csvColumn == nil && cursor.fields.count > 1 {
            // A comment of one field is prose (`# Blocklist generated …`), not a header.
            cursor.lastHeader = (number, Self.columnNames(line, cursor.fields))
          }
        }
      }
      return
    }
    if let error = CSVFields.split(line, range, into: &cursor.fields, quoted: &cursor.quotedFields) {
      malformed(
        file: cursor.file, line: number, column: scalarCount(line, 0..<error.offset) + 1, message: error.message,
        sourceLine: line)
      return
    }
    if !cursor.sawData {
      cursor.sawData = true
      if case .name(let wanted) = column {
        if let index = Self.fieldIndex(named: wanted, in: line, fields: cursor.fields) {
          cursor.csvColumn = index
          return
        }
        guard cursor.csvColumn != nil else {
          // Said at the header that came closest (abuse.ch's last comment line, else the first
          // line), with the names it holds: a misspelt `column:` is then plain to see.
          let (headerLine, names) = cursor.lastHeader ?? (number, Self.columnNames(line, cursor.fields))
          throw .invalid(
            Diagnostic(
              .error, file: cursor.file, line: headerLine, column: 1,
              message: "no header line names the column '\(wanted)'" + Self.columnHint(wanted, names),
              sourceLine: nil))
        }
      }
    }
    guard let column = cursor.csvColumn, column < cursor.fields.count else {
      malformed(
        file: cursor.file, line: number, column: 1,
        message: "line has \(cursor.fields.count) fields; the indicator is in field \((cursor.csvColumn ?? 0) + 1)",
        sourceLine: line)
      return
    }
    let field = cursor.fields[column]
    let position = scalarCount(line, 0..<field.lowerBound) + 1
    if cursor.quotedFields[column] {
      let value = CSVFields.unescape(UnsafeRawBufferPointer(rebasing: line[field]))
      value.withUnsafeBytes {
        insert(
          $0, file: cursor.file, line: number, column: position, sourceLine: line, origin: cursor.fileOrigin,
          fromFeed: true)
      }
    } else {
      insertField(field, of: line, number: number, cursor: cursor)
    }
  }

  /// The names of a header line's fields, for a message: at most 32, each cut to 64 bytes.
  private static func columnNames(_ line: UnsafeRawBufferPointer, _ fields: [Range<Int>]) -> [String] {
    fields.prefix(32).map { String(decoding: line[$0].prefix(64), as: UTF8.self) }
  }

  /// "; the header names: a, b, c; did you mean 'b'?" for a column name not found.
  static func columnHint(_ wanted: String, _ names: [String]) -> String {
    guard !names.isEmpty else { return "" }
    let shown = names.map { TerminalText.escapingControls($0) }.joined(separator: ", ")
    func folded(_ name: String) -> String { String(name.lowercased().filter { $0.isLetter || $0.isNumber }) }
    let target = folded(wanted)
    let near =
      names.first { !target.isEmpty && folded($0) == target } ?? names.first { editDistance(folded($0), target) <= 2 }
    return "; the header names: \(shown)"
      + (near.map { "; did you mean '\(TerminalText.escapingControls($0))'?" } ?? "")
  }

  /// The field named `name`: spelt exactly, else in another ASCII case (`dst_ip` finds `DST_IP`,
  /// as a header's case is the feed's choice, not the rule author's).
  private static func fieldIndex(named name: String, in line: UnsafeRawBufferPointer, fields: [Range<Int>]) -> Int? {
    let wanted = Array(name.utf8)
    if let exact = fields.firstIndex(where: { line[$0].elementsEqual(wanted) }) { return exact }
    return fields.firstIndex {
      line[$0].elementsEqual(wanted) { ASCIICaseFolding.lowercased($0) == ASCIICaseFolding.lowercased($1) }
    }
  }

  // MARK: zeek-intel

  private mutating func consumeZeek(
    _ line: UnsafeRawBufferPointer, number: Int, cursor: inout FeedCursor
  ) throws(IntelFeedError) {
    guard !trimmed(line, 0..<line.count).isEmpty else { return }
    if line[0] == UInt8(ascii: "#") {
      try consumeZeekHeader(line, number: number, cursor: &cursor)
      return
    }
    guard let columns = cursor.zeekColumns else {
      throw .invalid(
        Diagnostic(
          .error, file: cursor.file, line: number, column: 1,
          message: "Zeek intel data before its #fields header (a line '#fields<TAB>indicator<TAB>indicator_type…')",
          sourceLine: String(decoding: line.prefix(200), as: UTF8.self)))
    }
    ZeekFields.split(line, into: &cursor.fields)
    let needed = max(columns.indicator, columns.type, columns.source ?? 0) + 1
    guard cursor.fields.count >= needed else {
      malformed(
        file: cursor.file, line: number, column: 1,
        message: "line has \(cursor.fields.count) tab-separated fields; #fields needs \(needed)", sourceLine: line)
      return
    }
    let typeName = UnsafeRawBufferPointer(rebasing: line[cursor.fields[columns.type]])
    guard ZeekFields.holds(type, typeName) else {
      countSkippedType(typeName)
      return
    }
    var origin = cursor.fileOrigin
    if let sourceColumn = columns.source {
      let source = UnsafeRawBufferPointer(rebasing: line[cursor.fields[sourceColumn]])
      if !ZeekFields.isUnset(source) {
        if let last = cursor.lastFeedSourceOrigin, cursor.lastFeedSource.elementsEqual(source) {
          origin = last
        } else {
          origin = feedSourceOrigin(
            IndicatorOrigin(file: cursor.file, feedSource: String(decoding: source.prefix(256), as: UTF8.self)),
            fileOrigin: cursor.fileOrigin)
          cursor.lastFeedSource = Array(source)
          cursor.lastFeedSourceOrigin = origin
        }
      }
    }
    let field = cursor.fields[columns.indicator]
    insert(
      UnsafeRawBufferPointer(rebasing: line[field]), file: cursor.file, line: number,
      column: scalarCount(line, 0..<field.lowerBound) + 1, sourceLine: line, origin: origin, fromFeed: true)
  }

  private mutating func consumeZeekHeader(
    _ line: UnsafeRawBufferPointer, number: Int, cursor: inout FeedCursor
  ) throws(IntelFeedError) {
    func invalid(_ message: String) -> IntelFeedError {
      .invalid(
        Diagnostic(
          .error, file: cursor.file, line: number, column: 1, message: message,
          sourceLine: String(decoding: line.prefix(200), as: UTF8.self)))
    }
    if line.starts(with: "#separator".utf8) {
      let value = trimmed(line, 10..<line.count)
      guard line[value].elementsEqual("\\x09".utf8) || line[value].elementsEqual([0x09]) else {
        throw invalid("only the tab separator (\\x09) is supported")
      }
    } else if line.starts(with: "#fields\t".utf8) {
      ZeekFields.split(line, into: &cursor.fields)
      func column(_ name: String) -> Int? {
        cursor.fields.dropFirst().firstIndex { line[$0].elementsEqual(name.utf8) }
      }
      guard let indicator = column("indicator"), let type = column("indicator_type") else {
        let missing = ["indicator", "indicator_type"].filter { column($0) == nil }.map { "'\($0)'" }
        throw invalid("#fields names no \(missing.joined(separator: " and ")) column\(missing.count > 1 ? "s" : "")")
      }
      // Data lines have no "#fields" cell: columns count from the header's second cell.
      cursor.zeekColumns = (indicator - 1, type - 1, column("meta.source").map { $0 - 1 })
    } else if line.starts(with: "#fields".utf8), line.count > 7, line[7] == UInt8(ascii: " ") {
      // Copied from a page or retyped, the header's tabs became spaces: the columns cannot be read.
      throw invalid("the #fields header is separated by spaces; Zeek intel files separate fields by tabs")
    }
  }
}
