import AudioFeatures
import Foundation
import Imaging
import Inference
import LipSync
import Media
@testable import Pipeline
import SpeechSynthesis
import Testing
import TestSupport

@Suite struct ChunkPlanTests {
    @Test func smartSplitUsesOneChunkPerWorkerOnceLongEnough() {
        let plan = ChunkPlan.make(frameCount: 500, fps: 25, workers: 2, minimumDuration: 10)
        #expect(plan.isParallel && plan.chunks == [0..<250, 250..<500])
        let three = ChunkPlan.make(frameCount: 301, fps: 25, workers: 3, minimumDuration: 10)
        #expect(three.chunks == [0..<100, 100..<200, 200..<301])
    }

    @Test func shortSpeechOrOneWorkerRunsAsOnePieceAndSaysWhy() {
        let short = ChunkPlan.make(frameCount: 200, fps: 25, workers: 2, minimumDuration: 10)
        #expect(!short.isParallel && short.chunks == [0..<200])
        #expect(short.fallbackReason?.contains("8.0 s") == true && short.fallbackReason?.contains("10 s") == true)
        let single = ChunkPlan.make(frameCount: 900, fps: 25, workers: 1, minimumDuration: 10)
        #expect(!single.isParallel && single.fallbackReason?.contains("one worker") == true)
    }

    @Test func enginesCheaperThanTheEncoderStayInOnePieceOnSmallMachines() {
        let plan = ChunkPlan.make(frameCount: 1500, fps: 25, workers: 2, minimumDuration: 10, inferenceBound: false, cores: 2)
        #expect(!plan.isParallel && plan.fallbackReason?.contains("video encoding") == true)
        #expect(ChunkPlan.make(frameCount: 1500, fps: 25, workers: 2, minimumDuration: 10, inferenceBound: false, cores: 16).isParallel)
        #expect(ChunkPlan.make(frameCount: 1500, fps: 25, workers: 2, minimumDuration: 10, inferenceBound: true, cores: 2).isParallel)
    }

    @Test func aForcedChunkCountWins() {
        let forced = ChunkPlan.make(frameCount: 100, fps: 25, workers: 2, minimumDuration: 10, forcedChunks: 4)
        #expect(forced.isParallel && forced.chunks.count == 4 && forced.chunks.map(\.count).reduce(0, +) == 100)
        #expect(!ChunkPlan.make(frameCount: 100, fps: 25, workers: 2, minimumDuration: 0, forcedChunks: 1).isParallel)
    }
}

@Suite(.serialized) struct ParallelGenerationTests {
    /// A recording (not text), so regular and parallel runs lip-sync exactly the same samples.
    static func recording(in dir: URL) async throws -> URL {
        let speech = try await EspeakSynthesizer().synthesize(SpeechRequest(
            text: "Добрый день! Параллельный режим делит кадры на части и склеивает их без перекодирования.", language: "ru"))
        let wav = dir.appendingPathComponent("speech.wav")
        try WAVFile.write(AudioBuffer(samples: speech.samples, sampleRate: speech.sampleRate), to: wav)
        return wav
    }

