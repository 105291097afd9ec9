import Foundation

// The HTTP API's own types: what clients send and receive, snake_case on the wire (the coders below
// convert), independent of the pipeline's structs so either can change without breaking the other.
// docs: Sources/Server/Resources/openapi.json describes every one of them.

/// The body of POST /api/generate, /api/generate_parallel and /api/jobs. Every field is optional here
/// so that a missing one is reported by validation with its name, not as a decoding failure.
public struct GenerateRequest: Codable, Sendable, Equatable {
    public var text: String?
    public var language: String?
    /// An espeak-ng variant (`m3`, `f2`, ...).
    public var voice: String?
    /// Words per minute.
    public var rate: Int?
    /// `wav2lip` or `viseme`; default: Wav2Lip when a model is installed, else viseme.
    public var engine: String?
    /// `wav2lip`, `wav2lip_gan` (an installed model); implies the Wav2Lip engine.
    public var model: String?
    /// An avatar id from GET /api/avatars (default: the built-in one).
    public var avatar: String?
    /// Parallel mode: `split` (chunks alternate between NOGAN and GAN) or `same`.
    public var assign: String?
    /// Parallel mode: forced number of chunks.
    public var chunks: Int?
    /// POST /api/jobs only: `regular` (default) or `parallel`.
    public var mode: String?

    public init(text: String? = nil, language: String? = nil) {
        self.text = text
        self.language = language
    }
}

public enum GenerationMode: String, Codable, Sendable, CaseIterable {
    case regular, parallel
}

public struct TimingsDTO: Codable, Sendable, Equatable {
    public var speech = 0.0
    public var audio = 0.0
    public var avatar = 0.0
    public var inference = 0.0
    public var compositing = 0.0
    public var encoding = 0.0
    public var total = 0.0

    public init() {}

    /// Header-friendly rows: `X-Timing-<Name>`.
    var headerRows: [(String, Double)] {
        [("Speech", speech), ("Audio-Mel", audio), ("Avatar", avatar), ("Inference", inference),
         ("Compositing", compositing), ("Encoding", encoding), ("Total", total)]
    }
}

public struct ChunkDTO: Codable, Sendable, Equatable {
    public var index: Int
    public var worker: Int
    public var model: String
    public var firstFrame: Int
    public var frames: Int
    /// Seconds from the start of rendering.
    public var start: Double
    public var end: Double

    public init(index: Int, worker: Int, model: String, firstFrame: Int, frames: Int, start: Double, end: Double) {
        (self.index, self.worker, self.model, self.firstFrame, self.frames, self.start, self.end) = (index, worker, model, firstFrame, frames, start, end)
    }
}

public struct ParallelReportDTO: Codable, Sendable, Equatable {
    public var assignment: String
    public var chunks: [ChunkDTO]
    public var planning: Double
    public var concat: Double
    /// Set when the generation ran in one piece, with the reason.
    public var fallbackReason: String?

    public init(assignment: String, chunks: [ChunkDTO], planning: Double, concat: Double, fallbackReason: String?) {
        (self.assignment, self.chunks, self.planning, self.concat, self.fallbackReason) = (assignment, chunks, planning, concat, fallbackReason)
    }
}

/// What a backend reports about one finished rendering.
public struct RenderOutcome: Sendable, Equatable {
    public var frames: Int
    public var fps: Double
    public var duration: Double
    public var engine: String
    public var avatarCached: Bool
    public var timings: TimingsDTO
    public var parallel: ParallelReportDTO?

    public init(frames: Int, fps: Double, duration: Double, engine: String, avatarCached: Bool, timings: TimingsDTO,
                parallel: ParallelReportDTO? = nil) {
        (self.frames, self.fps, self.duration, self.engine, self.avatarCached, self.timings, self.parallel) =
            (frames, fps, duration, engine, avatarCached, timings, parallel)
    }
}

/// A finished generation as clients see it.
public struct GenerationSummary: Codable, Sendable, Equatable {
    public var id: String
    public var mode: GenerationMode
    public var videoUrl: String
    public var frames: Int
    public var fps: Double
    public var duration: Double
    public var engine: String
    public var avatarCached: Bool
    public var timings: TimingsDTO
    public var parallel: ParallelReportDTO?
    public var bytes: Int

    init(id: String, mode: GenerationMode, outcome: RenderOutcome, bytes: Int) {
        self.id = id
        self.mode = mode
        videoUrl = "/api/videos/\(id)"
        frames = outcome.frames
        fps = outcome.fps
        duration = outcome.duration
        engine = outcome.engine
        avatarCached = outcome.avatarCached
        timings = outcome.timings
        parallel = outcome.parallel
        self.bytes = bytes
    }

