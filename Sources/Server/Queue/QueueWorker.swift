import Foundation
import Logging
import Media
import Pipeline
import ServiceLifecycle

/// `lipsync worker`: claims jobs from the queue and renders them with its own backend (`PipelineBackend`: its
/// models, voices and avatar cache), one at a time. While it renders it renews the lease every
/// `lease / 3` and publishes progress at most four times a second; a claim it no longer holds (the lease
/// expired and another worker took the job) stops the render. Results are written once, conditionally
/// on the claim. When the database is away it retries with backoff; on SIGINT/SIGTERM it stops claiming
/// and finishes the job in hand.
package final class QueueWorker<Backend: LipSyncBackend>: Service, Sendable {
    let queue: JobQueue
    let backend: Backend
    package let name: String
    /// Avatars fetched from the queue by content hash.
    let avatarDirectory: URL
    let logger: Logger
    let wake = WakeSignal()
    /// How long an idle worker waits for a notification before it looks at the table anyway (expired leases).
    let idlePoll: Duration

    package init(queue: JobQueue, backend: Backend, name: String, avatarDirectory: URL, idlePoll: Duration = .seconds(1), logger: Logger) {
        self.queue = queue
        self.backend = backend
        self.name = name
        self.avatarDirectory = avatarDirectory
        self.idlePoll = idlePoll
        self.logger = logger
    }

    /// What must run for the worker: the connection pool, the listener for new jobs, and the worker loop
    /// (shut down in reverse order: the loop first).
    package var services: [any Service] {
        [queue.client,
         QueueListener(address: queue.address, channel: JobQueue.jobsChannel, logger: logger, connected: { [wake] in wake.signal() },
                       deliver: { [wake] _ in wake.signal() }),
         self]
    }

    package func run() async throws {
        // The schema first (whichever process starts first creates it); a database that is not up yet is waited for.
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await queue.migrate(patience: .seconds(3_600))
                break
            } catch is CancellationError {
                return
            } catch {
                logger.error("job queue schema: \(String(reflecting: error)); retrying")
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(5)) }
            }
        }
        logger.info("worker \(name) taking jobs from \(queue.address) (lease \(queue.settings.lease))")
        var delay = Duration.milliseconds(200)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await queue.failAbandoned()
                if let job = try await queue.claim(worker: name) {
                    await process(job)
                } else {
                    await wake.wait(timeout: idlePoll)
                }
                delay = .milliseconds(200)
            } catch let error as QueueUnavailable {
                let wait = delay
                logger.warning("\(error); retrying in \(wait)")
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                delay = min(delay * 2, .seconds(5))
            } catch is CancellationError {
                break
            } catch {
                let wait = delay
                logger.error("worker loop: \(String(reflecting: error))")
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                delay = min(delay * 2, .seconds(5))
            }
        }
        logger.info("worker \(name) stopped")
    }

    /// Renders one claimed job and records the outcome.
    func process(_ job: ClaimedJob) async {
        logger.info("job \(job.id): claimed (attempt \(job.attempt))")
        let output = ScratchSpace.directory.appendingPathComponent("\(job.id)-\(job.attempt).mp4")
        defer { try? FileManager.default.removeItem(at: output) }
        do {
            let avatar = try await avatarFile(job.avatarSHA256)
            let plan = try await backend.plan(job.request, mode: job.mode, avatar: avatar)
            let outcome = try await holdingLease(job) { progress in
                try await self.backend.render(plan, to: .file(output), progress: progress)
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: output.path)[.size] as? Int) ?? 0
            guard size <= queue.settings.maxVideoBytes else {
                throw ServiceError(.contentTooLarge, "the video (\(size / 1_048_576) MB) is larger than the queue stores (\(queue.settings.maxVideoBytes / 1_048_576) MB); use a shorter text")
            }
            let video = try Data(contentsOf: output)
            var summary = GenerationSummary(id: job.id, mode: job.mode, outcome: outcome, bytes: video.count)
            summary.worker = name
            let result = summary
            let taken = try await persistently { try await self.queue.complete(job, summary: result, video: video) }
            if taken {
                logger.info("job \(job.id): done (\(outcome.frames) frames, \(video.count) bytes)")
            } else {
                logger.notice("job \(job.id): result discarded, the claim was lost (another worker holds the job)")
            }
        } catch is LeaseLost {
            logger.notice("job \(job.id): stopped, the claim was lost (another worker holds the job)")
        } catch let error as QueueUnavailable {
            // Not the job's fault: give it back (without spending the attempt) once the database answers.
            logger.warning("job \(job.id): \(error); giving it back")
            try? await persistently { try await self.queue.release(job) }
        } catch {
            let failure = ServiceError(mapping: error)
            if failure.isServerFault { logger.error("job \(job.id) failed: \(String(reflecting: error))") }
            let outcome: String
            do {
                let state = try await persistently {
                    try await self.queue.fail(job, message: failure.message, status: Int(failure.status.code), retry: failure.isServerFault)
                }
                outcome = state?.rawValue ?? "not recorded: the claim was lost"
            } catch {
                outcome = "not recorded: \(error)"
            }
            logger.info("job \(job.id): \(failure.message) -> \(outcome)")
        }
    }

    /// Runs `work` while a companion task renews the lease and publishes progress; the work is cancelled
    /// (and `LeaseLost` thrown) as soon as the queue says the claim is no longer this worker's.
    func holdingLease<T: Sendable>(_ job: ClaimedJob, _ work: @escaping @Sendable (@escaping ProgressHandler) async throws -> T) async throws -> T {
        let latest = ProgressBox()
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work { latest.set($0) } }
            group.addTask {
                let clock = ContinuousClock()
                var lastBeat = clock.now
                var published: GenerationProgress?
                while true {
                    try await Task.sleep(for: .milliseconds(250))
                    do {
                        if let progress = latest.get(), progress.framesDone != published?.framesDone || progress.stage != published?.stage {
                            guard try await self.queue.progress(job, stage: progress.stage, framesDone: progress.framesDone,
                                                                framesTotal: progress.framesTotal) else { throw LeaseLost() }
                            published = progress
                        }
                        if clock.now - lastBeat >= self.queue.settings.heartbeat {
                            guard try await self.queue.heartbeat(job) else { throw LeaseLost() }
                            lastBeat = clock.now
                        }
                    } catch let error as QueueUnavailable {
                        // Keep rendering: the result is stored once the database is back, if the claim still holds.
                        self.logger.warning("job \(job.id): \(error)")
                    }
                }
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CancellationError()
        }
    }

    /// Retries an operation while the database is away (up to a minute), so a finished render is not lost to a blip.
    func persistently<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        var delay = Duration.milliseconds(200)
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do {
                return try await operation()
            } catch let error as QueueUnavailable where ContinuousClock.now + delay < deadline {
                let wait = delay
                logger.warning("\(error); retrying in \(wait)")
                try await Task.sleep(for: wait)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    /// The avatar with this content hash, fetched from the queue once and kept.
    func avatarFile(_ sha256: String) async throws -> URL {
        let manager = FileManager.default
        if let name = try? manager.contentsOfDirectory(atPath: avatarDirectory.path).first(where: { $0.hasPrefix(sha256 + ".") }) {
            return avatarDirectory.appendingPathComponent(name)
        }
        guard let (ext, data) = try await queue.avatar(sha256) else {
            throw ServiceError(.badRequest, "the job's avatar (\(sha256.prefix(12))…) is not in the queue's database")
        }
        try manager.createDirectory(at: avatarDirectory, withIntermediateDirectories: true)
        let file = avatarDirectory.appendingPathComponent("\(sha256).\(ext.isEmpty ? "png" : ext)")
        let partial = avatarDirectory.appendingPathComponent(".\(UUID().uuidString).\(ext)")
        try data.write(to: partial)
        guard rename(partial.path, file.path) == 0 else {   // atomic: a reader never sees half a file
            try? manager.removeItem(at: partial)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file.path])
        }
        return file
    }
}

