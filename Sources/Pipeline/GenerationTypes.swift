import Foundation
import LipSync
import Media
import SpeechSynthesis

/// What to lip-sync: text to speak, or an existing recording.
public enum GenerationSource: Sendable {
    case text(SpeechRequest)
    /// Any audio (or video with audio) file ffmpeg reads.
    case audioFile(URL)
}

public struct GenerationOptions: Sendable {
    public var fps: Double
    public var encoder: EncoderSettings
    /// Infer one patch per avatar frame for digital silence and reuse it (exact: same input, same output).
    public var reuseSilence: Bool

    public init(fps: Double = 25, encoder: EncoderSettings = EncoderSettings(), reuseSilence: Bool = true) {
        self.fps = fps
        self.encoder = encoder
        self.reuseSilence = reuseSilence
    }

    /// Checks the options every generation path relies on, before any work starts.
    public func validate() throws {
        guard fps >= 1 && fps <= 60 else { throw GenerationError.invalidOptions("fps must be in 1...60, got \(fps)") }
        guard (0...51).contains(encoder.crf) else { throw GenerationError.invalidOptions("crf must be in 0...51, got \(encoder.crf)") }
        let presets = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
        guard presets.contains(encoder.preset) else {
            throw GenerationError.invalidOptions("unknown x264 preset '\(encoder.preset)'; choose one of \(presets.joined(separator: ", "))")
        }
    }
}

/// Seconds spent per stage. Stages overlap (inference, compositing and encoding run concurrently), so
/// their sum can exceed `total`, which is the wall time.
public struct StageTimings: Sendable, Codable, Equatable {
    public var speech = 0.0
    public var audio = 0.0
    public var avatar = 0.0
    public var inference = 0.0
    public var compositing = 0.0
    public var encoding = 0.0
    public var total = 0.0

    public init() {}

    public var rows: [(String, Double)] {
        [("speech", speech), ("audio/mel", audio), ("avatar", avatar), ("inference", inference),
         ("compositing", compositing), ("encoding", encoding), ("total", total)]
    }
}

public struct GenerationResult: Sendable {
    public var output: URL
    public var frameCount: Int
    public var fps: Double
    /// Length of the speech in seconds.
    public var audioDuration: Double
    /// The engine that rendered the mouth (`wav2lip`, `wav2lip_gan`, ...).
    public var engine: String
    /// True when the avatar came from the cache (no face analysis ran).
    public var avatarCached: Bool
    public var timings: StageTimings
    /// The phonemes, loudness and brightness per frame the video was made from.
    public var cues: SpeechCues
    /// Frames the engine rendered, and silent frames that reused a patch instead.
    public var framesInferred = 0
    public var framesReused = 0
}

public struct GenerationProgress: Sendable {
    public var stage: String
    public var framesDone: Int
    public var framesTotal: Int

    public init(stage: String, framesDone: Int, framesTotal: Int) {
        self.stage = stage
        self.framesDone = framesDone
        self.framesTotal = framesTotal
    }
}

public typealias ProgressHandler = @Sendable (GenerationProgress) -> Void

public enum GenerationError: Error, CustomStringConvertible {
    case invalidOptions(String)

    public var description: String {
        switch self {
        case .invalidOptions(let message): return message
        }
    }
}

/// Wall-clock helper.
struct Stopwatch {
    private let start = ContinuousClock.now
    var seconds: Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    }
}
