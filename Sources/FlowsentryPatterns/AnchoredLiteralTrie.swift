import FlowsentryCore

/// Needles anchored at one end of the subject (`startsWith`, `endsWith`, `equals`) as a byte trie
/// walked from that end: a subject costs at most one step per byte of the longest needle, and a
/// domain name leaves the trie within a few bytes, where a Hyperscan scan costs a call, its
/// callback and a pass over the whole subject. Empty needles are not in it (``LiteralSet`` answers
/// those). Node 0 is the root; a node's edges are sorted by byte. A class: a struct of five arrays
/// read out of its set costs five retains per subject.
final class AnchoredLiteralTrie: Sendable {
  /// Node `n`'s edges are `edgeBytes[edgeStart[n]..<edgeStart[n + 1]]`, to `edgeChildren` at the same places.
  private let edgeStart: [Int32]
  private let edgeBytes: [UInt8]
  private let edgeChildren: [Int32]
  /// The needles ending at node `n`: `terminalIDs[terminalStart[n]..<terminalStart[n + 1]]`.
  private let terminalStart: [Int32]
  private let terminalIDs: [Int]
  private let fromEnd: Bool
  private let folding: Bool
  /// `equals`: a needle counts only where the whole subject was walked.
  private let whole: Bool

  /// `members`: the ids of the needles to hold (none empty); folded needles are stored lowered.
  init(needles: [[UInt8]], members: [Int], operation: LiteralSet.Operation, caseFolding: LiteralSet.CaseFolding) {
    fromEnd = operation == .endsWith
    folding = caseFolding == .ascii
    whole = operation == .equals
    var children: [[UInt8: Int32]] = [[:]]
    var terminals: [[Int]] = [[]]
    for id in members {
      var node = 0
      let needle = fromEnd ? Array(needles[id].reversed()) : needles[id]
      for raw in needle {
        let byte = folding ? ASCIICaseFolding.lowercased(raw) : raw
        if let child = children[node][byte] {
          node = Int(child)
        } else {
          children.append([:])
          terminals.append([])
          children[node][byte] = Int32(children.count - 1)
          node = children.count - 1
        }
      }
      terminals[node].append(id)
    }
    var edgeStart: [Int32] = []
    var edgeBytes: [UInt8] = []
    var edgeChildren: [Int32] = []
    var terminalStart: [Int32] = []
    var terminalIDs: [Int] = []
    for node in children.indices {
      edgeStart.append(Int32(edgeBytes.count))
      for (byte, child) in children[node].sorted(by: { $0.key < $1.key }) {
        edgeBytes.append(byte)
        edgeChildren.append(child)
      }
      terminalStart.append(Int32(terminalIDs.count))
      terminalIDs += terminals[node]
    }
    edgeStart.append(Int32(edgeBytes.count))
    terminalStart.append(Int32(terminalIDs.count))
    self.edgeStart = edgeStart
    self.edgeBytes = edgeBytes
    self.edgeChildren = edgeChildren
    self.terminalStart = terminalStart
    self.terminalIDs = terminalIDs
  }

  /// Calls `body` with the id of each needle the operation accepts for `subject` (deepest last).
  func walk(_ subject: UnsafeRawBufferPointer, _ body: (Int) -> Void) {
    let count = subject.count
    edgeStart.withUnsafeBufferPointer { edgeStart in
      edgeBytes.withUnsafeBufferPointer { edgeBytes in
        edgeChildren.withUnsafeBufferPointer { edgeChildren in
          var node = 0
          var depth = 0
          while true {
            if !whole || depth == count {
              for slot in Int(terminalStart[node])..<Int(terminalStart[node + 1]) { body(terminalIDs[slot]) }
            }
            guard depth < count else { return }
            let raw = subject[fromEnd ? count - 1 - depth : depth]
            let byte = folding ? ASCIICaseFolding.lowercased(raw) : raw
            var edge = Int(edgeStart[node])
            let end = Int(edgeStart[node + 1])
            while edge < end && edgeBytes[edge] < byte { edge += 1 }
            guard edge < end && edgeBytes[edge] == byte else { return }
            node = Int(edgeChildren[edge])
            depth += 1
          }
        }
      }
    }
  }
}
