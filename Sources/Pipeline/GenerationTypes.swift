import Avatar
import Compositing
import Foundation
import LipSync
import Media
import SpeechSynthesis

/// What to lip-sync: text to speak, or an existing recording.
package enum GenerationSource: Sendable {
    case text(SpeechRequest)
    /// Any audio (or video with audio) file ffmpeg reads.
    case audioFile(URL)
}

package struct GenerationOptions: Sendable {
    package var fps: Double
    package var encoder: EncoderSettings
    /// Infer one patch per avatar frame for digital silence and reuse it (exact: same input, same output).
    package var reuseSilence: Bool
    /// How the face box is found (pads, a fixed box, smoothing): part of the prepared avatar's cache key.
    package var avatar: AvatarSettings
    /// How patches are pasted: feathered lower-face mask, or the original's hard rectangle.
    package var paste: Compositor.Paste

    package init(fps: Double = 25, encoder: EncoderSettings = EncoderSettings(), reuseSilence: Bool = true,
                avatar: AvatarSettings = .default, paste: Compositor.Paste = .feathered) {
        self.fps = fps
        self.encoder = encoder
        self.reuseSilence = reuseSilence
        self.avatar = avatar
        self.paste = paste
    }

    /// Checks the options every generation path relies on, before any work starts.
    package func validate() throws {
        guard fps >= 1 && fps <= 60 else { throw GenerationError.invalidOptions("fps must be in 1...60, got \(fps)") }
        guard (0...51).contains(encoder.crf) else { throw GenerationError.invalidOptions("crf must be in 0...51, got \(encoder.crf)") }
        let presets = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
        guard presets.contains(encoder.preset) else {
            throw GenerationError.invalidOptions("unknown x264 preset '\(encoder.preset)'; choose one of \(presets.joined(separator: ", "))")
        }
        do {
            try avatar.validate()
        } catch let error as AvatarError {
            throw GenerationError.invalidOptions(error.description)
        }
    }
}

/// Seconds spent per stage. Stages overlap (inference, compositing and encoding run concurrently), so
/// their sum can exceed `total`, which is the wall time.
package struct StageTimings: Sendable, Codable, Equatable {
    package var speech = 0.0
    package var audio = 0.0
    package var avatar = 0.0
    package var inference = 0.0
    package var compositing = 0.0
    package var encoding = 0.0
    package var total = 0.0

    package init() {}

    package var rows: [(String, Double)] {
        [("speech", speech), ("audio/mel", audio), ("avatar", avatar), ("inference", inference),
         ("compositing", compositing), ("encoding", encoding), ("total", total)]
    }
}

package struct GenerationResult: Sendable {
    /// The video file (nil when the video was streamed).
    package var output: URL?
    package var frameCount: Int
    package var fps: Double
    /// Length of the speech in seconds.
    package var audioDuration: Double
    /// The engine that rendered the mouth (`wav2lip`, `wav2lip_gan`, ...; several joined by `+`).
    package var engine: String
    /// The precision its model ran at (`f32`, `bf16`); nil for the viseme engine.
    package var precision: String?
    /// True when the avatar came from the cache (no face analysis ran).
    package var avatarCached: Bool
    package var timings: StageTimings
    /// The phonemes, loudness and brightness per frame the video was made from.
    package var cues: SpeechCues
    /// Frames the engine rendered, and silent frames that reused a patch instead.
    package var framesInferred = 0
    package var framesReused = 0
}

package struct GenerationProgress: Sendable {
    package var stage: String
    package var framesDone: Int
    package var framesTotal: Int

    package init(stage: String, framesDone: Int, framesTotal: Int) {
        self.stage = stage
        self.framesDone = framesDone
        self.framesTotal = framesTotal
    }
}

package typealias ProgressHandler = @Sendable (GenerationProgress) -> Void

package enum GenerationError: Error, CustomStringConvertible {
    case invalidOptions(String)

    package var description: String {
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
