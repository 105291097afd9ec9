import Foundation

// The HTTP API's own types: what clients send and receive, snake_case on the wire (the coders below
// convert), independent of the pipeline's structs so either can change without breaking the other.
// docs: Sources/Server/Resources/openapi.json describes every one of them.

/// The body of POST /api/generate, /api/generate_parallel and /api/jobs. Every field is optional here
/// so that a missing one is reported by validation with its name, not as a decoding failure.
package struct GenerateRequest: Codable, Sendable, Equatable {
    package var text: String?
    package var language: String?
    /// An espeak-ng variant (`m3`, `f2`, ...).
    package var voice: String?
    /// Words per minute.
    package var rate: Int?
    /// `wav2lip` or `viseme`; default: Wav2Lip when a model is installed, else viseme.
    package var engine: String?
    /// `wav2lip`, `wav2lip_gan` (an installed model); implies the Wav2Lip engine.
    package var model: String?
    /// An avatar id from GET /api/avatars (default: the built-in one).
    package var avatar: String?
    /// Parallel mode: `split` (chunks alternate between NOGAN and GAN) or `same`.
    package var assign: String?
    /// Parallel mode: forced number of chunks.
    package var chunks: Int?
    /// POST /api/jobs and /api/generate_stream: `regular` (default) or `parallel`.
    package var mode: String?
    /// POST /api/jobs: render as a stream with a live HLS playlist (default: true for regular jobs; a
    /// parallel job then deals 1 s fragments to its workers instead of joining chunks at the end).
    package var stream: Bool?
    /// Framing, as the original Wav2Lip's options: pixels added to the face box [top, bottom, left, right].
    package var pads: [Int]?
    /// A fixed face box [top, bottom, left, right] in avatar pixels instead of the detected one.
    package var box: [Int]?
    /// True: no smoothing of a video avatar's face boxes over time.
    package var nosmooth: Bool?
    /// `feathered` (default: a soft lower-face mask) or `box` (the original's hard rectangle).
    package var paste: String?

    package init(text: String? = nil, language: String? = nil) {
        self.text = text
        self.language = language
    }
}

package enum GenerationMode: String, Codable, Sendable, CaseIterable {
    case regular, parallel
}

package struct TimingsDTO: Codable, Sendable, Equatable {
    package var speech = 0.0
    package var audio = 0.0
    package var avatar = 0.0
    package var inference = 0.0
    package var compositing = 0.0
    package var encoding = 0.0
    package var total = 0.0

    package init() {}

    /// Header-friendly rows: `X-Timing-<Name>`.
    var headerRows: [(String, Double)] {
        [("Speech", speech), ("Audio-Mel", audio), ("Avatar", avatar), ("Inference", inference),
         ("Compositing", compositing), ("Encoding", encoding), ("Total", total)]
    }
}

package struct ChunkDTO: Codable, Sendable, Equatable {
    package var index: Int
    package var worker: Int
    package var model: String
    package var firstFrame: Int
    package var frames: Int
    /// Seconds from the start of rendering.
    package var start: Double
    package var end: Double

    package init(index: Int, worker: Int, model: String, firstFrame: Int, frames: Int, start: Double, end: Double) {
        (self.index, self.worker, self.model, self.firstFrame, self.frames, self.start, self.end) = (index, worker, model, firstFrame, frames, start, end)
    }
}

package struct ParallelReportDTO: Codable, Sendable, Equatable {
    package var assignment: String
    package var chunks: [ChunkDTO]
    package var planning: Double
    package var concat: Double
    /// Set when the generation ran in one piece, with the reason.
    package var fallbackReason: String?

    package init(assignment: String, chunks: [ChunkDTO], planning: Double, concat: Double, fallbackReason: String?) {
        (self.assignment, self.chunks, self.planning, self.concat, self.fallbackReason) = (assignment, chunks, planning, concat, fallbackReason)
    }
}

