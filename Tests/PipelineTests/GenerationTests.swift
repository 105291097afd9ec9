import AudioFeatures
import Avatar
import Compositing
import Foundation
import Imaging
import Inference
import LipSync
import Media
@testable import Pipeline
import SpeechSynthesis
import Testing
import TestSupport

enum Fixtures {
    static let assets = Repository.root.appendingPathComponent(".cache/assets")
    static let astronaut = assets.appendingPathComponent("astronaut.png")
    /// A closed-mouth portrait (scripts/setup.sh extracts it from matplotlib's wheel).
    static let closedMouth = assets.appendingPathComponent("grace_hopper.jpg")
    static let tinyModel = Repository.root.appendingPathComponent(".cache/models/wav2lip_tiny.onnx")
    static var runtime: InferenceRuntime { get throws { try InferenceRuntime.shared.get() } }

    static func tinyEngine(batch: Int = 8) throws -> Wav2LipEngine {
        try Wav2LipEngine(name: "wav2lip_tiny", model: try runtime.compile(tinyModel, options: CompileOptions(batchSize: batch)))
    }

    static func store(_ cache: URL) throws -> AvatarStore {
        AvatarStore(cacheDirectory: cache, assets: assets, runtime: try runtime)
    }

    /// A video avatar: a 400x400 window panning right over the astronaut, at 25 fps.
    static func panningClip(frames: Int, pixelsPerFrame: Int, to url: URL) throws {
        _ = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/ffmpeg"),
                                  ["-v", "error", "-loop", "1", "-i", astronaut.path, "-vf", "crop=400:400:40+\(pixelsPerFrame)*n:20,format=yuv420p",
                                   "-frames:v", "\(frames)", "-r", "25", url.path])
    }

    /// Decodes every frame of a video to RGB.
    static func frames(of url: URL) throws -> [RGBImage] {
        var frames: [RGBImage] = []
        try FFmpeg.forEachFrame(url) { _, frame in frames.append(frame) }
        return frames
    }

    static func ffprobe(_ arguments: [String]) throws -> String {
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/ffprobe"), ["-v", "error"] + arguments)
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

@Suite(.serialized) struct GenerationTests {
    @Test func russianTextBecomesAPlayableMP4WithTheAvatarUntouchedOutsideTheFace() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Fixtures.store(dir.appendingPathComponent("avatars"))
        let generator = Generator(synthesizer: try EspeakSynthesizer(), avatars: store)
        let output = dir.appendingPathComponent("out.mp4")
        let engine = try Fixtures.tinyEngine()

        let result = try await generator.generate(
            .text(SpeechRequest(text: "Добрый день! Это проверка: текст превращается в видео.", language: "ru")),
            avatar: Fixtures.astronaut, engine: engine, output: output)
        #expect(result.engine == "wav2lip_tiny")
        #expect(!result.avatarCached)

        // Container as a browser needs it.
        let video = try Fixtures.ffprobe(["-select_streams", "v:0", "-count_frames", "-show_entries",
                                          "stream=codec_name,pix_fmt,nb_read_frames,width,height", "-of", "csv=p=0", output.path])
        #expect(video == "h264,512,512,yuv420p,\(result.frameCount)")
        let audio = try Fixtures.ffprobe(["-select_streams", "a:0", "-show_entries", "stream=codec_name,duration", "-of", "csv=p=0", output.path])
        #expect(audio.hasPrefix("aac,"))
        // As many frames as the audio needs: its duration, within one frame.
        #expect(result.frameCount == MelFrameWindows.videoFrameCount(duration: result.audioDuration, fps: 25))
        #expect(abs(Double(result.frameCount) / 25 - result.audioDuration) < 1.0 / 25)
        let audioDuration = Double(audio.split(separator: ",")[1])!
        #expect(abs(audioDuration - result.audioDuration) < 0.05)
        // Faststart: the index (moov) comes before the media data.
        let head = try FileHandle(forReadingFrom: output).read(upToCount: 4096)!
        let moov = head.range(of: Data("moov".utf8)), mdat = head.range(of: Data("mdat".utf8))
        #expect(moov != nil && (mdat == nil || moov!.lowerBound < mdat!.lowerBound))

        // Outside the face box the decoded video is the avatar (up to H.264 noise); inside it changed.
        let (avatar, cached) = try store.prepare(Fixtures.astronaut)
        #expect(cached)
        let box = try #require(avatar.face(0)).box
        let original = avatar.frame(0)
        let frames = try Fixtures.frames(of: output)
        #expect(frames.count == result.frameCount)
        var outsideError = 0.0, outsideCount = 0.0, insideError = 0.0, insideCount = 0.0
        let frame = frames[frames.count / 2]
        for y in stride(from: 0, to: 512, by: 2) {
            for x in stride(from: 0, to: 512, by: 2) {
                let a = frame[x, y], b = original[x, y]
                let error = Double(abs(Int(a.0) - Int(b.0)) + abs(Int(a.1) - Int(b.1)) + abs(Int(a.2) - Int(b.2))) / 3
                if box.contains(x: x, y: y) { insideError += error; insideCount += 1 } else { outsideError += error; outsideCount += 1 }
            }
        }
        #expect(outsideError / outsideCount < 3, "mean difference outside the face box")
        #expect(insideError / insideCount > 10, "the mouth region was rendered")
        #expect(result.timings.total > 0 && result.timings.inference > 0 && result.timings.encoding > 0)
    }

    @Test func rawFramesAreBitIdenticalToTheAvatarOutsideTheBoxAndTheSecondRunSkipsAnalysis() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Fixtures.store(dir)
        let first = try store.prepare(Fixtures.astronaut)
        #expect(!first.cached)
        // A new store over the same folder (a new process) finds it on disk.
        let again = try Fixtures.store(dir).prepare(Fixtures.astronaut)
        #expect(again.cached && again.avatar.key == first.avatar.key)

        let avatar = first.avatar
        let speech = try await EspeakSynthesizer().synthesize(SpeechRequest(text: "Раз, два.", language: "ru"))
        let prepared = try LipSyncAudio.prepare(AudioBuffer(samples: speech.samples, sampleRate: speech.sampleRate))
        let windows = MelFrameWindows(mel: try MelSpectrogram().compute(prepared.samples), fps: 25)
        let cues = SpeechCues.analyse(samples: prepared.samples, sampleRate: prepared.sampleRate, fps: 25, frameCount: 10, phonemes: nil)
        let renderer = FrameRenderer(avatar: avatar, windows: windows, cues: cues, engine: try Fixtures.tinyEngine(batch: 4))
        let collected = FrameCollector()
        _ = try await renderer.render(0..<10) { index, frame in await collected.add(index, frame) }
        let frames = await collected.frames
        #expect(frames.map(\.0) == Array(0..<10))
        let box = try #require(avatar.face(0)).box
        let original = avatar.frame(0)
        for (_, frame) in frames {
            var identical = true
            for y in 0..<avatar.height where identical {
                for x in 0..<avatar.width where !box.contains(x: x, y: y) && frame[x, y] != original[x, y] {
                    identical = false
                    break
                }
            }
            #expect(identical)
        }
    }

    @Test func aRecordingCanBeLipSyncedInsteadOfText() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let speech = try await EspeakSynthesizer().synthesize(SpeechRequest(text: "Hello from a recording.", language: "en"))
        let wav = dir.appendingPathComponent("in.wav"), mp3 = dir.appendingPathComponent("in.mp3")
        try WAVFile.write(AudioBuffer(samples: speech.samples, sampleRate: speech.sampleRate), to: wav)
        _ = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/ffmpeg"), ["-v", "error", "-i", wav.path, mp3.path])
        let generator = Generator(synthesizer: try EspeakSynthesizer(), avatars: try Fixtures.store(dir.appendingPathComponent("a")))
        let result = try await generator.generate(.audioFile(mp3), avatar: Fixtures.astronaut, engine: try Fixtures.tinyEngine(),
                                                  output: dir.appendingPathComponent("out.mp4"))
        #expect(abs(result.audioDuration - speech.duration) < 0.1)
        #expect(result.timings.speech == 0)
    }
}

