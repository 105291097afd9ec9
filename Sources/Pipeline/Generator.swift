import AsyncAlgorithms
import Avatar
import Compositing
import Foundation
import Imaging
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

    /// A regular generation into an MP4 file.
    package func generate(_ source: GenerationSource, avatar avatarFile: URL, engine: any LipSyncEngine, output: URL,
                          options: GenerationOptions = GenerationOptions(),
                          progress: ProgressHandler? = nil) async throws -> GenerationResult {
        try await generate(source, avatar: avatarFile, workers: [engine], to: .file(output), options: options, progress: progress)
    }

    /// A generation to any output. With several workers, the frames are dealt out in fragments of
    /// `fragmentSeconds` (worker w renders fragments w, w + W, ...) and encoded in order, so a parallel
    /// generation streams like a regular one; pass the same engine twice for two workers sharing it.
    package func generate(_ source: GenerationSource, avatar avatarFile: URL, workers: [any LipSyncEngine], to output: VideoOutput,
                          options: GenerationOptions = GenerationOptions(),
                          progress: ProgressHandler? = nil) async throws -> GenerationResult {
        try options.validate()
        guard !workers.isEmpty else { throw GenerationError.invalidOptions("no engine to render with") }
        let total = Stopwatch()
        var timings = StageTimings()
        progress?(GenerationProgress(stage: "speech", framesDone: 0, framesTotal: 0))
        let audio = try await UtteranceAudio.make(source, fps: options.fps, synthesizer: synthesizer, timings: &timings)
        return try await render(audio, timings: timings, clock: total, avatar: avatarFile, workers: workers, to: output,
                                options: options, progress: progress)
    }

    /// Fragments of streamed output and HLS segments last this long (each starts with a keyframe).
    package static let fragmentSeconds = 1.0

    /// The rest of a generation, from audio already prepared (parallel mode's fallback uses it too).
    func render(_ audio: UtteranceAudio, timings: StageTimings, clock total: Stopwatch, avatar avatarFile: URL,
                workers: [any LipSyncEngine], to output: VideoOutput, options: GenerationOptions,
                progress: ProgressHandler?) async throws -> GenerationResult {
        var timings = timings
        progress?(GenerationProgress(stage: "avatar", framesDone: 0, framesTotal: audio.frameCount))
        let (avatar, cached) = try await prepareAvatar(avatarFile, settings: options.avatar, timings: &timings)

        let fragmentFrames = max(1, Int((options.fps * Self.fragmentSeconds).rounded()))
        let destination: EncoderDestination
        switch output {
        case .file(let url): destination = .file(url)
        case .fileWithHLS(let url, let directory): destination = .fileWithHLS(url, hlsDirectory: directory, segmentFrames: fragmentFrames)
        case .stream: destination = .fragmented(fragmentFrames: fragmentFrames)
        }
        let encoder = try VideoEncoder(destination: destination, width: avatar.width, height: avatar.height, fps: options.fps,
                                       audio: audio.muxFile, settings: options.encoder)
        let frames = FramePipeline(avatar: avatar, audio: audio, workers: workers, compositor: Compositor(paste: options.paste),
                                   reuseSilence: options.reuseSilence, fragmentFrames: fragmentFrames, progress: progress)
        let (busy, written, encodingTail) = try await withThrowingTaskGroup(of: (FrameRenderer.Busy, Int, Double)?.self) { group in
            // A streamed encode is read while it is written; a sink that fails (the client left) ends it all.
            if case .stream(let sink) = output, let bytes = encoder.output {
                group.addTask {
                    for try await chunk in bytes { try await sink(chunk) }
                    return nil
                }
            }
            group.addTask {
                let busy = try await frames.run { try await encoder.append($0) }
                let finishClock = Stopwatch()
                let written = try await encoder.finish()
                return (busy, written, finishClock.seconds)
            }
            do {
                var outcome: (FrameRenderer.Busy, Int, Double)?
                for try await result in group where result != nil { outcome = result }
                return outcome!
            } catch {
                // Stop ffmpeg first: a render blocked on a full pipe is released by it.
                encoder.cancel()
                throw error
            }
        }
        timings.inference = busy.inference
        timings.compositing = busy.compositing
        timings.encoding = busy.sink + encodingTail
        timings.total = total.seconds
        progress?(GenerationProgress(stage: "done", framesDone: written, framesTotal: audio.frameCount))
        return GenerationResult(output: output.file, frameCount: written, fps: options.fps, audioDuration: audio.duration,
                                engine: Set(workers.map(\.name)).sorted().joined(separator: "+"), precision: workers.first?.precision,
                                avatarCached: cached, timings: timings, cues: audio.cues,
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

/// Where a generation's video goes.
package enum VideoOutput: Sendable {
    /// A regular MP4 file.
    case file(URL)
    /// A regular MP4 file and, from the same encode, an HLS event playlist with fMP4 segments.
    case fileWithHLS(URL, hlsDirectory: URL)
    /// A fragmented MP4, handed to the sink as it is encoded (init segment first, then keyframe-aligned
    /// fragments). A sink that throws (the client left) stops the generation.
    case stream(@Sendable (Data) async throws -> Void)

    /// The MP4 file written, if any.
    package var file: URL? {
        switch self {
        case .file(let url), .fileWithHLS(let url, _): return url
        case .stream: return nil
        }
    }
}

/// The frames of a generation, rendered by one worker or dealt out in fragments to several, and handed
/// to `sink` in order.
struct FramePipeline: Sendable {
    let avatar: PreparedAvatar
    let audio: UtteranceAudio
    let workers: [any LipSyncEngine]
    let compositor: Compositor
    let reuseSilence: Bool
    let fragmentFrames: Int
    let progress: ProgressHandler?

    func renderer(_ engine: any LipSyncEngine) -> FrameRenderer {
        FrameRenderer(avatar: avatar, windows: audio.windows, cues: audio.cues, engine: engine, compositor: compositor,
                      reuseSilence: reuseSilence)
    }

    func report(_ done: Int) {
        let total = audio.frameCount
        if done % 10 == 0 || done == total {
            progress?(GenerationProgress(stage: "rendering", framesDone: done, framesTotal: total))
        }
    }

    func run(sink: @escaping @Sendable (RGBImage) async throws -> Void) async throws -> FrameRenderer.Busy {
        let total = audio.frameCount
        guard workers.count > 1 else {
            // One worker: frames go to the sink as they are made.
            return try await renderer(workers[0]).render(0..<total) { index, frame in
                try await sink(frame)
                report(index + 1)
            }
        }
        // Several: worker w renders fragments w, w + W, ... into its own rendezvous channel; the sink reads
        // the channels in turn, so fragments come out in order and each worker is at most one ahead.
        let fragments = stride(from: 0, to: total, by: fragmentFrames).map { $0..<min(total, $0 + fragmentFrames) }
        let channels = workers.map { _ in AsyncThrowingChannel<[RGBImage], Error>() }
        return try await withThrowingTaskGroup(of: FrameRenderer.Busy.self) { group in
            for (index, engine) in workers.enumerated() {
                let channel = channels[index], renderer = renderer(engine)
                group.addTask {
                    var busy = FrameRenderer.Busy()
                    do {
                        for fragment in stride(from: index, to: fragments.count, by: workers.count) {
                            let collected = FrameBox()
                            busy.add(try await renderer.render(fragments[fragment]) { _, frame in collected.append(frame) })
                            await channel.send(collected.frames)
                        }
                        channel.finish()
                    } catch {
                        channel.fail(error)
                        throw error
                    }
                    return busy
                }
            }
            var iterators = channels.map { $0.makeAsyncIterator() }
            var done = 0
            for fragment in fragments.indices {
                guard let frames = try await iterators[fragment % workers.count].next() else {
                    throw GenerationError.invalidOptions("a worker stopped before its last fragment")
                }
                for frame in frames {
                    try await sink(frame)
                    done += 1
                    report(done)
                }
            }
            var busy = FrameRenderer.Busy()
            for try await part in group { busy.add(part) }
            return busy
        }
    }
}

/// Frames of one fragment, collected by a renderer's sink.
private final class FrameBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [RGBImage] = []
    func append(_ frame: RGBImage) { lock.withLock { stored.append(frame) } }
    var frames: [RGBImage] { lock.withLock { stored } }
}