/// What a backend reports about one finished rendering.
package struct RenderOutcome: Sendable, Equatable {
    package var frames: Int
    package var fps: Double
    package var duration: Double
    package var engine: String
    /// Inference precision (`f32`, `bf16`); nil for the viseme engine.
    package var precision: String?
    /// The voice that spoke (`piper/en_US-joe-medium`, ...).
    package var voice: String?
    package var avatarCached: Bool
    package var timings: TimingsDTO
    package var parallel: ParallelReportDTO?

    package init(frames: Int, fps: Double, duration: Double, engine: String, precision: String? = nil, voice: String? = nil,
                 avatarCached: Bool, timings: TimingsDTO, parallel: ParallelReportDTO? = nil) {
        (self.frames, self.fps, self.duration, self.engine, self.precision, self.voice, self.avatarCached, self.timings, self.parallel) =
            (frames, fps, duration, engine, precision, voice, avatarCached, timings, parallel)
    }
}

/// A finished generation as clients see it.
package struct GenerationSummary: Codable, Sendable, Equatable {
    package var id: String
    package var mode: GenerationMode
    package var videoUrl: String
    package var frames: Int
    package var fps: Double
    package var duration: Double
    package var engine: String
    package var precision: String?
    package var voice: String?
    package var avatarCached: Bool
    package var timings: TimingsDTO
    package var parallel: ParallelReportDTO?
    package var bytes: Int
    /// The queue worker that rendered it (`lipsync worker --name`); nil when the server rendered it itself.
    package var worker: String?

    init(id: String, mode: GenerationMode, outcome: RenderOutcome, bytes: Int) {
        self.id = id
        self.mode = mode
        videoUrl = "/api/videos/\(id)"
        frames = outcome.frames
        fps = outcome.fps
        duration = outcome.duration
        engine = outcome.engine
        precision = outcome.precision
        voice = outcome.voice
        avatarCached = outcome.avatarCached
        timings = outcome.timings
        parallel = outcome.parallel
        self.bytes = bytes
    }

    // Optionals are written as null, so every documented field is always present.
    package func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(mode, forKey: .mode)
        try container.encode(videoUrl, forKey: .videoUrl)
        try container.encode(frames, forKey: .frames)
        try container.encode(fps, forKey: .fps)
        try container.encode(duration, forKey: .duration)
        try container.encode(engine, forKey: .engine)
        try container.encode(precision, forKey: .precision)
        try container.encode(voice, forKey: .voice)
        try container.encode(avatarCached, forKey: .avatarCached)
        try container.encode(timings, forKey: .timings)
        try container.encode(parallel, forKey: .parallel)
        try container.encode(bytes, forKey: .bytes)
        try container.encode(worker, forKey: .worker)
    }
}

package enum JobState: String, Codable, Sendable {
    case queued, running, done, failed
}

/// A background generation, polled at GET /api/jobs/{id}.
package struct JobDTO: Codable, Sendable, Equatable {
    package var id: String
    package var mode: GenerationMode
    package var state: JobState
    package var stage: String
    package var framesDone: Int
    package var framesTotal: Int
    package var created: Date
    package var result: GenerationSummary?
    package var error: String?
    /// The HTTP status the same failure gets on /api/generate (one error mapping for both).
    package var errorStatus: Int?
    /// The live HLS playlist of a job rendered as a stream (`/api/jobs/{id}/stream.m3u8`), else nil.
    package var streamUrl: String?
    /// Queue mode: the worker holding or last holding the job, and how many times it was claimed.
    package var worker: String?
    package var attempts: Int?

    package func encode(to encoder: Encoder) throws {
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
        try container.encode(streamUrl, forKey: .streamUrl)
        try container.encode(worker, forKey: .worker)
        try container.encode(attempts, forKey: .attempts)
    }
}

package struct ModelDTO: Codable, Sendable, Equatable {
    package var name: String
    package var engine: String
    package var description: String
    package var file: String?
    package var inputs: [String]
    /// Inference precision the model was compiled with; nil for the viseme engine.
    package var precision: String?
    /// What the file is: GAN/NOGAN, ONNX export or checkpoint format, converted or not (nil for the viseme engine).
    package var source: String?

    package init(name: String, engine: String, description: String, file: String?, inputs: [String], precision: String?,
                 source: String? = nil) {
        (self.name, self.engine, self.description, self.file, self.inputs, self.precision, self.source) =
            (name, engine, description, file, inputs, precision, source)
    }

    package func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(engine, forKey: .engine)
        try container.encode(description, forKey: .description)
        try container.encode(file, forKey: .file)
        try container.encode(inputs, forKey: .inputs)
        try container.encode(precision, forKey: .precision)
        try container.encode(source, forKey: .source)
    }
}

