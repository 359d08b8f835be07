/// The condition language's syntax: tokens, a recursive-descent parser and the tree it builds.
/// Offsets are in Unicode scalars from the start of the condition text, for diagnostics.

enum ComparisonOperator: String, CaseIterable, Sendable {
  case equal = "=="
  case notEqual = "!="
  case less = "<"
  case lessOrEqual = "<="
  case greater = ">"
  case greaterOrEqual = ">="
  case `in`
  case contains, icontains, startswith, istartswith, endswith, iendswith, matches, imatches

  var isCaseInsensitive: Bool { rawValue.hasPrefix("i") && self != .in }
}

/// `a and b and c` is one `.all` of three, not a chain of pairs: a long chain must not make the tree
/// (and the recursion over it) as deep as it is long.
indirect enum ConditionNode: Sendable {
  case all([ConditionNode])
  case any([ConditionNode])
  case not(ConditionNode)
  case comparison(field: String, fieldOffset: Int, operator: ComparisonOperator, value: ValueNode)
  case macro(name: String, offset: Int)
}

enum ValueNode: Sendable {
  /// A quoted string.
  case string(String, offset: Int)
  /// An unquoted word: a number, an address, a CIDR block, a port range, a bare string or a list name.
  case word(String, offset: Int)
  case set([ValueNode], offset: Int)

  var offset: Int {
    switch self {
    case .string(_, let offset), .word(_, let offset), .set(_, let offset): return offset
    }
  }
}

struct ConditionSyntaxError: Error, Equatable {
  var offset: Int
  var message: String
}

struct Token: Equatable {
  enum Kind: Equatable {
    case word(String)
    case string(String)
    case symbol(String)  // ( ) , == != < <= > >=
    case end
  }

  var kind: Kind
  var offset: Int
}

enum ConditionLexer {
  static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar {
    case "a"..."z", "A"..."Z", "0"..."9", "_", ".", ":", "/", "-", "*": return true
    default: return false
    }
  }

  static func tokens(_ text: String) throws(ConditionSyntaxError) -> [Token] {
    let scalars = Array(text.unicodeScalars)
    var tokens: [Token] = []
    var index = 0
    while index < scalars.count {
      let scalar = scalars[index]
      let start = index
      switch scalar {
      case " ", "\t", "\n", "\r":
        index += 1
      case "(", ")", ",":
        tokens.append(Token(kind: .symbol(String(scalar)), offset: start))
        index += 1
      case "=", "!", "<", ">":
        let next = index + 1 < scalars.count ? scalars[index + 1] : " "
        if next == "=" {
          tokens.append(Token(kind: .symbol(String(scalar) + "="), offset: start))
          index += 2
        } else if scalar == "<" || scalar == ">" {
          tokens.append(Token(kind: .symbol(String(scalar)), offset: start))
          index += 1
        } else {
          throw ConditionSyntaxError(offset: start, message: "'\(scalar)' must be followed by '=' ('==' or '!=')")
        }
      case "'", "\"":
        var value = String.UnicodeScalarView()
        index += 1
        var closed = false
        while index < scalars.count {
          let current = scalars[index]
          if current == "\\" && index + 1 < scalars.count {
            // Only the quote and the backslash are escapes; any other backslash is kept, so that a
            // regex reads as PCRE2 reads it (`'\.'` is a dot, never "any character").
            let next = scalars[index + 1]
            if next != scalar && next != "\\" { value.append(current) }
            value.append(next)
            index += 2
          } else if current == scalar {
            closed = true
            index += 1
            break
          } else {
            value.append(current)
            index += 1
          }
        }
        guard closed else { throw ConditionSyntaxError(offset: start, message: "unterminated string") }
        tokens.append(Token(kind: .string(String(value)), offset: start))
      default:
        guard isWordScalar(scalar) else {
          throw ConditionSyntaxError(offset: start, message: "unexpected character '\(scalar)'")
        }
        var word = String.UnicodeScalarView()
        while index < scalars.count && isWordScalar(scalars[index]) {
          word.append(scalars[index])
          index += 1
        }
        tokens.append(Token(kind: .word(String(word)), offset: start))
      }
    }
    tokens.append(Token(kind: .end, offset: scalars.count))
    return tokens
  }
}

/// or := and ("or" and)* ; and := not ("and" not)* ; not := "not" not | primary ;
/// primary := "(" or ")" | field operator value | macro-name
///
/// Bounded for hostile files: parentheses and `not`s nest at most `RuleLimits.maximumDepth`
/// deep (the parser recurses once per level), and a condition has at most
/// `RuleLimits.maximumNodes` nodes; beyond either, a positioned error.
struct ConditionParser {
  private var tokens: [Token]
  private var position = 0
  private var depth = 0
  private var nodes = 0

  static func parse(_ text: String) throws(ConditionSyntaxError) -> ConditionNode {
    var parser = ConditionParser(tokens: try ConditionLexer.tokens(text))
    guard parser.tokens.count > 1 else { throw ConditionSyntaxError(offset: 0, message: "empty condition") }
    let node = try parser.parseOr()
    guard case .end = parser.current.kind else {
      throw ConditionSyntaxError(
        offset: parser.current.offset, message: "expected 'and', 'or' or the end, found \(parser.current.kind.text)")
    }
    return node
  }

