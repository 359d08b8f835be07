import NIOCore
import NIOHTTP1
import NIOPosix

/// `GET /metrics` over HTTP/1.1 on the configured address (loopback by default): what Prometheus
/// scrapes and `flowsentry status` reads. Everything else answers 404.
public final class MetricsServer: Sendable {
  private let channel: any Channel
  public let port: Int

  /// Binds and starts serving; awaits the bind rather than blocking a thread on it.
  public init(host: String, port: Int, exporter: MetricsExporter) async throws {
    let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.configureHTTPServerPipeline()
          try channel.pipeline.syncOperations.addHandler(MetricsHandler(exporter: exporter))
        }
      }
    channel = try await bootstrap.bind(host: host, port: port).get()
    self.port = channel.localAddress?.port ?? port
  }

  public func stop() async {
    try? await channel.close().get()
  }
}

private final class MetricsHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  let exporter: MetricsExporter
  private var head: HTTPRequestHead?

  init(exporter: MetricsExporter) { self.exporter = exporter }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let request): head = request
    case .body: break
    case .end:
      guard let request = head else { return }
      let found = request.method == .GET && (request.uri == "/metrics" || request.uri.hasPrefix("/metrics?"))
      // Rendering takes a snapshot and formats it: short, and bounded by the number of series.
      let body = found ? exporter.render() : Array("not found; try /metrics\n".utf8)
      var headers = HTTPHeaders()
      headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
      headers.add(name: "Content-Length", value: String(body.count))
      let keepAlive = request.isKeepAlive
      if !keepAlive { headers.add(name: "Connection", value: "close") }
      context.write(
        wrapOutboundOut(
          .head(HTTPResponseHead(version: request.version, status: found ? .ok : .notFound, headers: headers))),
        promise: nil)
      context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
      let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
      if !keepAlive { done.whenComplete { _ in context.close(promise: nil) } }
      head = nil
    }
  }
}