package struct ModelFailureDTO: Codable, Sendable, Equatable {
    package var name: String
    package var error: String

    package init(name: String, error: String) {
        self.name = name
        self.error = error
    }
}

/// GET /api/models: what can render, and installed models that failed to load.
package struct ModelList: Codable, Sendable, Equatable {
    package var models: [ModelDTO]
    package var failures: [ModelFailureDTO]

    package init(models: [ModelDTO], failures: [ModelFailureDTO]) {
        self.models = models
        self.failures = failures
    }
}

/// GET /api/voices.
package struct VoiceList: Codable, Sendable, Equatable {
    /// Every language a request may name.
    package var languages: [String]
    /// espeak-ng variants, accepted as `voice` (espeak-ng in the request's language).
    package var variants: [String]
    package var defaultLanguage: String
    package var voices: [VoiceDTO]
    /// The voice that speaks each language when a request names none.
    package var defaults: [String: String]

    package init(languages: [String], variants: [String], defaultLanguage: String, voices: [VoiceDTO] = [], defaults: [String: String] = [:]) {
        self.languages = languages
        self.variants = variants
        self.defaultLanguage = defaultLanguage
        self.voices = voices
        self.defaults = defaults
    }
}

package struct VoiceDTO: Codable, Sendable, Equatable {
    /// `espeak/<language>`, `piper/<file stem>` or `festival/<voice>`.
    package var id: String
    package var engine: String
    package var language: String
    package var sampleRate: Int
    /// False for a recorded voice that keeps its speaker's rate (`rate` does not change it).
    package var adjustableRate: Bool
    package var loaded: Bool
    /// Why the voice cannot be used, when it cannot.
    package var error: String?

    package init(id: String, engine: String, language: String, sampleRate: Int, adjustableRate: Bool, loaded: Bool, error: String? = nil) {
        self.id = id
        self.engine = engine
        self.language = language
        self.sampleRate = sampleRate
        self.adjustableRate = adjustableRate
        self.loaded = loaded
        self.error = error
    }
}

package struct AvatarDTO: Codable, Sendable, Equatable {
    package var id: String
    package var file: String
}

package struct AvatarList: Codable, Sendable, Equatable {
    package var avatars: [AvatarDTO]
}

package struct BoxDTO: Codable, Sendable, Equatable {
    package var x: Int
    package var y: Int
    package var width: Int
    package var height: Int

    package init(x: Int, y: Int, width: Int, height: Int) {
        (self.x, self.y, self.width, self.height) = (x, y, width, height)
    }
}

/// What face analysis found in an avatar file.
package struct AvatarAnalysis: Sendable, Equatable {
    package var width: Int
    package var height: Int
    package var frames: Int
    package var faces: Int
    package var box: BoxDTO?

    package init(width: Int, height: Int, frames: Int, faces: Int, box: BoxDTO?) {
        (self.width, self.height, self.frames, self.faces, self.box) = (width, height, frames, faces, box)
    }
}

/// POST /api/avatars answer.
package struct UploadedAvatarDTO: Codable, Sendable, Equatable {
    package var id: String
    package var width: Int
    package var height: Int
    package var frames: Int
    package var faces: Int
    package var box: BoxDTO?

    init(id: String, analysis: AvatarAnalysis) {
        self.id = id
        width = analysis.width
        height = analysis.height
        frames = analysis.frames
        faces = analysis.faces
        box = analysis.box
    }

    package func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(width, forKey: .width)
        try container.encode(height, forKey: .height)
        try container.encode(frames, forKey: .frames)
        try container.encode(faces, forKey: .faces)
        try container.encode(box, forKey: .box)
    }
}

package struct HealthDTO: Codable, Sendable, Equatable {
    /// `ok`, or `draining` while shutting down (no new work accepted).
    package var status: String
    package var running: Int
    package var queued: Int
}

package struct ErrorDTO: Codable, Sendable, Equatable {
    package var error: String
}

/// The one JSON configuration of the API: snake_case keys, ISO 8601 dates, sorted keys.
package enum WireJSON {
    package static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    package static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
