import Foundation
import Logging
import Media
import Pipeline
import ServiceLifecycle

/// The service over a backend: admission (slots and queue), synchronous and background generations,
/// finished videos, uploaded avatars and metrics. Request handling is identical for every backend;
/// only the rendering differs.
package final class GenerationService<Backend: LipSyncBackend>: Sendable {
    package let backend: Backend
    package let configuration: ServerConfiguration
    let limiter: JobLimiter
    let jobs = JobStore()
    let runner: JobRunner
    let videos: VideoStore
    let avatars: AvatarLibrary
    let metrics = ServiceMetrics()
    let logger: Logger
    /// Queue mode (`serve --queue`): generations are jobs in PostgreSQL that workers render; nil: this
    /// process renders them itself.
    let queue: QueueFrontend?

    /// - Parameter data: the data directory, already taken (locked and cleaned) by this process.
    /// - Parameter queue: the job queue this API node hands generations to, or nil to render in-process.
    package init(backend: Backend, configuration: ServerConfiguration, data: DataDirectory, logger: Logger, queue: JobQueue? = nil) {
        self.backend = backend
        self.configuration = configuration
        self.logger = logger
        self.queue = queue.map { QueueFrontend(queue: $0, logger: logger) }
        limiter = JobLimiter(maxRunning: configuration.maxConcurrentJobs, maxQueued: configuration.maxQueuedJobs)
        runner = JobRunner(drainTimeout: configuration.drainTimeout)
        videos = VideoStore(directory: data.videos, lifetime: configuration.videoLifetime)
        avatars = AvatarLibrary(directory: data.uploads, defaultAvatar: configuration.defaultAvatar)
    }

    /// The services that must run beside the HTTP server: the job runner and the video sweeper.
    package var services: [any Service] {
        [runner, VideoSweeper(store: videos, interval: min(.seconds(30), configuration.videoLifetime))]
            + (queue?.services(videoLifetime: configuration.videoLifetime) ?? [])
    }

    var isDraining: Bool { !runner.isAccepting }

    var health: HealthDTO {
        HealthDTO(status: isDraining ? "draining" : "ok", running: limiter.running, queued: limiter.queued)
    }

    /// Checks a request and takes a place in line: bad input throws before anything is reserved, and a
    /// full server throws 429 having created nothing.
    func admit(_ request: GenerateRequest, mode: GenerationMode) async throws -> (Backend.Plan, Admission) {
        guard !isDraining else { throw ServiceError(.serviceUnavailable, "the server is shutting down", retryAfter: 10) }
        let avatar = try avatars.file(for: request.avatar)
        let plan = try await backend.plan(request, mode: mode, avatar: avatar)
        guard let admission = limiter.admit() else {
            metrics.recordGeneration(mode: mode.rawValue, outcome: "rejected", frames: 0)
            throw ServiceError(.tooManyRequests,
                               "the server is busy (\(limiter.maxRunning) running, \(limiter.maxQueued) waiting); try again shortly",
                               retryAfter: 5)
        }
        return (plan, admission)
    }

    /// Renders an admitted request once its slot comes up; a file output stays in the video store.
    func render(_ plan: Backend.Plan, admission: Admission, mode: GenerationMode, id: String,
                output: VideoOutput? = nil, progress: @escaping ProgressHandler = { _ in }) async throws -> GenerationSummary {
        let output = output ?? .file(videos.destination(for: id))
        do {
            let outcome = try await admission.run {
                try await backend.render(plan, to: output, progress: progress)
            }
            metrics.recordGeneration(mode: mode.rawValue, outcome: "ok", frames: outcome.frames)
            let file = videos.destination(for: id)
            return GenerationSummary(id: id, mode: mode, outcome: outcome, bytes: videos.size(of: file))
        } catch {
            videos.remove(id)
            metrics.recordGeneration(mode: mode.rawValue, outcome: error is CancellationError ? "cancelled" : "failed", frames: 0)
            throw error
        }
    }

    /// A synchronous generation: admitted, rendered, summarised.
    func generate(_ request: GenerateRequest, mode: GenerationMode) async throws -> GenerationSummary {
        if queue != nil { return try await generateQueued(request, mode: mode) }
        let (plan, admission) = try await admit(request, mode: mode)
        return try await render(plan, admission: admission, mode: mode, id: VideoStore.newID())
    }

    /// The mode a request names (`mode`), regular by default.
    static func mode(of request: GenerateRequest) throws -> GenerationMode {
        guard let name = request.mode?.lowercased() else { return .regular }
        guard let mode = GenerationMode(rawValue: name) else {
            throw ServiceError(.badRequest, "unknown mode '\(name)'; choose regular or parallel")
        }
        return mode
    }

    /// A streamed generation, checked and admitted now (so a refusal is an ordinary error answer); the
    /// returned closure renders it into `sink` once the response is under way.
    func admitStream(_ request: GenerateRequest) async throws
        -> (mode: GenerationMode, run: @Sendable (@escaping @Sendable (Data) async throws -> Void) async throws -> GenerationSummary) {
        let mode = try Self.mode(of: request)
        if queue != nil {
            throw ServiceError(.notImplemented, "streaming is not available on an API node of a job queue (serve --queue); use /api/generate, /api/generate_parallel or /api/jobs")
        }
        let (plan, admission) = try await admit(request, mode: mode)
        let id = VideoStore.newID()
        return (mode, { sink in
            try await self.render(plan, admission: admission, mode: mode, id: id, output: .stream(sink))
        })
    }

    /// A background generation: the job exists only once the request was checked and admitted. Jobs
    /// rendered as a stream (regular ones by default) publish a live HLS playlist while they render.
    func submitJob(_ request: GenerateRequest) async throws -> JobDTO {
        let mode = try Self.mode(of: request)
        if queue != nil { return try await submitQueued(request, mode: mode) }
        let (plan, admission) = try await admit(request, mode: mode)
        let id = VideoStore.newID()
        let streamed = request.stream ?? (mode == .regular)
        let output: VideoOutput = streamed ? .fileWithHLS(videos.destination(for: id), hlsDirectory: videos.hlsDirectory(for: id))
                                           : .file(videos.destination(for: id))
        let job = jobs.create(id: id, mode: mode, streamUrl: streamed ? "/api/jobs/\(id)/\(EncoderDestination.playlistName)" : nil)
        let accepted = runner.submit { [self] in
            do {
                let summary = try await render(plan, admission: admission, mode: mode, id: id, output: output) { progress in
                    self.jobs.update(id) {
                        $0.state = .running
                        $0.stage = progress.stage
                        $0.framesDone = progress.framesDone
                        $0.framesTotal = progress.framesTotal
                    }
                }
                jobs.update(id) {
                    $0.state = .done
                    $0.stage = "done"
                    $0.result = summary
                }
            } catch {
                let failure = ServiceError(mapping: error)
                if failure.isServerFault { logger.error("job \(id) failed: \(String(reflecting: error))") }
                jobs.update(id) {
                    $0.state = .failed
                    $0.error = failure.message
                    $0.errorStatus = Int(failure.status.code)
                }
            }
        }
        guard accepted else {
            admission.withdraw()
            jobs.update(id) {
                $0.state = .failed
                $0.error = "the server is shutting down"
                $0.errorStatus = 503
            }
            throw ServiceError(.serviceUnavailable, "the server is shutting down", retryAfter: 10)
        }
        return job
    }
}
