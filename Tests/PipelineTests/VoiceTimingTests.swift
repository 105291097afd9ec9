import AudioFeatures
import Foundation
import LipSync
import Media
import Pipeline
import SpeechSynthesis
import Testing
import TestSupport

/// Every voice's timeline drives the viseme engine, so its times must match the audio: on a sentence
/// full of p and b, the lips must be closed within 40 ms of each stop's closure heard in the video's
/// audio (the quietest moment around the stop, where air is held behind the lips).
@Suite(.serialized) struct VoiceTimingTests {
    static let sentences = [
        ("en", "Bob and Pam bought a big pumpkin, a baby bib, a bumpy map and a paper pipe."),
        ("ru", "Папа и бабушка купили белую шапку, пять больших пирогов и пупса в попоне."),
    ]

    @Test(arguments: ["espeak/en", "piper/en_US-joe-medium", "festival/msu_ru_nsh_clunits", "espeak/ru"])
    func lipsCloseWhereTheAudioHoldsEachBilabialStop(voice: String) async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let catalog = try await VoiceCatalog.discover(piperFolders: [Repository.root.appendingPathComponent(".cache/voices")])
        let language = voice.hasSuffix("ru") || voice.contains("ru_") ? "ru" : "en"
        let text = Self.sentences.first { $0.0 == language }!.1
        let generator = Generator(synthesizer: catalog, avatars: try Fixtures.store(dir.appendingPathComponent("avatars")))
        let output = dir.appendingPathComponent("out.mp4")
        let result = try await generator.generate(.text(SpeechRequest(text: text, language: language, voice: voice)),
                                                  avatar: Fixtures.astronaut, engine: VisemeEngine(), output: output)
        let phonemes = try #require(result.cues.phonemes)
        let shapes = result.cues.mouth.shapes
        let fps = result.cues.fps
        let audio = try await FFmpeg.decodeAudio(output, sampleRate: 16_000)

        // Short-time energy above 1 kHz (10 ms windows every 2.5 ms): closed lips let almost nothing out
        // there, while a voiced b's hold still hums below it (and a vowel or an l does not go quiet).
        let rate = Double(audio.sampleRate), window = Int(rate * 0.01), hop = Int(rate * 0.0025)
        let high = Self.highPass(audio.samples, cutoff: 1_000, rate: rate)
        let energy = stride(from: 0, to: max(0, high.count - window), by: hop).map { start in
            high[start..<(start + window)].reduce(0) { $0 + $1 * $1 } / Float(window)
        }
        func time(_ index: Int) -> Double { (Double(index * hop) + Double(window) / 2) / rate }

        var offsets: [Double] = []
        for (index, phoneme) in phonemes.enumerated() where ["p", "b"].contains(phoneme.name.first.map(String.init) ?? "") {
            // Stops next to a pause or another stop have no closure of their own to hear: the silence is
            // the pause's, or runs into the other stop's hold (the p of "pumpkin").
            let neighbours = [index - 1, index + 1].filter(phonemes.indices.contains).map { phonemes[$0].name }
            guard !neighbours.contains(where: { Viseme.of($0) == .rest || Self.isStop($0) }) else { continue }
            // The hold comes before the release, which ends the stop: search from 50 ms before its marked
            // start (synthesizers differ in where they put the hold) to its end.
            let lower = max(0, Int((phoneme.start - 0.05) * rate) / hop), upper = min(energy.count, Int(phoneme.end * rate) / hop)
            guard lower < upper else { continue }
            let quietest = (lower..<upper).min { energy[$0] < energy[$1] }!
            let closure = time(quietest)
            let closed = shapes.indices.filter { shapes[$0].open < 0.05 && shapes[$0].press > 0.5 }
            let nearest = closed.map { abs((Double($0) + 0.5) / fps - closure) }.min() ?? .infinity
            offsets.append(nearest)
        }
        print("\(voice): \(offsets.count) stops, lips closed within \(offsets.map { String(format: "%.0f", $0 * 1000) }.joined(separator: " ")) ms of the audio's closure")
        #expect(offsets.count >= 5, "\(voice): enough stops to judge")
        #expect(offsets.allSatisfy { $0 <= 0.04 }, "\(voice): \(offsets)")
        // Not by keeping the lips shut: every closed, pressed frame belongs to a bilabial (from 80 ms before
        // its marked start to 40 ms after its end: the hold, one frame, the smoothing).
        let bilabials = phonemes.filter { Viseme.of($0.name) == .bilabial }
        for frame in shapes.indices where shapes[frame].open < 0.05 && shapes[frame].press > 0.5 {
            let time = (Double(frame) + 0.5) / fps
            #expect(bilabials.contains { time >= $0.start - 0.08 && time <= $0.end + 0.04 }, "\(voice): lips shut at \(time) s with no p, b or m")
        }
    }

    static func isStop(_ phoneme: String) -> Bool {
        ["p", "b", "t", "d", "k", "g", "c", "ɡ"].contains(phoneme.unicodeScalars.first.map(String.init) ?? "")
    }

    /// A second-order Butterworth high-pass filter (RBJ biquad).
    static func highPass(_ samples: [Float], cutoff: Double, rate: Double) -> [Float] {
        let q = 1 / 2.0.squareRoot()
        let w = 2 * Double.pi * cutoff / rate, alpha = sin(w) / (2 * q)
        let cosw = cos(w), a0 = 1 + alpha
        let b0 = (1 + cosw) / 2 / a0, b1 = -(1 + cosw) / a0, b2 = b0, a1 = -2 * cosw / a0, a2 = (1 - alpha) / a0
        var out = [Float](repeating: 0, count: samples.count)
        var x1 = 0.0, x2 = 0.0, y1 = 0.0, y2 = 0.0
        for (index, sample) in samples.enumerated() {
            let x = Double(sample)
            let y = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            (x2, x1, y2, y1) = (x1, x, y1, y)
            out[index] = Float(y)
        }
        return out
    }
}
