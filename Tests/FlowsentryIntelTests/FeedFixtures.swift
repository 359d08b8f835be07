import Foundation

/// A scratch directory for feed files written by a test, removed when the test ends.
final class FeedDirectory {
  let url: URL

  init() throws {
    url = FileManager.default.temporaryDirectory.appendingPathComponent("flowsentry-intel-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  }

  deinit { try? FileManager.default.removeItem(at: url) }

  /// Writes `text` (or raw `bytes`) to `name` and returns its path.
  func write(_ name: String, _ text: String) throws -> String {
    try write(name, bytes: Array(text.utf8))
  }

  func write(_ name: String, bytes: [UInt8]) throws -> String {
    let path = url.appendingPathComponent(name).path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
  }
}

/// Shaped like abuse.ch's Feodo Tracker botnet C2 IP blocklist (CSV): a comment banner, the header as
/// the last comment line, quoted fields, a footer comment.
let feodoTrackerCSV = """
  ################################################################
  # abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)          #
  # Last updated: 2026-12-05 20:15:03 UTC                        #
  #                                                              #
  # Terms Of Use: https://feodotracker.abuse.ch/blocklist/       #
  # For questions please contact feodotracker [at] abuse.ch      #
  ################################################################
  #
  # "first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"
  "2021-01-17 07:44:46","203.0.113.17","443","online","2026-12-05","Dridex"
  "2023-06-12 14:02:11","198.51.100.4","8080","offline","2026-11-30","QakBot"
  "2024-02-01 09:30:00","2001:db8::bad","443","online","2026-12-04","Pikabot"
  "2024-03-09 01:00:00","203.0.113.300","443","online","2026-12-04","BumbleBee"
  "2024-04-09 01:00:00","203.0.113.17","447","online","2026-12-04","Dridex"
  # Number of entries: 5

  """

/// Shaped like URLhaus' hostfile: a comment banner, then `127.0.0.1<TAB>host` lines.
let urlhausHostfile = """
  ################################################################
  # abuse.ch URLhaus Host file                                   #
  # Last updated: 2026-12-05 20:10:05 (UTC)                      #
  #                                                              #
  # Terms Of Use: https://urlhaus.abuse.ch/api/                  #
  # For questions please contact urlhaus [at] abuse.ch           #
  ################################################################
  #
  127.0.0.1\tmalware-drop.example
  127.0.0.1\tEvil-CDN.Example.NET
  127.0.0.1\txn--bcher-kva.example
  127.0.0.1\tbad_name!.example
  127.0.0.1\tmalware-drop.example

  """

/// Shaped like a Zeek intel framework file.
let zeekIntelFile = """
  #separator \\x09
  #fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url
  203.0.113.66\tIntel::ADDR\tfeodo\tBotnet C2\t-
  198.51.100.0/24\tIntel::SUBNET\tspamhaus-drop\tHijacked range\t-
  c2.example\tIntel::DOMAIN\turlhaus\tMalware host\thttps://urlhaus.abuse.ch/host/c2.example/
  http://c2.example/payload.bin\tIntel::URL\turlhaus\tPayload\t-
  44d88612fea8a8f36de82e1278abb02f\tIntel::FILE_HASH\tvendor\tEICAR\t-
  2001:db8:bad::/48\tIntel::SUBNET\t-\tNo source\t-
  203.0.113.999\tIntel::ADDR\tfeodo\tTypo\t-
  only-two-fields\tIntel::ADDR

  """
