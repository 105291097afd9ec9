import Foundation
import Logging
import Pipeline
import ServiceLifecycle

/// The API node's side of the queue: jobs go in, and requests that wait for one (the synchronous
/// endpoints) are woken by `lipsync_progress` notifications, with a poll every second as a safety net
/// (notifications sent while the listener reconnects are lost). Old videos and jobs are swept here.
final class QueueFrontend: Sendable {
    let queue: JobQueue
    let logger: Logger
    private let waiters = Waiters()

    init(queue: JobQueue, logger: Logger) {
        self.queue = queue
        self.logger = logger
    }

    /// The connection pool, the progress listener and the retention sweep.
    func services(videoLifetime: Duration) -> [any Service] {
        [queue.client,
         QueueListener(address: queue.address, channel: JobQueue.progressChannel, logger: logger,
                       connected: { [waiters] in waiters.signalAll() }, deliver: { [waiters] id in waiters.signal(id) }),
         QueueSweeper(queue: queue, videoLifetime: videoLifetime, logger: logger)]
    }

    /// Waits until job `id` is done (returning it) or failed (throwing its error with its status),
    /// reporting progress. The database may go away meanwhile: the job is durable, so the wait goes on,
    /// until it has been unreachable for `patience` (503).
    func wait(for id: String, patience: Duration = .seconds(60), progress: ProgressHandler) async throws -> QueuedJob {
        let signal = waiters.add(id)
        defer { waiters.remove(id) }
        let deadline = ContinuousClock.now + queue.settings.syncWaitLimit
        var unreachableSince: ContinuousClock.Instant?
        var reported: (String, Int)?
        while true {
            try Task.checkCancellation()
            do {
                if let job = try await queue.job(id) {
                    unreachableSince = nil
                    switch job.state {
                    case .done: return job
                    case .failed:
                        throw ServiceError(.init(code: job.errorStatus ?? 500), job.error ?? ServiceError.internalMessage)
                    case .queued, .running:
                        if reported.map({ $0 != (job.stage, job.framesDone) }) ?? true {
                            progress(GenerationProgress(stage: job.stage, framesDone: job.framesDone, framesTotal: job.framesTotal))
                            reported = (job.stage, job.framesDone)
                        }
                    }
                } else {
                    throw ServiceError(.internalServerError, ServiceError.internalMessage)
                }
            } catch let error as QueueUnavailable {
                let since = unreachableSince ?? .now
                unreachableSince = since
                if ContinuousClock.now - since > patience { throw error }
            }
            guard ContinuousClock.now < deadline else {
                throw ServiceError(.gatewayTimeout, "no worker finished the job within \(queue.settings.syncWaitLimit); it stays queued: follow it at /api/jobs/\(id)")
            }
            await signal.wait(timeout: .seconds(1))
        }
    }
}

/// Requests waiting for a job, by job id.
private final class Waiters: @unchecked Sendable {
    private let lock = NSLock()
    private var signals: [String: WakeSignal] = [:]

    func add(_ id: String) -> WakeSignal {
        let signal = WakeSignal()
        lock.withLock { signals[id] = signal }
        return signal
    }

    func remove(_ id: String) { _ = lock.withLock { signals.removeValue(forKey: id) } }
    func signal(_ id: String) { lock.withLock { signals[id] }?.signal() }
    func signalAll() { lock.withLock { Array(signals.values) }.forEach { $0.signal() } }
}

/// Clears expired videos from the queue's database and fails jobs whose workers all died, every 30 s.
struct QueueSweeper: Service {
    let queue: JobQueue
    let videoLifetime: Duration
    let logger: Logger

    func run() async throws {
        let interval = min(Duration.seconds(30), videoLifetime)
        // The first sweep after one interval: the schema is migrated at start-up meanwhile.
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            guard !Task.isCancelled && !Task.isShuttingDownGracefully else { return }
            do {
                try await queue.failAbandoned()
                let (videos, jobs) = try await queue.sweep(videoLifetime: videoLifetime)
                if videos + jobs > 0 { logger.info("queue retention: \(videos) videos cleared, \(jobs) old jobs removed") }
            } catch {
                logger.warning("queue retention sweep: \(String(reflecting: error))")
            }
        }
    }
}