    static func keyframes(_ url: URL) throws -> [Int] {
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/ffprobe"),
                                           ["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=key_frame", "-of", "csv=p=0", url.path])
        return result.stdout.split(separator: "\n").enumerated().compactMap { $0.element.hasPrefix("1") ? $0.offset : nil }
    }

    @Test func sameModeMatchesRegularModeFrameForFrame() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let audio = try await Self.recording(in: dir)
        let generator = Generator(synthesizer: try EspeakSynthesizer(), avatars: try Fixtures.store(dir.appendingPathComponent("avatars")))
        let engine = try Fixtures.tinyEngine()
        let regularURL = dir.appendingPathComponent("regular.mp4"), parallelURL = dir.appendingPathComponent("parallel.mp4")
        let regular = try await generator.generate(.audioFile(audio), avatar: Fixtures.astronaut, engine: engine, output: regularURL)
        let (parallel, report) = try await ParallelGenerator(generator: generator).generate(
            .audioFile(audio), avatar: Fixtures.astronaut, engines: [engine], output: parallelURL,
            parallel: ParallelOptions(assignment: .same, chunks: 3, minimumDuration: 1, workers: 2))

        #expect(report.fallbackReason == nil && report.chunks.count == 3)
        #expect(Set(report.chunks.map(\.worker)) == [0, 1])
        #expect(parallel.frameCount == regular.frameCount)
        // Decodes without a single error.
        let decode = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/ffmpeg"), ["-v", "error", "-i", parallelURL.path, "-f", "null", "-"])
        #expect(decode.status == 0 && decode.stderr.isEmpty, "\(decode.stderr)")
        // Same duration and frame count as regular mode; one keyframe exactly at each chunk start.
        let duration = { (url: URL) in try Fixtures.ffprobe(["-show_entries", "format=duration", "-of", "csv=p=0", url.path]) }
        #expect(abs(Double(try duration(parallelURL))! - Double(try duration(regularURL))!) < 1.0 / 25)
        #expect(try Self.keyframes(parallelURL) == report.chunks.map(\.firstFrame))
        // The frames themselves: the same pictures up to encoder noise.
        let a = try Fixtures.frames(of: regularURL), b = try Fixtures.frames(of: parallelURL)
        #expect(a.count == b.count && a.count == regular.frameCount)
        var worst = 0.0
        for (x, y) in zip(a, b) {
            let total = zip(x.pixels, y.pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) }
            worst = max(worst, Double(total) / Double(x.pixels.count))
        }
        #expect(worst < 2, "largest mean difference between a regular and a parallel frame: \(worst)")
    }

    @Test func splitModeUsesBothModels() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let audio = try await Self.recording(in: dir)
        let generator = Generator(synthesizer: try EspeakSynthesizer(), avatars: try Fixtures.store(dir.appendingPathComponent("avatars")))
        let runtime = try Fixtures.runtime
        let nogan = try Wav2LipEngine(name: "wav2lip", model: try runtime.compile(Fixtures.tinyModel, options: CompileOptions(threads: 1, batchSize: 8)))
        let gan = try Wav2LipEngine(name: "wav2lip_gan", model: try runtime.compile(Fixtures.tinyModel, options: CompileOptions(threads: 1, batchSize: 8)))
        let (result, report) = try await ParallelGenerator(generator: generator).generate(
            .audioFile(audio), avatar: Fixtures.astronaut, engines: [nogan, gan], output: dir.appendingPathComponent("split.mp4"),
            parallel: ParallelOptions(assignment: .split, minimumDuration: 1))
        #expect(report.chunks.map(\.model) == ["wav2lip", "wav2lip_gan"])
        #expect(result.engine == "wav2lip+wav2lip_gan")
        // Both ran at the same time: their time spans overlap.
        let first = report.chunks[0], second = report.chunks[1]
        #expect(first.start < second.end && second.start < first.end)
        #expect(report.concat > 0 && first.frames + second.frames == result.frameCount)
    }

    @Test func shortSpeechFallsBackToRegularAndSaysSo() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let generator = Generator(synthesizer: try EspeakSynthesizer(), avatars: try Fixtures.store(dir.appendingPathComponent("avatars")))
        let (result, report) = try await ParallelGenerator(generator: generator).generate(
            .text(SpeechRequest(text: "Коротко.", language: "ru")), avatar: Fixtures.astronaut, engines: [VisemeEngine()],
            output: dir.appendingPathComponent("short.mp4"))
        #expect(report.fallbackReason != nil)
        #expect(report.chunks.count == 1 && result.frameCount > 0)
        await #expect(throws: GenerationError.self) {
            try await ParallelGenerator(generator: generator).generate(
                .text(SpeechRequest(text: "Коротко.", language: "ru")), avatar: Fixtures.astronaut, engines: [VisemeEngine()],
                output: dir.appendingPathComponent("x.mp4"), parallel: ParallelOptions(assignment: .split))
        }
    }
}

@Suite(.serialized) struct SilenceReuseTests {
    /// Skipping is safe: with reuse on, every frame is bit-identical to the run that infers them all.
    @Test func reusedSilentFramesAreExactlyWhatInferenceWouldGive() async throws {
        let speech = try await EspeakSynthesizer().synthesize(SpeechRequest(text: "Раз. Два.", language: "ru"))
        // Half a second of digital silence before and after the speech.
        let padding = [Float](repeating: 0, count: speech.sampleRate / 2)
        let prepared = try LipSyncAudio.prepare(AudioBuffer(samples: padding + speech.samples + padding, sampleRate: speech.sampleRate))
        let windows = MelFrameWindows(mel: try MelSpectrogram().compute(prepared.samples), fps: 25)
        let frameCount = MelFrameWindows.videoFrameCount(duration: prepared.duration, fps: 25)
        let cues = SpeechCues.analyse(samples: prepared.samples, sampleRate: 16_000, fps: 25, frameCount: frameCount, phonemes: nil)
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (avatar, _) = try Fixtures.store(dir).prepare(Fixtures.astronaut)
        let engine = try Fixtures.tinyEngine(batch: 4)

        var runs: [[RGBImage]] = []
        var counts: [(Int, Int)] = []
        for reuse in [false, true] {
            let renderer = FrameRenderer(avatar: avatar, windows: windows, cues: cues, engine: engine, reuseSilence: reuse)
            let collected = FrameCollector()
            let busy = try await renderer.render(0..<frameCount) { index, frame in await collected.add(index, frame) }
            runs.append(await collected.frames.map(\.1))
            counts.append((busy.inferred, busy.reused))
        }
        #expect(counts[0] == (frameCount, 0))
        #expect(counts[1].1 >= 20, "at least the padding's frames reuse a patch: \(counts[1])")
        #expect(counts[1].0 + counts[1].1 == frameCount)
        #expect(runs[0].count == frameCount && runs[1].count == frameCount)
        for index in 0..<frameCount { #expect(runs[0][index] == runs[1][index], "frame \(index)") }
        // The reused frames really show a rendered patch (not the untouched avatar).
        #expect(runs[1][2] != avatar.frame(0))
    }
}
