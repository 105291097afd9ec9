import Avatar
import Compositing
import Foundation
import Inference
import LipSync
import Logging
import Media
import Pipeline
import SpeechSynthesis

/// The real backend: the voice catalog (Piper, Festival, espeak-ng), the engine set (Wav2Lip models compiled once, the viseme
/// engine), prepared avatars and the regular and parallel generators.
package final class PipelineBackend: LipSyncBackend {
    package struct Plan: Sendable {
        var speech: SpeechRequest
        var voice: VoiceCatalog.Choice
        var avatar: URL
        var mode: GenerationMode
        var engine: any LipSyncEngine
        var workers: ParallelWorkers?
        var chunks: Int?
        var framing = AvatarSettings.default
        var paste = Compositor.Paste.feathered
    }

    package static let defaultLanguage = "ru"

    let configuration: ServerConfiguration
    let engines: EngineSet
    let avatars: AvatarStore
    let logger: Logger
    /// Found and loaded in `start()`.
    private let loadedVoices = Loaded<VoiceCatalog>()

    /// Whether this process renders (and so loads its voices at start-up); false on an API node of the
    /// job queue, which only checks requests against the catalog while its workers speak.
    let speaks: Bool

    package init(configuration: ServerConfiguration, logger: Logger, speaks: Bool = true) throws {
        self.configuration = configuration
        self.speaks = speaks
        self.logger = logger
        let runtime = try InferenceRuntime.shared.get()
        let catalog = ModelCatalog(directory: configuration.modelsDirectory, converter: configuration.checkpointConverter,
                                   log: { logger.notice("\($0)") })
        engines = try EngineSet(catalog: catalog,
                                policy: EnginePolicy(workers: configuration.workers, precision: configuration.precision),
                                runtime: runtime, loadsOnDemand: false)
        avatars = AvatarStore(cacheDirectory: configuration.avatarCacheDirectory, assets: configuration.assetsDirectory, runtime: runtime)
    }

    package func start() async throws {
        let engines = self.engines, avatars = self.avatars, defaultAvatar = configuration.defaultAvatar
        // Compilation and face analysis block for seconds: they run on a dispatch thread.
        let failures = try await Generator.offPool { engines.preloadInstalled() }
        for (name, reason) in failures.sorted(by: { $0.key < $1.key }) {
            logger.error("model \(name) not loaded: \(reason)")
        }
        // Voices load once (Piper models compile, Festival starts with its voice) so no request waits for them.
        let catalog = try await VoiceCatalog.discover(piperFolders: [configuration.voicesDirectory] + [configuration.bundledVoicesDirectory].compactMap { $0 },
                                                      limits: SpeechLimits(maxCharacters: configuration.maxTextCharacters))
        for entry in catalog.entries { if let problem = entry.problem { logger.error("voice \(entry.id) not usable: \(problem)") } }
        if speaks {
            for (id, reason) in await catalog.loadAll().sorted(by: { $0.key < $1.key }) { logger.error("voice \(id) not loaded: \(reason)") }
        }
        loadedVoices.set(catalog)
        let defaults = catalog.defaults
        let chosen = ["ru", "en"].map { "\($0) → \(defaults[$0] ?? "none")" }
        logger.info("voices: \(chosen.joined(separator: ", ")), other languages → espeak/<language>; \(catalog.entries.filter { $0.engine != .espeak }.count) non-espeak voices found")
        let abandoned = avatars.removeAbandonedStaging()
        if abandoned > 0 { logger.notice("removed \(abandoned) unfinished avatar analyses from \(avatars.cacheDirectory.path)") }
        _ = try await Generator.offPool { try avatars.prepare(defaultAvatar) }
        let names = engines.models.map(\.name) + ["viseme"]
        logger.info("ready: engines \(names.joined(separator: ", ")) (inference \(engines.precision.rawValue)), default avatar \(defaultAvatar.lastPathComponent)")
    }

    package func models() -> ModelList {
        var models = engines.models.map { engine in
            ModelDTO(name: engine.name, engine: "wav2lip",
                     description: ModelCatalog.knownModels.first { $0.name == engine.name }?.summary ?? "Wav2Lip",
                     file: engine.origin.file.lastPathComponent, inputs: engine.ports.inputs.map(\.description),
                     precision: engine.precision, source: engine.origin.description)
        }
        models.append(ModelDTO(name: "viseme", engine: "viseme", description: "Phoneme-driven mouth shapes; needs no model weights",
                               file: nil, inputs: [], precision: nil))
        let failures = engines.loadFailures.sorted { $0.key < $1.key }.map { ModelFailureDTO(name: $0.key, error: $0.value) }
        return ModelList(models: models, failures: failures)
    }

    package func voices() async -> VoiceList {
        guard let catalog = loadedVoices.get() else { return VoiceList(languages: [], variants: [], defaultLanguage: Self.defaultLanguage) }
        let voices = catalog.entries.map { entry in
            VoiceDTO(id: entry.id, engine: entry.engine.rawValue, language: entry.language, sampleRate: entry.sampleRate,
                     adjustableRate: entry.adjustableRate, loaded: entry.engine == .espeak || catalog.isLoaded(entry.id), error: entry.problem)
        }
        return VoiceList(languages: catalog.languages, variants: catalog.espeakVariants, defaultLanguage: Self.defaultLanguage,
                         voices: voices, defaults: catalog.defaults)
    }

    package func plan(_ request: GenerateRequest, mode: GenerationMode, avatar: URL) async throws -> Plan {
        guard let text = request.text else { throw ServiceError(.badRequest, "missing 'text'") }
        guard let catalog = loadedVoices.get() else { throw ServiceError(.serviceUnavailable, "the server is starting", retryAfter: 5) }
        let speech = SpeechRequest(text: text, language: (request.language ?? Self.defaultLanguage).lowercased(), voice: request.voice,
                                   wordsPerMinute: request.rate ?? 175)
        let voice = try catalog.choose(speech)
        let assignment = try Self.assignment(request.assign)
        if let chunks = request.chunks, !(1...ParallelOptions.maxChunks).contains(chunks) {
            throw ServiceError(.badRequest, "'chunks' must be in 1...\(ParallelOptions.maxChunks), got \(chunks)")
        }
        let engine = try engines.engine(engine: request.engine, model: request.model)
        let workers = mode == .parallel
            ? try engines.parallelWorkers(engine: request.engine, model: request.model, assignment: assignment) : nil
        let (framing, paste) = try Self.framing(request)
        return Plan(speech: speech, voice: voice, avatar: avatar, mode: mode, engine: engine, workers: workers, chunks: request.chunks,
                    framing: framing, paste: paste)
    }

    /// The request's framing options (`pads`, `box`, `nosmooth`, `paste`), checked.
    package static func framing(_ request: GenerateRequest) throws -> (AvatarSettings, Compositor.Paste) {
        var paste = Compositor.Paste.feathered
        if let name = request.paste {
            guard let chosen = Compositor.Paste(rawValue: name.lowercased()) else {
                throw ServiceError(.badRequest, "unknown paste '\(name)'; choose \(Compositor.Paste.allCases.map(\.rawValue).joined(separator: " or "))")
            }
            paste = chosen
        }
        do {
            return (try AvatarSettings.framing(pads: request.pads, box: request.box, nosmooth: request.nosmooth ?? false), paste)
        } catch let error as AvatarError {
            throw ServiceError(.badRequest, error.description)
        }
    }

    static func assignment(_ name: String?) throws -> WorkerAssignment? {
        guard let name else { return nil }
        guard let assignment = WorkerAssignment(rawValue: name.lowercased()) else {
            throw ServiceError(.badRequest, "unknown assign '\(name)'; choose \(WorkerAssignment.allCases.map(\.rawValue).joined(separator: " or "))")
        }
        return assignment
    }

    package func render(_ plan: Plan, to output: VideoOutput, progress: @escaping ProgressHandler) async throws -> RenderOutcome {
        guard let catalog = loadedVoices.get() else { throw ServiceError(.serviceUnavailable, "the server is starting", retryAfter: 5) }
        let generator = Generator(synthesizer: ChosenVoice(catalog: catalog, choice: plan.voice), avatars: avatars)
        let options = GenerationOptions(fps: configuration.fps, avatar: plan.framing, paste: plan.paste)
        switch (output, plan.workers) {
        case (.file(let url), let workers?):
            let (result, report) = try await ParallelGenerator(generator: generator).generate(
                .text(plan.speech), avatar: plan.avatar, engines: workers.engines, output: url, options: options,
                parallel: engines.parallelOptions(workers, chunks: plan.chunks), progress: progress)
            return Self.outcome(result, parallel: report, voice: plan.voice.voice.id)
        case (_, let workers?):
            let result = try await generator.generate(.text(plan.speech), avatar: plan.avatar, workers: engines.fragmentWorkers(workers),
                                                      to: output, options: options, progress: progress)
            return Self.outcome(result, parallel: nil, voice: plan.voice.voice.id)
        case (_, nil):
            let result = try await generator.generate(.text(plan.speech), avatar: plan.avatar, workers: [plan.engine], to: output,
                                                      options: options, progress: progress)
            return Self.outcome(result, parallel: nil, voice: plan.voice.voice.id)
        }
    }

    static func outcome(_ result: GenerationResult, parallel: ParallelReport?, voice: String?) -> RenderOutcome {
        var timings = TimingsDTO()
        timings.speech = result.timings.speech
        timings.audio = result.timings.audio
        timings.avatar = result.timings.avatar
        timings.inference = result.timings.inference
        timings.compositing = result.timings.compositing
        timings.encoding = result.timings.encoding
        timings.total = result.timings.total
        let report = parallel.map { report in
            ParallelReportDTO(assignment: report.assignment.rawValue,
                              chunks: report.chunks.map {
                                  ChunkDTO(index: $0.index, worker: $0.worker, model: $0.model, firstFrame: $0.firstFrame,
                                           frames: $0.frames, start: $0.start, end: $0.end)
                              },
                              planning: report.planning, concat: report.concat, fallbackReason: report.fallbackReason)
        }
        return RenderOutcome(frames: result.frameCount, fps: result.fps, duration: result.audioDuration, engine: result.engine,
                             precision: result.precision, voice: voice, avatarCached: result.avatarCached, timings: timings, parallel: report)
    }

    package func analyseAvatar(_ file: URL) async throws -> AvatarAnalysis {
        let avatars = self.avatars
        let (avatar, _) = try await Generator.offPool { try avatars.prepare(file) }
        let faces = avatar.metadata.faces.compactMap { $0 }
        return AvatarAnalysis(width: avatar.width, height: avatar.height, frames: avatar.frameCount, faces: faces.count,
                              box: faces.first.map { BoxDTO(x: $0.box.x, y: $0.box.y, width: $0.box.width, height: $0.box.height) })
    }
}

/// A value set once at start-up and read by requests.
private final class Loaded<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value?

    func set(_ value: Value) { lock.withLock { self.value = value } }
    func get() -> Value? { lock.withLock { value } }
}

/// Speaks with the voice a plan chose (no second choice at render time).
private struct ChosenVoice: SpeechSynthesizer {
    let catalog: VoiceCatalog
    let choice: VoiceCatalog.Choice

    func synthesize(_ request: SpeechRequest) async throws -> SynthesizedSpeech {
        try await catalog.synthesize(request, choice: choice)
    }

    func voices() async -> [VoiceInfo] { await catalog.voices() }
}
