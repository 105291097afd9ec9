import Avatar
import Foundation
import Imaging
import Inference
import LipSync
import Logging
import Media
import Pipeline
import SpeechSynthesis

/// The body of a generation request.
public struct GenerateRequestBody: Codable, Sendable {
    public var text: String?
    public var language: String?
    public var voice: String?
    public var rate: Int?
    /// `wav2lip`, `wav2lip_gan` (or another installed name); implies the Wav2Lip engine.
    public var model: String?
    /// `wav2lip` or `viseme`; default: Wav2Lip when a model is installed, else viseme.
    public var engine: String?
    /// An avatar id from GET /api/avatars (default: the built-in one).
    public var avatar: String?
    /// Parallel mode: `split` or `same`.
    public var assign: String?
    /// Parallel mode: forced number of chunks.
    public var chunks: Int?
    /// For POST /api/jobs: `regular` or `parallel`.
    public var mode: String?

    public init(text: String? = nil, language: String? = nil) {
        self.text = text
        self.language = language
    }
}

public enum GenerationMode: String, Codable, Sendable {
    case regular, parallel
}

/// The outcome of a generation, as clients see it.
public struct GenerationSummary: Codable, Sendable {
    public var id: String
    public var mode: GenerationMode
    public var videoURL: String
    public var frames: Int
    public var fps: Double
    public var duration: Double
    public var engine: String
    public var avatarCached: Bool
    public var timings: StageTimings
    public var parallel: ParallelReport?
    public var bytes: Int

    enum CodingKeys: String, CodingKey {
        case id, mode, videoURL = "video_url", frames, fps, duration, engine, avatarCached = "avatar_cached", timings, parallel, bytes
    }
}

