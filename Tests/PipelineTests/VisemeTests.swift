import AudioFeatures
import Avatar
import Foundation
import Imaging
import LipSync
import Media
import Pipeline
import SpeechSynthesis
import Testing
import TestSupport

/// The viseme engine, judged on the generated video: the face-landmark model measures the mouth in
/// the output frames.
@Suite(.serialized) struct VisemeTests {
    static func pearson(_ a: [Double], _ b: [Double]) -> Double {
        let ma = a.reduce(0, +) / Double(a.count), mb = b.reduce(0, +) / Double(b.count)
        var cov = 0.0, va = 0.0, vb = 0.0
        for (x, y) in zip(a, b) { cov += (x - ma) * (y - mb); va += (x - ma) * (x - ma); vb += (y - mb) * (y - mb) }
        return cov / max(1e-12, (va * vb).squareRoot())
    }

    /// Inner-lip opening: the mean gap of five facing points of the inner lip contour (13-14 in the
    /// middle, two pairs on each side), which halves the landmark model's jitter compared with 13-14 alone.
    static func innerLipOpening(_ points: [Point]) -> Double {
        let pairs = [(13, 14), (82, 87), (312, 317), (81, 178), (311, 402)]
        return pairs.map { points[$0.0].distance(to: points[$0.1]) }.reduce(0, +) / Double(pairs.count)
    }

    @Test(arguments: [
        ("ru", "Папа купил маме букет. Мы были в парке, потом пошли домой. Было тепло."),
        ("en", "Bob bought a map. We met at the bank, then walked home. It was warm."),
    ])
    func mouthFollowsTheSpeechInTheVideo(language: String, text: String) async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Fixtures.store(dir.appendingPathComponent("avatars"))
        let generator = Generator(synthesizer: try EspeakSynthesizer(), avatars: store)
        let output = dir.appendingPathComponent("viseme.mp4")
        // A calm pace, so the sentence pauses last 300 ms or more.
        let result = try await generator.generate(.text(SpeechRequest(text: text, language: language, wordsPerMinute: 130)),
                                                  avatar: Fixtures.astronaut, engine: VisemeEngine(), output: output)
        #expect(result.engine == "viseme")

        // The mouth opening (inner lips) measured by the landmark model in every output frame.
        let (avatar, _) = try store.prepare(Fixtures.astronaut)
        let rest = try #require(try store.analyseFrame(avatar.frame(0)))
        let restOpening = Self.innerLipOpening(rest.landmarks)
        var openings: [Double] = []
        var outsideDifference = 0
        let box = try #require(avatar.face(0)).box
        let original = avatar.frame(0)
        try FFmpeg.forEachFrame(output) { index, frame in
            let face = try #require(try store.analyseFrame(frame))
            openings.append(Self.innerLipOpening(face.landmarks) - restOpening)
            // Above the box and beside it the frame is the avatar (up to H.264 noise).
            if index % 10 == 0 {
                for y in stride(from: 0, to: box.y - 4, by: 3) {
                    for x in stride(from: 0, to: frame.width, by: 3) {
                        let a = frame[x, y], b = original[x, y]
                        outsideDifference = max(outsideDifference, abs(Int(a.1) - Int(b.1)))
                    }
                }
            }
        }
        #expect(openings.count == result.frameCount)
        #expect(outsideDifference < 24, "largest green difference above the face box")
        // The landmark model's response saturates at a few pixels on this smiling avatar; it must still
        // clearly exceed its own jitter (about 1 px).
        #expect(openings.max()! > 2, "the mouth opens visibly: \(openings.max()!) px")

        // (a) Opening follows loudness.
        let loudness = result.cues.loudness.map(Double.init)
        let correlation = Self.pearson(openings, loudness)
        print("viseme \(language): correlation of the measured mouth opening with the RMS envelope \(String(format: "%.3f", correlation)), largest opening \(String(format: "%.1f", openings.max()!)) px")
        #expect(correlation >= 0.5, "correlation with the RMS envelope: \(correlation)")

        // (b) Closed (back at rest) through every silence of 300 ms or more.
        let quiet = loudness.map { $0 < 0.02 }
        var silences: [Range<Int>] = []
        var start: Int?
        for (index, isQuiet) in (quiet + [false]).enumerated() {
            if isQuiet, start == nil { start = index }
            if !isQuiet, let begin = start {
                if Double(index - begin) / result.fps >= 0.3 { silences.append(begin..<index) }
                start = nil
            }
        }
        #expect(!silences.isEmpty, "the text has pauses to check")
        for silence in silences {
            let inner = (silence.lowerBound + 1)..<max(silence.lowerBound + 1, silence.upperBound - 1)
            for frame in inner { #expect(openings[frame] < 2.5, "frame \(frame) in a silence opens \(openings[frame]) px") }
        }

        // (c) Closed at p/b/m.
        let bilabials = (result.cues.phonemes ?? []).filter { Viseme.of($0.name) == .bilabial }
        #expect(bilabials.count >= 4)
        for phoneme in bilabials {
            let frame = min(openings.count - 1, Int(((phoneme.start + phoneme.end) / 2 * result.fps).rounded(.down)))
            #expect(openings[frame] < 2.5, "'\(phoneme.name)' at \(phoneme.start) s: frame \(frame) opens \(openings[frame]) px")
        }
    }

    @Test func recordingsWithoutATimelineAnimateFromTheAudio() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let speech = try await EspeakSynthesizer().synthesize(SpeechRequest(text: "Hello. This is a recording.", language: "en"))
        let wav = dir.appendingPathComponent("in.wav")
        try WAVFile.write(AudioBuffer(samples: speech.samples, sampleRate: speech.sampleRate), to: wav)
        let cues = SpeechCues.analyse(samples: try LipSyncAudio.prepare(AudioBuffer(samples: speech.samples, sampleRate: speech.sampleRate)).samples,
                                      sampleRate: 16_000, fps: 25, frameCount: 60, phonemes: nil)
        let track = MouthTrack(cues: cues)
        #expect(track.shapes.count == 60)
        #expect(track.shapes.contains { $0.open > 0.5 })
        #expect(Self.pearson(track.shapes.map(\.open), cues.loudness.map(Double.init)) > 0.7)
        let generator = Generator(synthesizer: try EspeakSynthesizer(), avatars: try Fixtures.store(dir.appendingPathComponent("a")))
        let result = try await generator.generate(.audioFile(wav), avatar: Fixtures.astronaut, engine: VisemeEngine(),
                                                  output: dir.appendingPathComponent("out.mp4"))
        #expect(result.cues.phonemes == nil && result.frameCount > 0)
    }

    @Test func visemeClassesOfCommonPhonemes() {
        #expect(["p", "b", "m", "mʲ", "bː"].allSatisfy { Viseme.of($0) == .bilabial })
        #expect(Viseme.of("f") == .labiodental && Viseme.of("a") == .openVowel && Viseme.of("ˈa") == .openVowel)
        #expect(Viseme.of("u") == .roundedVowel && Viseme.of("i") == .spreadVowel && Viseme.of("tʃ") == .sibilant)
        #expect(Viseme.of("") == .rest)
        #expect(Viseme.roundedVowel.shape.width < 1 && Viseme.spreadVowel.shape.width > 1)
    }
}
