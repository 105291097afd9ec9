import Hummingbird
import NIOCore

/// The request context of every route: Hummingbird's basics plus the connection, which streamed
/// answers watch to stop work for a client that has left. Bodies are read with explicit limits per
/// route (JSON, uploads); `maxUploadSize` bounds anything read without one.
package struct AppRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    package let channel: any Channel

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    package var maxUploadSize: Int { 1024 * 1024 }
}

/// Tells when the client of a connection is gone: its side closed (the server allows half-closed
/// connections, so this is an event, not a close), an error, or the connection closed. Installed at
/// the front of the pipeline for one streamed answer; everything passes through untouched.
final class DisconnectWatcher: ChannelDuplexHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny

    private let promise: EventLoopPromise<Void>
    private var settled = false   // touched on the channel's event loop only
    var gone: EventLoopFuture<Void> { promise.futureResult }

    /// Settles the promise once: true when the client left, false when the watch simply ended.
    private func settle(clientLeft: Bool) {
        guard !settled else { return }
        settled = true
        if clientLeft { promise.succeed() } else { promise.fail(CancellationError()) }
    }

    init(eventLoop: any EventLoop) { promise = eventLoop.makePromise() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { context.fireChannelRead(data) }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { settle(clientLeft: true) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        settle(clientLeft: true)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        settle(clientLeft: true)
        context.fireErrorCaught(error)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Never leave the promise open: a removed watcher has nothing more to tell.
        settle(clientLeft: false)
    }

    /// Runs `body` and cancels it when the client of `channel` leaves.
    static func cancellingOnDisconnect<T: Sendable>(_ channel: any Channel, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let watcher = DisconnectWatcher(eventLoop: channel.eventLoop)
        guard (try? await channel.pipeline.addHandler(watcher, position: .first).get()) != nil else {
            return try await body()
        }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                guard (try? await watcher.gone.get()) != nil else { return nil }
                throw CancellationError()
            }
            // Removing the watcher settles its promise, which ends the watching task: the group can close.
            defer { channel.pipeline.removeHandler(watcher, promise: nil) }
            for try await result in group {
                if let result { return result }
            }
            throw CancellationError()
        }
    }
}
