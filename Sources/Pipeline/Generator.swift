import Avatar
import Compositing
import Foundation
import LipSync
import Media
import SpeechSynthesis

/// Regular generation: text -> speech -> mel -> engine (batched) -> compositor -> encoder, with the
/// engine, the compositor and ffmpeg working at the same time.
package final class Generator: Sendable {
    package let synthesizer: any SpeechSynthesizer
    package let avatars: AvatarStore

    package init(synthesizer: any SpeechSynthesizer, avatars: AvatarStore) {
        self.synthesizer = synthesizer
        self.avatars = avatars
    }

    package func generate(_ source: GenerationSource, avatar avatarFile: URL, engine: any LipSyncEngine, output: URL,
                         options: GenerationOptions = GenerationOptions(),
                         progress: ProgressHandler? = nil) async throws -> GenerationResult {
        try options.validate()
        let total = Stopwatch()
        var timings = StageTimings()
        progress?(GenerationProgress(stage: "speech", framesDone: 0, framesTotal: 0))
        let audio = try await UtteranceAudio.make(source, fps: options.fps, synthesizer: synthesizer, timings: &timings)
        return try await render(audio, timings: timings, clock: total, avatar: avatarFile, engine: engine, output: output,
                                options: options, progress: progress)
    }

    /// The rest of a regular generation, from audio already prepared (parallel mode's fallback uses it too).
    func render(_ audio: UtteranceAudio, timings: StageTimings, clock total: Stopwatch, avatar avatarFile: URL,
                engine: any LipSyncEngine, output: URL, options: GenerationOptions,
                progress: ProgressHandler?) async throws -> GenerationResult {
        var timings = timings
        progress?(GenerationProgress(stage: "avatar", framesDone: 0, framesTotal: audio.frameCount))
        let (avatar, cached) = try await prepareAvatar(avatarFile, settings: options.avatar, timings: &timings)

        let encoder = try VideoEncoder(output: output, width: avatar.width, height: avatar.height, fps: options.fps,
                                       audio: audio.muxFile, settings: options.encoder)
        let renderer = FrameRenderer(avatar: avatar, windows: audio.windows, cues: audio.cues, engine: engine,
                                     compositor: Compositor(paste: options.paste), reuseSilence: options.reuseSilence)
        let frameTotal = audio.frameCount
        let busy: FrameRenderer.Busy
        do {
            busy = try await renderer.render(0..<frameTotal) { index, frame in
                try await encoder.append(frame)
                if index % 10 == 9 || index == frameTotal - 1 {
                    progress?(GenerationProgress(stage: "rendering", framesDone: index + 1, framesTotal: frameTotal))
                }
            }
        } catch {
            encoder.cancel()
            throw error
        }
        let finishClock = Stopwatch()
        let written = try await encoder.finish()
        timings.inference = busy.inference
        timings.compositing = busy.compositing
        timings.encoding = busy.sink + finishClock.seconds
        timings.total = total.seconds
        progress?(GenerationProgress(stage: "done", framesDone: written, framesTotal: frameTotal))
        return GenerationResult(output: output, frameCount: written, fps: options.fps, audioDuration: audio.duration,
                                engine: engine.name, avatarCached: cached, timings: timings, cues: audio.cues,
                                framesInferred: busy.inferred, framesReused: busy.reused)
    }

    /// The prepared avatar (analysed once, then from the cache), off the cooperative pool, timed.
    func prepareAvatar(_ file: URL, settings: AvatarSettings, timings: inout StageTimings) async throws -> (PreparedAvatar, cached: Bool) {
        let clock = Stopwatch()
        let avatars = self.avatars
        let prepared = try await Self.offPool { try avatars.prepare(file, settings: settings) }
        timings.avatar = clock.seconds
        return prepared
    }

    /// Runs blocking work (file analysis, model compilation) on a dispatch thread, not Swift's pool.
    package static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }
}
