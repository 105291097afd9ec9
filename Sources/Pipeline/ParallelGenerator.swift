import Avatar
import Compositing
import Foundation
import LipSync
import Media

/// How chunks are given to workers.
package enum WorkerAssignment: String, Sendable, CaseIterable, Codable {
    /// Chunks alternate between two different models (the seed's GAN + NOGAN).
    case split
    /// Every chunk on one model, several workers sharing it.
    case same
}

package struct ParallelOptions: Sendable {
    /// The most chunks (and workers) a generation may be split into.
    package static let maxChunks = 16

    package var assignment: WorkerAssignment
    /// Forced number of chunks (nil: smart split).
    package var chunks: Int?
    /// Below this much speech the generation runs as one piece.
    package var minimumDuration: Double
    /// Workers in `same` mode.
    package var workers: Int

    package init(assignment: WorkerAssignment = .same, chunks: Int? = nil, minimumDuration: Double = 10,
                workers: Int = 2) {
        self.assignment = assignment
        self.chunks = chunks
        self.minimumDuration = minimumDuration
        self.workers = workers
    }
}

/// One chunk as it was rendered: which worker and model, when (seconds from the start), how many frames.
package struct ChunkReport: Sendable, Codable, Equatable {
    package var index: Int
    package var worker: Int
    package var model: String
    package var firstFrame: Int
    package var frames: Int
    package var start: Double
    package var end: Double
}

package struct ParallelReport: Sendable, Codable, Equatable {
    package var assignment: WorkerAssignment
    package var chunks: [ChunkReport]
    /// Seconds spent planning the chunks.
    package var planning: Double
    /// Joining the segments and muxing the audio.
    package var concat: Double
    /// Set when the generation ran in one piece instead, with the reason.
    package var fallbackReason: String?
}

