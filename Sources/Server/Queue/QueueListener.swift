import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// LISTEN on one channel of the queue over a connection of its own, reconnecting with backoff when the
/// database goes away. Every notification's payload (a job id) goes to `deliver`; `connected` is
/// called after each (re)connection, because notifications sent while disconnected are lost and the
/// caller must look at the table again.
final class QueueListener: Service, Sendable {
    let address: QueueAddress
    let channel: String
    let logger: Logger
    let deliver: @Sendable (String) -> Void
    let connected: @Sendable () -> Void

    init(address: QueueAddress, channel: String, logger: Logger, connected: @escaping @Sendable () -> Void = {},
         deliver: @escaping @Sendable (String) -> Void) {
        self.address = address
        self.channel = channel
        self.logger = logger
        self.deliver = deliver
        self.connected = connected
    }

    func run() async throws {
        var delay = Duration.milliseconds(100)
        var connectionID = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            connectionID += 1
            let id = connectionID
            let listened = ListenedFlag()
            do {
                try await cancelWhenGracefulShutdown {
                    let connection = try await PostgresConnection.connect(configuration: self.address.connectionConfiguration,
                                                                          id: id, logger: self.logger)
                    defer { Task { try? await connection.close() } }
                    try await connection.listen(on: self.channel) { notifications in
                        listened.set()
                        self.connected()
                        for try await notification in notifications {
                            self.deliver(notification.payload)
                        }
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                guard !Task.isCancelled && !Task.isShuttingDownGracefully else { return }
                if listened.get() { delay = .milliseconds(100) }
                let wait = delay
                logger.warning("queue listener on \(channel): \(String(describing: error)); reconnecting in \(wait)")
            }
            let wait = delay
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            delay = min(delay * 2, .seconds(5))
        }
    }
}

/// Set once a listener got as far as listening (so the next reconnection starts without backoff).
private final class ListenedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    func get() -> Bool { lock.withLock { value } }
}

/// A wake-up signal that coalesces: any number of `signal()` calls before a `wait` wake it once.
final class WakeSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var pending = false
    private var waiter: (token: Int, continuation: CheckedContinuation<Void, Never>)?
    private var tokens = 0

    func signal() {
        let waiting: CheckedContinuation<Void, Never>? = lock.withLock {
            if let waiter {
                self.waiter = nil
                return waiter.continuation
            }
            pending = true
            return nil
        }
        waiting?.resume()
    }

    /// Returns at the next signal (at once if one came since the last wait) or after `timeout`.
    func wait(timeout: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let token: Int? = lock.withLock {
                if pending {
                    pending = false
                    return nil
                }
                tokens += 1
                waiter = (tokens, continuation)
                return tokens
            }
            guard let token else { return continuation.resume() }
            Task {
                try? await Task.sleep(for: timeout)
                let expired: CheckedContinuation<Void, Never>? = self.lock.withLock {
                    guard let waiter = self.waiter, waiter.token == token else { return nil }
                    self.waiter = nil
                    return waiter.continuation
                }
                expired?.resume()
            }
        }
    }
}