/// The claim of a job is no longer this worker's.
struct LeaseLost: Error {}

/// The latest progress of a render, set by the renderer and read by the lease keeper.
final class ProgressBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: GenerationProgress?
    func set(_ progress: GenerationProgress) { lock.withLock { value = progress } }
    func get() -> GenerationProgress? { lock.withLock { value } }
}

/// `lipsync worker`: the real backend (models compiled, default avatar prepared) behind a queue worker,
/// until SIGINT/SIGTERM. Temporary files go to a folder of this process, removed at exit.
package func runWorker(configuration: ServerConfiguration, name: String, logger: Logger) async throws {
    guard let address = configuration.queue else { throw ConfigurationError("a worker needs --queue postgres://user@host:port/database") }
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("lipsync-worker-\(getpid())")
    try ScratchSpace.use(scratch)
    defer { try? FileManager.default.removeItem(at: scratch) }
    let backend = try PipelineBackend(configuration: configuration, logger: logger)
    try await backend.start()
    let queue = JobQueue(address: address, settings: configuration.queueSettings, logger: logger)
    let worker = QueueWorker(queue: queue, backend: backend, name: name,
                             avatarDirectory: configuration.avatarCacheDirectory.appendingPathComponent("queue"), logger: logger)
    let group = ServiceGroup(services: worker.services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
    try await group.run()
}
