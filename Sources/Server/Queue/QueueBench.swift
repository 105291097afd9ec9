import Foundation
import Logging
import Media
import Pipeline
import ServiceLifecycle

/// Figures of the queue, measured in one run against a real PostgreSQL with the real backend (`lipsync
/// bench queue`): enqueue -> claim latency with idle workers, end-to-end time per job through the queue
/// vs rendering in-process, and the throughput of two workers vs two in-process renders at once.
package struct QueueBenchReport: Sendable {
    /// Seconds from enqueue to claim (the database's clock for both), one job at a time, workers idle.
    package var claimLatencies: [Double] = []
    /// Seconds per job, one at a time: enqueue, render by a worker, result stored, API node woken, video read.
    package var queuedSequential: [Double] = []
    /// Seconds per job, one at a time, rendered in this process (the service without --queue).
    package var localSequential: [Double] = []
    /// Wall seconds for `jobs` jobs enqueued at once with two workers, and rendered two at a time in-process.
    package var queuedConcurrent = 0.0
    package var localConcurrent = 0.0
    package var jobs = 0
}

package enum QueueBench {
    package static let text = "Привет! Это проверка очереди заданий."

    package static func run(configuration: ServerConfiguration, address: QueueAddress, samples: Int, jobs: Int,
                            logger: Logger) async throws -> QueueBenchReport {
        let backend = try PipelineBackend(configuration: configuration, logger: logger)
        try await backend.start()
        let queue = JobQueue(address: address, settings: configuration.queueSettings, logger: logger)
        let frontend = QueueFrontend(queue: queue, logger: logger)
        let avatars = try ScratchSpace.makeFolder("lipsync-bench-queue-avatars")
        defer { try? FileManager.default.removeItem(at: avatars) }
        // Two workers in this process, each with its own connection pool and listener, as two processes would have.
        let workers = (0..<2).map { index in
            QueueWorker(queue: JobQueue(address: address, settings: configuration.queueSettings, logger: logger), backend: backend,
                        name: "bench-worker-\(index + 1)", avatarDirectory: avatars, logger: logger)
        }
        let services = frontend.services(videoLifetime: configuration.videoLifetime) + workers.flatMap(\.services)
        let group = ServiceGroup(configuration: .init(services: services, logger: logger))
        let request = {
            var request = GenerateRequest(text: text, language: "ru")
            request.engine = "viseme"
            return request
        }()

        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { tasks.cancelAll() }
            try await queue.migrate()
            let avatar = try await queue.publishAvatar(configuration.defaultAvatar)

            /// One job through the queue, as `/api/generate` on an API node does it.
            @Sendable func queued() async throws -> (id: String, seconds: Double) {
                let start = ContinuousClock.now
                let id = VideoStore.newID()
                try await queue.enqueue(id: id, mode: .regular, request: request, avatarSHA256: avatar)
                _ = try await frontend.wait(for: id) { _ in }
                guard try await queue.video(id) != nil else { throw ServiceError(.internalServerError, "no video for \(id)") }
                return (id, (ContinuousClock.now - start).benchSeconds)
            }
            /// One job rendered here, as `/api/generate` without --queue does it.
            @Sendable func local() async throws -> Double {
                let start = ContinuousClock.now
                let output = ScratchSpace.directory.appendingPathComponent("bench-\(UUID().uuidString).mp4")
                defer { try? FileManager.default.removeItem(at: output) }
                let plan = try await backend.plan(request, mode: .regular, avatar: configuration.defaultAvatar)
                _ = try await backend.render(plan, to: .file(output), progress: { _ in })
                _ = try Data(contentsOf: output)
                return (ContinuousClock.now - start).benchSeconds
            }

            var report = QueueBenchReport()
            report.jobs = jobs
            // Warm-up: both paths once (avatar fetched by the workers, first encodes).
            _ = try await queued()
            _ = try await queued()
            _ = try await local()

            // One at a time: the workers are idle whenever a job arrives.
            var ids: [String] = []
            for _ in 0..<samples {
                let (id, seconds) = try await queued()
                ids.append(id)
                report.queuedSequential.append(seconds)
                report.localSequential.append(try await local())
            }
            // Claim latency of those jobs, from the events table (the database's clock for enqueue and claim).
            report.claimLatencies = try await queue.claimLatencies(ids)

            // Throughput: all at once, two workers; then two at a time in-process.
            var start = ContinuousClock.now
            try await withThrowingTaskGroup(of: (id: String, seconds: Double).self) { jobsGroup in
                for _ in 0..<jobs { jobsGroup.addTask { try await queued() } }
                try await jobsGroup.waitForAll()
            }
            report.queuedConcurrent = (ContinuousClock.now - start).benchSeconds
            start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { pair in
                for lane in 0..<2 {
                    pair.addTask {
                        for _ in stride(from: lane, to: jobs, by: 2) { _ = try await local() }
                    }
                }
                try await pair.waitForAll()
            }
            report.localConcurrent = (ContinuousClock.now - start).benchSeconds
            await group.triggerGracefulShutdown()
            return report
        }
    }
}

extension Duration {
    var benchSeconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
