import FlowsentryCore

extension EventFields {
  /// `dns.answers` of a lookup, and the same taken apart: the A and AAAA data as addresses, the
  /// CNAME data as names. Other types are left out.
  static func load(answers: [DNSEvent.Answer], into fields: UnsafeMutablePointer<Values>) {
    guard !answers.isEmpty else {
      if !fields.pointee.answers.isEmpty {
        fields.pointee.answers = []
        fields.pointee.answerAddresses = []
        fields.pointee.answerNames = []
      }
      return
    }
    var texts: [String] = []
    var addresses: [IPAddress] = []
    var names: [String] = []
    texts.reserveCapacity(answers.count)
    for answer in answers {
      switch answer.type {
      case "A":
        texts.append(answer.data)
        var data = answer.data
        if let value = data.withUTF8({ IPAddress.strictDottedQuad(UnsafeRawBufferPointer($0)) }) {
          addresses.append(.v4(value))
        }
      case "AAAA":
        texts.append(answer.data)
        var data = answer.data
        if let address = data.withUTF8({ IPAddress.strictIPv6(UnsafeRawBufferPointer($0)) }) {
          addresses.append(address)
        }
      case "CNAME":
        texts.append(answer.data)
        names.append(answer.data)
      default:
        // A recording may carry other types (PTR, TXT), whose data a rule would take for a name or
        // an address; capture keeps these three only.
        continue
      }
    }
    fields.pointee.answers = texts
    fields.pointee.answerAddresses = addresses
    fields.pointee.answerNames = names
  }
}
