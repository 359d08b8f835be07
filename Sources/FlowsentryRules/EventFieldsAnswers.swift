import FlowsentryCore

extension EventFields {
  /// `dns.answers` of a lookup, and the same taken apart: the A and AAAA data as addresses, the
  /// CNAME data as names. Other types are left out.
  static func load(answers: [DNSEvent.Answer], into fields: UnsafeMutablePointer<Values>) {
    // The last lookup's arrays are emptied in place, keeping their storage for the next (three
    // allocations a lookup otherwise; a packet holds a few hundred answers at most). An array that
    // something else still holds is left to it, and a new one made.
    if !fields.pointee.answers.isEmpty {
      fields.pointee.answers.removeAll(keepingCapacity: true)
      fields.pointee.answerAddresses.removeAll(keepingCapacity: true)
      fields.pointee.answerNames.removeAll(keepingCapacity: true)
    }
    for answer in answers {
      switch AnswerKind(answer.type) {
      case .ipv4:
        fields.pointee.answers.append(answer.data)
        var data = answer.data
        if let value = data.withUTF8({ IPAddress.strictDottedQuad(UnsafeRawBufferPointer($0)) }) {
          fields.pointee.answerAddresses.append(.v4(value))
        }
      case .ipv6:
        fields.pointee.answers.append(answer.data)
        var data = answer.data
        if let address = data.withUTF8({ IPAddress.strictIPv6(UnsafeRawBufferPointer($0)) }) {
          fields.pointee.answerAddresses.append(address)
        }
      case .alias:
        fields.pointee.answers.append(answer.data)
        fields.pointee.answerNames.append(answer.data)
      case .other:
        // A recording may carry other types (PTR, TXT), whose data a rule would take for a name or
        // an address; capture keeps these three only.
        continue
      }
    }
  }

  /// The three answer types rules read, told apart by their bytes: `==` on unequal strings takes
  /// Swift's Unicode comparison, a call per answer and type tried.
  private enum AnswerKind {
    case ipv4, ipv6, alias, other

    init(_ type: String) {
      let bytes = type.utf8
      switch bytes.count {
      case 1 where bytes.first == UInt8(ascii: "A"): self = .ipv4
      case 4 where bytes.elementsEqual("AAAA".utf8): self = .ipv6
      case 5 where bytes.elementsEqual("CNAME".utf8): self = .alias
      default: self = .other
      }
    }
  }
}
