import FlowsentryCore
import FlowsentryIntel

extension RuleSetBuilder {
  /// Each `except:` names a typed list of the same type that has no `except:` of its own (an
  /// allowlist of an allowlist would make a value's fate depend on a chain no alert shows). Checked
  /// once every file is collected: the allowlist may be declared after the list, or in a later file.
  mutating func checkExceptLists() {
    for name in lists.keys.sorted() {
      guard let declaration = lists[name]?.intel, !declaration.except.isEmpty else { continue }
      var kept: [(name: String, location: SourceLocation)] = []
      for (other, at) in declaration.except {
        guard other != name else {
          report(.error, at, "list '\(name)' cannot except itself")
          continue
        }
        guard let definition = lists[other] else {
          report(.error, at, "list '\(name)': 'except' names no list '\(other)'")
          continue
        }
        guard let allowlist = definition.intel else {
          report(
            .error, at,
            "list '\(name)': 'except' takes a typed list (with 'type'), and '\(other)' is a plain list of strings")
          continue
        }
        guard allowlist.type == declaration.type else {
          report(
            .error, at,
            "list '\(name)' holds \(declaration.type.rawValue) indicators; '\(other)' holds "
              + "\(allowlist.type.rawValue) indicators, which no value of this list can be")
          continue
        }
        guard allowlist.except.isEmpty else {
          report(
            .error, at,
            "list '\(name)': '\(other)' has an 'except' of its own; a list's exceptions are lists without one")
          continue
        }
        guard !kept.contains(where: { $0.name == other }) else { continue }
        kept.append((other, at))
      }
      lists[name]?.intel?.except = kept
    }
  }
}