actor FrameCollector {
    var frames: [(Int, RGBImage)] = []
    func add(_ index: Int, _ frame: RGBImage) { frames.append((index, frame)) }
}

@Suite struct AvatarTests {
    @Test func aPictureWithoutAFaceIsRefusedClearly() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let picture = dir.appendingPathComponent("landscape.png")
        _ = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/ffmpeg"),
                                  ["-v", "error", "-f", "lavfi", "-i", "gradients=s=320x240:seed=3", "-frames:v", "1", picture.path])
        #expect(throws: AvatarError.noFace("landscape.png")) { try Fixtures.store(dir).prepare(picture) }
        #expect(throws: MediaError.self) { try Fixtures.store(dir).prepare(dir.appendingPathComponent("missing.png")) }
    }

    @Test func oddSizedPicturesAreCroppedToEvenSizes() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let odd = dir.appendingPathComponent("odd.jpg")
        _ = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/ffmpeg"),
                                  ["-v", "error", "-i", Fixtures.astronaut.path, "-vf", "crop=301:275:100:20", odd.path])
        let (avatar, _) = try Fixtures.store(dir).prepare(odd)
        #expect(avatar.width == 300 && avatar.height == 274)
        let box = try #require(avatar.face(0)).box
        #expect(box.maxX <= 300 && box.maxY <= 274)
    }

    @Test func videoAvatarsAreAnalysedPerFrameAndLoopPingPong() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let video = dir.appendingPathComponent("avatar.mp4")
        try Fixtures.panningClip(frames: 12, pixelsPerFrame: 4, to: video)
        let (avatar, _) = try Fixtures.store(dir).prepare(video)
        #expect(avatar.frameCount == 12 && !avatar.isStill && avatar.metadata.fps == 25)
        let boxes = avatar.metadata.faces.map { $0?.box }
        #expect(boxes.allSatisfy { $0 != nil })
        // The face moves left as the crop pans right; smoothed boxes follow without jumps.
        let xs = boxes.map { $0!.x }
        #expect(xs.first! > xs.last!)
        #expect(zip(xs, xs.dropFirst()).allSatisfy { abs($0 - $1) <= 8 })
        #expect((0..<26).map(avatar.sourceFrame(forOutputFrame:)) == Array(0..<12) + Array((0..<11).reversed()) + [1, 2, 3])
    }

    @Test func compositorMaskIsFeatheredAndZeroAtTheBoxEdges() {
        let mask = Compositor().mask(width: 100, height: 120)
        for x in 0..<100 { #expect(mask[x] == 0 && mask[119 * 100 + x] < 0.05) }
        for y in 0..<120 { #expect(mask[y * 100] < 0.05 && mask[y * 100 + 99] < 0.05) }
        #expect(mask[80 * 100 + 50] == 1)
        // No hard step: neighbours differ by a small amount everywhere.
        var steepest: Float = 0
        for y in 0..<120 { for x in 1..<100 { steepest = max(steepest, abs(mask[y * 100 + x] - mask[y * 100 + x - 1])) } }
        #expect(steepest < 0.2)
    }
}