/// Parallel generation: the utterance's frames are split into chunks rendered at the same time by
/// several workers, each chunk encoded video-only with a keyframe at its first frame and the same
/// codec settings, then joined with ffmpeg's concat demuxer without re-encoding; the audio is muxed once.
package final class ParallelGenerator: Sendable {
    package let generator: Generator

    package init(generator: Generator) {
        self.generator = generator
    }

    /// - Parameter engines: the workers' engines: two (GAN, NOGAN) for `split`; one, shared by
    ///   `options.workers` workers, for `same`.
    package func generate(_ source: GenerationSource, avatar avatarFile: URL, engines: [any LipSyncEngine], output: URL,
                         options: GenerationOptions = GenerationOptions(), parallel: ParallelOptions = ParallelOptions(),
                         progress: ProgressHandler? = nil) async throws -> (GenerationResult, ParallelReport) {
        try options.validate()
        guard let firstEngine = engines.first else { throw GenerationError.invalidOptions("no engine to render with") }
        if let chunks = parallel.chunks, !(1...ParallelOptions.maxChunks).contains(chunks) {
            throw GenerationError.invalidOptions("chunks must be in 1...\(ParallelOptions.maxChunks), got \(chunks)")
        }
        guard (1...ParallelOptions.maxChunks).contains(parallel.workers) else {
            throw GenerationError.invalidOptions("workers must be in 1...\(ParallelOptions.maxChunks), got \(parallel.workers)")
        }
        if parallel.assignment == .split && engines.count < 2 {
            throw GenerationError.invalidOptions("split assignment needs two models (e.g. wav2lip and wav2lip_gan); use same")
        }
        let workers: [any LipSyncEngine] = parallel.assignment == .split
            ? engines : Array(repeating: firstEngine, count: max(1, parallel.workers))

        let total = Stopwatch()
        var timings = StageTimings()
        progress?(GenerationProgress(stage: "speech", framesDone: 0, framesTotal: 0))
        let audio = try await UtteranceAudio.make(source, fps: options.fps, synthesizer: generator.synthesizer, timings: &timings)

        let planClock = Stopwatch()
        let plan = ChunkPlan.make(frameCount: audio.frameCount, fps: options.fps, workers: workers.count,
                                  minimumDuration: parallel.minimumDuration, forcedChunks: parallel.chunks,
                                  inferenceBound: workers.allSatisfy(\.isInferenceBound))
        let planSeconds = planClock.seconds
        if !plan.isParallel {
            // One piece: exactly the regular generation, from the audio already prepared.
            let result = try await generator.render(audio, timings: timings, clock: total, avatar: avatarFile, workers: [firstEngine],
                                                    to: .file(output), options: options, progress: progress)
            let report = ParallelReport(assignment: parallel.assignment,
                                        chunks: [ChunkReport(index: 0, worker: 0, model: firstEngine.name, firstFrame: 0,
                                                             frames: result.frameCount, start: 0, end: result.timings.total)],
                                        planning: planSeconds, concat: 0, fallbackReason: plan.fallbackReason)
            return (result, report)
        }

        progress?(GenerationProgress(stage: "avatar", framesDone: 0, framesTotal: audio.frameCount))
        let (avatar, cached) = try await generator.prepareAvatar(avatarFile, settings: options.avatar, timings: &timings)

        let workDirectory = try ScratchSpace.makeFolder("lipsync-chunks")
        defer { try? FileManager.default.removeItem(at: workDirectory) }

        let counter = FrameCounter(total: audio.frameCount, progress: progress)
        let renderClock = Stopwatch()
        // Worker w renders chunks w, w + workers, w + 2 workers, ... one after another.
        let results = try await withThrowingTaskGroup(of: [(ChunkReport, FrameRenderer.Busy, URL)].self) { group in
            for (workerIndex, engine) in workers.enumerated() {
                let mine = stride(from: workerIndex, to: plan.chunks.count, by: workers.count).map { $0 }
                group.addTask {
                    var done: [(ChunkReport, FrameRenderer.Busy, URL)] = []
                    for chunkIndex in mine {
                        let range = plan.chunks[chunkIndex]
                        let segment = workDirectory.appendingPathComponent(String(format: "chunk-%03d.mp4", chunkIndex))
                        let began = renderClock.seconds
                        let encoder = try VideoEncoder(output: segment, width: avatar.width, height: avatar.height, fps: options.fps,
                                                       audio: nil, settings: options.encoder, keyframeOnlyAtStart: true)
                        let renderer = FrameRenderer(avatar: avatar, windows: audio.windows, cues: audio.cues, engine: engine,
                                                     compositor: Compositor(paste: options.paste), reuseSilence: options.reuseSilence)
                        let busy: FrameRenderer.Busy
                        do {
                            busy = try await renderer.render(range) { _, frame in
                                try await encoder.append(frame)
                                await counter.add(1)
                            }
                        } catch {
                            encoder.cancel()
                            throw error
                        }
                        let finish = Stopwatch()
                        _ = try await encoder.finish()
                        var total = busy
                        total.sink += finish.seconds
                        done.append((ChunkReport(index: chunkIndex, worker: workerIndex, model: engine.name, firstFrame: range.lowerBound,
                                                 frames: range.count, start: began, end: renderClock.seconds), total, segment))
                    }
                    return done
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }.sorted { $0.0.index < $1.0.index }
        }

        progress?(GenerationProgress(stage: "concat", framesDone: audio.frameCount, framesTotal: audio.frameCount))
        let concatClock = Stopwatch()
        try await Self.concatenate(results.map(\.2), audio: audio.muxFile, output: output, directory: workDirectory,
                             audioBitrate: options.encoder.audioBitrate)
        let concatSeconds = concatClock.seconds

        var inferred = 0, reused = 0
        for (_, busy, _) in results {
            timings.inference += busy.inference
            timings.compositing += busy.compositing
            timings.encoding += busy.sink
            inferred += busy.inferred
            reused += busy.reused
        }
        timings.total = total.seconds
        progress?(GenerationProgress(stage: "done", framesDone: audio.frameCount, framesTotal: audio.frameCount))
        let models = Set(workers.map(\.name)).sorted().joined(separator: "+")
        let result = GenerationResult(output: output, frameCount: audio.frameCount, fps: options.fps, audioDuration: audio.duration,
                                      engine: models, precision: workers.first?.precision, avatarCached: cached, timings: timings, cues: audio.cues,
                                      framesInferred: inferred, framesReused: reused)
        let report = ParallelReport(assignment: parallel.assignment, chunks: results.map(\.0), planning: planSeconds,
                                    concat: concatSeconds, fallbackReason: nil)
        return (result, report)
    }

    /// Joins video-only segments with the concat demuxer (stream copy, no re-encoding) and muxes the audio once.
    static func concatenate(_ segments: [URL], audio: URL, output: URL, directory: URL, audioBitrate: String) async throws {
        let list = directory.appendingPathComponent("segments.txt")
        let lines = segments.map { "file '\($0.path.replacingOccurrences(of: "'", with: "'\\''"))'" }
        try (lines.joined(separator: "\n") + "\n").write(to: list, atomically: true, encoding: .utf8)
        try await FFmpeg.run("ffmpeg", ["-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", list.path, "-i", audio.path,
                                  "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", audioBitrate,
                                  "-movflags", "+faststart", output.path])
    }
}

/// Frames finished across all workers, for progress.
actor FrameCounter {
    let total: Int
    let progress: ProgressHandler?
    var done = 0

    init(total: Int, progress: ProgressHandler?) {
        self.total = total
        self.progress = progress
    }

    func add(_ count: Int) {
        done += count
        if done % 10 == 0 || done == total {
            progress?(GenerationProgress(stage: "rendering", framesDone: done, framesTotal: total))
        }
    }
}