/// Everything loaded once at start-up and shared by all requests: speech, models, avatars, the job
/// limiter and the finished videos.
public final class LipSyncService: Sendable {
    public let configuration: ServerConfiguration
    let synthesizer: EspeakSynthesizer
    let avatars: AvatarStore
    let catalog: ModelCatalog
    /// Installed Wav2Lip models, compiled once (both stay loaded, as the seed's GAN + NOGAN).
    let wav2lip: [String: Wav2LipEngine]
    let viseme = VisemeEngine()
    let limiter: JobLimiter
    let metrics = ServiceMetrics()
    let jobs = JobStore()
    let uploads: AvatarLibrary
    let logger: Logger
    let languages: Set<String>

    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "lipsync")) async throws {
        self.configuration = configuration
        self.logger = logger
        let runtime = try InferenceRuntime.shared.get()
        synthesizer = try EspeakSynthesizer(limits: SpeechLimits(maxCharacters: configuration.maxTextCharacters))
        languages = Set(await synthesizer.languages().map { $0.lowercased() })
        avatars = AvatarStore(cacheDirectory: configuration.avatarCacheDirectory, assets: configuration.assetsDirectory, runtime: runtime)
        catalog = ModelCatalog(directory: configuration.modelsDirectory)
        // Pinning off: GAN and NOGAN run side by side in split mode and must not share cores.
        var engines: [String: Wav2LipEngine] = [:]
        for entry in catalog.installed() {
            engines[entry.name] = try catalog.load(entry.name, options: CompileOptions(batchSize: 8, cpuPinning: false), runtime: runtime)
        }
        wav2lip = engines
        limiter = JobLimiter(maxRunning: configuration.maxConcurrentJobs, maxQueued: configuration.maxQueuedJobs)
        uploads = AvatarLibrary(directory: configuration.uploadedAvatarsDirectory, defaultAvatar: configuration.defaultAvatar)
        try FileManager.default.createDirectory(at: configuration.videosDirectory, withIntermediateDirectories: true)
        // Analyse the default avatar now, so the first request does not pay for it.
        _ = try avatars.prepare(configuration.defaultAvatar)
        logger.info("ready: engines \(engineNames.joined(separator: ", ")), default avatar \(configuration.defaultAvatar.lastPathComponent)")
    }

    public var engineNames: [String] { wav2lip.keys.sorted() + ["viseme"] }

    // MARK: Validation

    /// Checks a request completely before it takes a slot, so bad input never waits in the queue.
    func validate(_ body: GenerateRequestBody, mode: GenerationMode) throws -> ValidatedRequest {
        guard let text = body.text else { throw ServiceError(.badRequest, "missing 'text'") }
        do { try synthesizer.limits.validate(text) } catch let error as SpeechError { throw ServiceError(.badRequest, error.description) }
        let language = (body.language ?? "ru").lowercased()
        guard languages.contains(language) else {
            throw ServiceError(.badRequest, SpeechError.unknownLanguage(language, available: languages.sorted()).description)
        }
        if let rate = body.rate, !EspeakSynthesizer.rateRange.contains(rate) {
            throw ServiceError(.badRequest, SpeechError.invalidRate(rate, allowed: EspeakSynthesizer.rateRange).description)
        }
        let avatar = try uploads.file(for: body.avatar)
        let engines = try chooseEngines(body, mode: mode)
        if let chunks = body.chunks, !(1...16).contains(chunks) { throw ServiceError(.badRequest, "'chunks' must be 1...16, got \(chunks)") }
        let request = SpeechRequest(text: text, language: language, voice: body.voice, wordsPerMinute: body.rate ?? 175)
        return ValidatedRequest(speech: request, avatar: avatar, engines: engines.engines, assignment: engines.assignment, chunks: body.chunks, mode: mode)
    }

    private func chooseEngines(_ body: GenerateRequestBody, mode: GenerationMode) throws -> (engines: [any LipSyncEngine], assignment: WorkerAssignment) {
        let assignment: WorkerAssignment?
        switch body.assign?.lowercased() {
        case nil: assignment = nil
        case "split": assignment = .split
        case "same": assignment = .same
        case let other?: throw ServiceError(.badRequest, "unknown assign '\(other)'; choose split or same")
        }
        let load: (String) throws -> any LipSyncEngine = { name in
            guard let engine = self.wav2lip[name] else {
                let known = ModelCatalog.knownModels.map(\.name)
                if known.contains(name) || name.hasSuffix(".onnx") || name.contains("/") {
                    throw ServiceError(.badRequest, "model '\(name)' is not installed; installed: \(self.wav2lip.keys.sorted().joined(separator: ", "))\(self.wav2lip.isEmpty ? "(none)" : "")")
                }
                throw ServiceError(.badRequest, "unknown model '\(name)'; known models: \(known.joined(separator: ", "))")
            }
            return engine
        }
        let engine: any LipSyncEngine
        do {
            engine = try EngineChoice.resolve(engine: body.engine, model: body.model, catalog: catalog, load: load)
        } catch let error as LipSyncError {
            throw ServiceError(.badRequest, error.description)
        }
        // Split needs two different Wav2Lip models; otherwise, and for the viseme engine, workers share one.
        let canSplit = EngineChoice.canSplit(installed: Array(wav2lip.keys), engine: body.engine, model: body.model)
        if mode == .parallel && assignment == .split && !canSplit {
            throw ServiceError(.badRequest, "assign 'split' needs both wav2lip and wav2lip_gan installed and the Wav2Lip engine; use 'same'")
        }
        if (assignment ?? (canSplit ? .split : .same)) == .split {
            return (EngineChoice.splitModels.map { wav2lip[$0]! }, .split)
        }
        return ([engine], .same)
    }

    // MARK: Generation

    /// Runs one generation within the limiter's bounds; the video stays in `videosDirectory`.
    func generate(_ request: ValidatedRequest, id: String = UUID().uuidString.lowercased(),
                  progress: ProgressHandler? = nil) async throws -> GenerationSummary {
        guard await limiter.acquire() else {
            metrics.recordGeneration(mode: request.mode.rawValue, outcome: "rejected", frames: 0)
            throw ServiceError(.tooManyRequests, "the server is busy (\(limiter.maxRunning) running, \(limiter.maxQueued) waiting); try again shortly", retryAfter: 5)
        }
        defer { Task { await limiter.release() } }
        let output = configuration.videosDirectory.appendingPathComponent("\(id).mp4")
        let generator = Generator(synthesizer: synthesizer, avatars: avatars)
        let options = GenerationOptions(fps: configuration.fps)
        do {
            let result: GenerationResult
            var report: ParallelReport?
            switch request.mode {
            case .regular:
                result = try await generator.generate(.text(request.speech), avatar: request.avatar, engine: request.engines[0],
                                                      output: output, options: options, progress: progress)
            case .parallel:
                let parallel = ParallelOptions(assignment: request.assignment, chunks: request.chunks, workers: 2)
                (result, report) = try await ParallelGenerator(generator: generator).generate(
                    .text(request.speech), avatar: request.avatar, engines: request.engines, output: output, options: options,
                    parallel: parallel, progress: progress)
            }
            metrics.recordGeneration(mode: request.mode.rawValue, outcome: "ok", frames: result.frameCount)
            scheduleRemoval(of: output)
            let bytes = (try? FileManager.default.attributesOfItem(atPath: output.path)[.size] as? Int) ?? 0
            return GenerationSummary(id: id, mode: request.mode, videoURL: "/api/videos/\(id)", frames: result.frameCount, fps: result.fps,
                                     duration: result.audioDuration, engine: result.engine, avatarCached: result.avatarCached,
                                     timings: result.timings, parallel: report, bytes: bytes)
        } catch {
            try? FileManager.default.removeItem(at: output)
            metrics.recordGeneration(mode: request.mode.rawValue, outcome: "failed", frames: 0)
            throw error
        }
    }

    func videoFile(_ id: String) -> URL? {
        guard id.range(of: "^[a-z0-9-]{1,64}$", options: .regularExpression) != nil else { return nil }
        let url = configuration.videosDirectory.appendingPathComponent("\(id).mp4")
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    private func scheduleRemoval(of file: URL) {
        let lifetime = configuration.videoLifetime
        Task.detached {
            try? await Task.sleep(for: lifetime)
            try? FileManager.default.removeItem(at: file)
        }
    }

    /// Removes every finished video (at shutdown).
    public func cleanUp() {
        try? FileManager.default.removeItem(at: configuration.videosDirectory)
    }
}

/// A request that passed validation: everything needed to run it.
struct ValidatedRequest: Sendable {
    var speech: SpeechRequest
    var avatar: URL
    var engines: [any LipSyncEngine]
    var assignment: WorkerAssignment
    var chunks: Int?
    var mode: GenerationMode
}
