import FlowsentryCore
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// `GET /metrics` over HTTP/1.1 on the configured address (loopback by default): what Prometheus
/// scrapes and `flowsentry status` reads. Everything else answers 404. It may listen on a host's
/// network (the DaemonSet), so connections are capped and each is closed when it idles or takes
/// too long to send a request's head; every refusal and close is counted.
public final class MetricsServer: Sendable {
  public struct Limits: Sendable {
    /// Connections open at once; more are closed as they are accepted.
    public var maximumConnections = 16
    /// A connection with nothing read or written for this long is closed.
    public var idleTimeout: TimeAmount = .seconds(60)
    /// A request's head (request line and headers) must arrive within this, counted from the
    /// connection or the previous response: a client sending headers a byte at a time is closed.
    public var requestHeadTimeout: TimeAmount = .seconds(10)

    public init() {}
  }

  /// What the limits did, for the counter table.
  public final class Counters: Sendable {
    let accepted = Atomic<UInt64>(0)
    let refused = Atomic<UInt64>(0)
    let idleClosed = Atomic<UInt64>(0)
    let headTimeouts = Atomic<UInt64>(0)
    let open = Atomic<Int>(0)

    public init() {}

    public var samples: [MetricSample] {
      let closedHelp = "Connections to /metrics the server closed: over its limit, idle, or a request head too slow."
      return [
        .counter(
          "flowsentry_metrics_connections_total", accepted.load(ordering: .relaxed),
          help: "Connections to /metrics accepted (those over the limit not included)."),
        .counter(
          "flowsentry_metrics_connections_closed_total", refused.load(ordering: .relaxed), [("reason", "over_limit")],
          help: closedHelp),
        .counter(
          "flowsentry_metrics_connections_closed_total", idleClosed.load(ordering: .relaxed), [("reason", "idle")],
          help: closedHelp),
        .counter(
          "flowsentry_metrics_connections_closed_total", headTimeouts.load(ordering: .relaxed),
          [("reason", "request_head_timeout")], help: closedHelp),
        .gauge(
          "flowsentry_metrics_connections_open", open.load(ordering: .relaxed), help: "Connections to /metrics open."),
      ]
    }
  }

  private let channel: any Channel
  public let port: Int
  public let counters: Counters

  /// Binds and starts serving; awaits the bind rather than blocking a thread on it.
  public init(
    host: String, port: Int, exporter: MetricsExporter, limits: Limits = Limits(), counters: Counters = Counters()
  ) async throws {
    self.counters = counters
    let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        let admitted = counters.open.wrappingAdd(1, ordering: .relaxed).newValue <= limits.maximumConnections
        channel.closeFuture.whenComplete { _ in counters.open.wrappingSubtract(1, ordering: .relaxed) }
        guard admitted else {
          counters.refused.wrappingAdd(1, ordering: .relaxed)
          return channel.close()
        }
        counters.accepted.wrappingAdd(1, ordering: .relaxed)
        return channel.eventLoop.makeCompletedFuture {
          let operations = channel.pipeline.syncOperations
          try operations.addHandler(IdleStateHandler(allTimeout: limits.idleTimeout))
          try operations.addHandler(IdleCloser(counters: counters))
          try operations.configureHTTPServerPipeline()
          try operations.addHandler(
            MetricsHandler(exporter: exporter, headTimeout: limits.requestHeadTimeout, counters: counters))
        }
      }
    channel = try await bootstrap.bind(host: host, port: port).get()
    self.port = channel.localAddress?.port ?? port
  }

  public func stop() async {
    try? await channel.close().get()
  }
}

/// Closes a connection on IdleStateHandler's event, counted.
private final class IdleCloser: ChannelInboundHandler {
  typealias InboundIn = NIOAny
  let counters: MetricsServer.Counters

  init(counters: MetricsServer.Counters) { self.counters = counters }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    guard event is IdleStateHandler.IdleStateEvent else {
      context.fireUserInboundEventTriggered(event)
      return
    }
    counters.idleClosed.wrappingAdd(1, ordering: .relaxed)
    context.close(promise: nil)
  }
}

private final class MetricsHandler: ChannelInboundHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  let exporter: MetricsExporter
  let headTimeout: TimeAmount
  let counters: MetricsServer.Counters
  private var head: HTTPRequestHead?
  /// Armed while a request's head is awaited.
  private var headDeadline: Scheduled<Void>?

  init(exporter: MetricsExporter, headTimeout: TimeAmount, counters: MetricsServer.Counters) {
    self.exporter = exporter
    self.headTimeout = headTimeout
    self.counters = counters
  }

  func handlerAdded(context: ChannelHandlerContext) { awaitHead(context) }

  func handlerRemoved(context: ChannelHandlerContext) {
    headDeadline?.cancel()
    headDeadline = nil
  }

  private func awaitHead(_ context: ChannelHandlerContext) {
    headDeadline?.cancel()
    let counters = self.counters
    let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
    headDeadline = context.eventLoop.scheduleTask(in: headTimeout) {
      counters.headTimeouts.wrappingAdd(1, ordering: .relaxed)
      loopBound.value.close(promise: nil)
    }
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let request):
      headDeadline?.cancel()
      headDeadline = nil
      head = request
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
      if keepAlive {
        awaitHead(context)
      } else {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        done.whenComplete { _ in loopBound.value.close(promise: nil) }
      }
      head = nil
    }
  }
}