  private init(tokens: [Token]) { self.tokens = tokens }

  private var current: Token { tokens[position] }

  private mutating func advance() -> Token {
    defer { position = min(position + 1, tokens.count - 1) }
    return tokens[position]
  }

  private func isKeyword(_ word: String) -> Bool {
    if case .word(let text) = current.kind { return text.lowercased() == word }
    return false
  }

  /// One level deeper (a parenthesis or a `not` at `offset`), or an error past the limit.
  private mutating func descend(at offset: Int) throws(ConditionSyntaxError) {
    depth += 1
    guard depth <= RuleLimits.maximumDepth else {
      throw ConditionSyntaxError(
        offset: offset,
        message: "the condition nests deeper than \(RuleLimits.maximumDepth) levels of parentheses and 'not'")
    }
  }

  private mutating func count(at offset: Int) throws(ConditionSyntaxError) {
    nodes += 1
    guard nodes <= RuleLimits.maximumNodes else {
      throw ConditionSyntaxError(
        offset: offset, message: "the condition has more than \(RuleLimits.maximumNodes) terms and operators")
    }
  }

  private mutating func parseOr() throws(ConditionSyntaxError) -> ConditionNode {
    var terms = [try parseAnd()]
    while isKeyword("or") {
      try count(at: advance().offset)
      terms.append(try parseAnd())
    }
    return terms.count == 1 ? terms[0] : .any(terms)
  }

  private mutating func parseAnd() throws(ConditionSyntaxError) -> ConditionNode {
    var terms = [try parseNot()]
    while isKeyword("and") {
      try count(at: advance().offset)
      terms.append(try parseNot())
    }
    return terms.count == 1 ? terms[0] : .all(terms)
  }

  private mutating func parseNot() throws(ConditionSyntaxError) -> ConditionNode {
    if isKeyword("not") {
      let token = advance()
      try descend(at: token.offset)
      try count(at: token.offset)
      defer { depth -= 1 }
      return .not(try parseNot())
    }
    return try parsePrimary()
  }

  private mutating func parsePrimary() throws(ConditionSyntaxError) -> ConditionNode {
    let token = advance()
    try count(at: token.offset)
    switch token.kind {
    case .symbol("("):
      try descend(at: token.offset)
      defer { depth -= 1 }
      let node = try parseOr()
      guard case .symbol(")") = current.kind else {
        throw ConditionSyntaxError(offset: current.offset, message: "expected ')', found \(current.kind.text)")
      }
      _ = advance()
      return node
    case .word(let name):
      if let comparison = try comparisonOperator() {
        _ = advance()
        let value = try parseValue()
        return .comparison(field: name, fieldOffset: token.offset, operator: comparison, value: value)
      }
      return .macro(name: name, offset: token.offset)
    default:
      throw ConditionSyntaxError(
        offset: token.offset, message: "expected a field, a macro or '(', found \(token.kind.text)")
    }
  }

  private func comparisonOperator() throws(ConditionSyntaxError) -> ComparisonOperator? {
    switch current.kind {
    case .symbol(let symbol): return ComparisonOperator(rawValue: symbol)
    case .word(let word): return ComparisonOperator(rawValue: word.lowercased())
    default: return nil
    }
  }

  private mutating func parseValue() throws(ConditionSyntaxError) -> ValueNode {
    let token = advance()
    guard case .symbol("(") = token.kind else { return try scalarValue(token) }
    var items: [ValueNode] = []
    while true {
      try count(at: current.offset)
      items.append(try scalarValue(advance()))
      let separator = advance()
      if case .symbol(")") = separator.kind { break }
      guard case .symbol(",") = separator.kind else {
        throw ConditionSyntaxError(
          offset: separator.offset, message: "expected ',' or ')', found \(separator.kind.text)")
      }
    }
    return .set(items, offset: token.offset)
  }

  /// A quoted string or a bare word: a value on its own, or one item of a set.
  private func singleValue(_ token: Token) throws(ConditionSyntaxError) -> ValueNode {
    switch token.kind {
    case .string(let text): return .string(text, offset: token.offset)
    case .word(let text): return .word(text, offset: token.offset)
    default: throw ConditionSyntaxError(offset: token.offset, message: "expected a value, found \(token.kind.text)")
    }
  }

  /// A value, with a size unit written apart from its number (`100 MiB`) joined to it.
  private mutating func scalarValue(_ token: Token) throws(ConditionSyntaxError) -> ValueNode {
    let value = try singleValue(token)
    guard case .word(let number, let offset) = value, number.allSatisfy(\.isNumber),
      case .word(let unit) = current.kind, IntegerLiteral.isUnit(unit)
    else { return value }
    _ = advance()
    return .word(number + unit, offset: offset)
  }
}

extension Token.Kind {
  var text: String {
    switch self {
    case .word(let word): return "'\(word)'"
    case .string(let string): return "string '\(string)'"
    case .symbol(let symbol): return "'\(symbol)'"
    case .end: return "the end of the condition"
    }
  }
}
