import Foundation
import Logging
import ServiceLifecycle

/// Runs background jobs as a service of the application: jobs are child tasks of `run()`, so none
/// outlives the server. On graceful shutdown it stops taking jobs (the service answers 503), lets the
/// running ones finish for up to `drainTimeout`, then cancels what is left.
final class JobRunner: Service, @unchecked Sendable {
    typealias Job = @Sendable () async -> Void

    let drainTimeout: Duration
    private let lock = NSLock()
    private var accepting = true
    private let stream: AsyncStream<Job>
    private let continuation: AsyncStream<Job>.Continuation

    init(drainTimeout: Duration = .seconds(30)) {
        self.drainTimeout = drainTimeout
        (stream, continuation) = AsyncStream.makeStream(of: Job.self)
    }

    /// False once shutdown has begun.
    var isAccepting: Bool { lock.withLock { accepting } }

    /// Hands a job to the runner; false when it no longer takes jobs.
    func submit(_ job: @escaping Job) -> Bool {
        lock.withLock {
            guard accepting else { return false }
            if case .enqueued = continuation.yield(job) { return true }
            accepting = false
            return false
        }
    }

    func stopAccepting() {
        lock.withLock { accepting = false }
        continuation.finish()
    }

    func run() async throws {
        try? await withThrowingTaskGroup(of: Void.self) { group in
            // The jobs: each a child task; the loop ends when shutdown finishes the stream, and this
            // task ends once every job has.
            group.addTask {
                await withGracefulShutdownHandler {
                    await withDiscardingTaskGroup { jobs in
                        for await job in self.stream {
                            jobs.addTask { await job() }
                        }
                    }
                } onGracefulShutdown: {
                    self.stopAccepting()
                }
            }
            // The drain deadline: once shutdown begins, jobs get `drainTimeout`, then are cancelled.
            group.addTask {
                try await gracefulShutdown()
                try await Task.sleep(for: self.drainTimeout)
                throw CancellationError()
            }
            try await group.next()
            group.cancelAll()
        }
    }
}