    // Optionals are written as null, so every documented field is always present.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(mode, forKey: .mode)
        try container.encode(videoUrl, forKey: .videoUrl)
        try container.encode(frames, forKey: .frames)
        try container.encode(fps, forKey: .fps)
        try container.encode(duration, forKey: .duration)
        try container.encode(engine, forKey: .engine)
        try container.encode(avatarCached, forKey: .avatarCached)
        try container.encode(timings, forKey: .timings)
        try container.encode(parallel, forKey: .parallel)
        try container.encode(bytes, forKey: .bytes)
    }
}

public enum JobState: String, Codable, Sendable {
    case queued, running, done, failed
}

/// A background generation, polled at GET /api/jobs/{id}.
public struct JobDTO: Codable, Sendable, Equatable {
    public var id: String
    public var mode: GenerationMode
    public var state: JobState
    public var stage: String
    public var framesDone: Int
    public var framesTotal: Int
    public var created: Date
    public var result: GenerationSummary?
    public var error: String?
    /// The HTTP status the same failure gets on /api/generate (one error mapping for both).
    public var errorStatus: Int?

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(mode, forKey: .mode)
        try container.encode(state, forKey: .state)
        try container.encode(stage, forKey: .stage)
        try container.encode(framesDone, forKey: .framesDone)
        try container.encode(framesTotal, forKey: .framesTotal)
        try container.encode(created, forKey: .created)
        try container.encode(result, forKey: .result)
        try container.encode(error, forKey: .error)
        try container.encode(errorStatus, forKey: .errorStatus)
    }
}

public struct ModelDTO: Codable, Sendable, Equatable {
    public var name: String
    public var engine: String
    public var description: String
    public var file: String?
    public var inputs: [String]

    public init(name: String, engine: String, description: String, file: String?, inputs: [String]) {
        (self.name, self.engine, self.description, self.file, self.inputs) = (name, engine, description, file, inputs)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(engine, forKey: .engine)
        try container.encode(description, forKey: .description)
        try container.encode(file, forKey: .file)
        try container.encode(inputs, forKey: .inputs)
    }
}

public struct ModelFailureDTO: Codable, Sendable, Equatable {
    public var name: String
    public var error: String

    public init(name: String, error: String) {
        self.name = name
        self.error = error
    }
}

/// GET /api/models: what can render, and installed models that failed to load.
public struct ModelList: Codable, Sendable, Equatable {
    public var models: [ModelDTO]
    public var failures: [ModelFailureDTO]

    public init(models: [ModelDTO], failures: [ModelFailureDTO]) {
        self.models = models
        self.failures = failures
    }
}

/// GET /api/voices.
public struct VoiceList: Codable, Sendable, Equatable {
    public var languages: [String]
    public var variants: [String]
    public var defaultLanguage: String

    public init(languages: [String], variants: [String], defaultLanguage: String) {
        self.languages = languages
        self.variants = variants
        self.defaultLanguage = defaultLanguage
    }
}

public struct AvatarDTO: Codable, Sendable, Equatable {
    public var id: String
    public var file: String
}

public struct AvatarList: Codable, Sendable, Equatable {
    public var avatars: [AvatarDTO]
}

public struct BoxDTO: Codable, Sendable, Equatable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        (self.x, self.y, self.width, self.height) = (x, y, width, height)
    }
}

/// What face analysis found in an avatar file.
public struct AvatarAnalysis: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var frames: Int
    public var faces: Int
    public var box: BoxDTO?

    public init(width: Int, height: Int, frames: Int, faces: Int, box: BoxDTO?) {
        (self.width, self.height, self.frames, self.faces, self.box) = (width, height, frames, faces, box)
    }
}

/// POST /api/avatars answer.
public struct UploadedAvatarDTO: Codable, Sendable, Equatable {
    public var id: String
    public var width: Int
    public var height: Int
    public var frames: Int
    public var faces: Int
    public var box: BoxDTO?

    init(id: String, analysis: AvatarAnalysis) {
        self.id = id
        width = analysis.width
        height = analysis.height
        frames = analysis.frames
        faces = analysis.faces
        box = analysis.box
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(width, forKey: .width)
        try container.encode(height, forKey: .height)
        try container.encode(frames, forKey: .frames)
        try container.encode(faces, forKey: .faces)
        try container.encode(box, forKey: .box)
    }
}

public struct HealthDTO: Codable, Sendable, Equatable {
    /// `ok`, or `draining` while shutting down (no new work accepted).
    public var status: String
    public var running: Int
    public var queued: Int
}

public struct ErrorDTO: Codable, Sendable, Equatable {
    public var error: String
}

/// The one JSON configuration of the API: snake_case keys, ISO 8601 dates, sorted keys.
public enum WireJSON {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
