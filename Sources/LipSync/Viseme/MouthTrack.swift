import Foundation

/// The mouth pose of one video frame.
package struct MouthShape: Sendable, Equatable {
    /// Jaw opening: 0 is the avatar's rest pose (lips as in the picture), 1 is wide open.
    package var open: Double
    /// Lip width relative to rest: below 1 rounds the lips (o, u), above 1 spreads them (i).
    package var width: Double

    package static let rest = MouthShape(open: 0, width: 1)
}

/// Mouth shapes (visemes) of speech sounds, from espeak-ng's IPA phoneme names.
package enum Viseme: Sendable, Equatable, CaseIterable {
    case rest, bilabial, labiodental, consonant, sibilant, openVowel, midVowel, spreadVowel, roundedVowel

    package var shape: MouthShape {
        switch self {
        case .rest, .bilabial: return MouthShape(open: 0, width: 1)
        case .labiodental: return MouthShape(open: 0.12, width: 1)
        case .consonant: return MouthShape(open: 0.3, width: 1)
        case .sibilant: return MouthShape(open: 0.15, width: 1.06)
        case .openVowel: return MouthShape(open: 1, width: 1)
        case .midVowel: return MouthShape(open: 0.62, width: 1.04)
        case .spreadVowel: return MouthShape(open: 0.35, width: 1.06)
        case .roundedVowel: return MouthShape(open: 0.55, width: 0.88)
        }
    }

    /// Classifies an IPA phoneme by its first letter (length and stress marks ignored).
    package static func of(_ phoneme: String) -> Viseme {
        let letters = phoneme.unicodeScalars.filter { !"ˈˌːˑ'\u{2C8}\u{2CC}\u{2D0}_".unicodeScalars.contains($0) }
        guard let first = letters.first else { return .rest }
        let text = String(String.UnicodeScalarView(letters))
        if text.hasPrefix("tʃ") || text.hasPrefix("dʒ") || text.hasPrefix("ts") || text.hasPrefix("tɕ") { return .sibilant }
        switch first {
        case "p", "b", "m", "ɸ", "β": return .bilabial
        case "f", "v", "ʋ": return .labiodental
        case "s", "z", "ʃ", "ʒ", "ɕ", "ʑ", "ʂ", "ʐ", "θ", "ð": return .sibilant
        case "a", "ɑ", "æ", "ɐ", "ʌ", "ä", "ɒ", "ɶ": return .openVowel
        case "e", "ɛ", "ə", "ɜ", "ɘ", "ɤ", "ɚ", "ɝ": return .midVowel
        case "i", "ɪ", "ɨ", "ɯ", "j", "ʲ": return .spreadVowel
        case "o", "ɔ", "u", "ʊ", "ɵ", "ø", "œ", "y", "ʏ", "w", "ʉ": return .roundedVowel
        default: return .consonant
        }
    }
}

/// Mouth shapes for every video frame of an utterance, with coarticulation: targets per phoneme are
/// smoothed over ~30 ms (no flapping on short sounds), sampled 10 ms ahead (the mouth moves before the
/// sound is heard), closed on p/b/m and gated by loudness so silences stay closed.
package struct MouthTrack: Sendable {
    package let shapes: [MouthShape]

    package static let step = 0.005
    package static let smoothing = 0.032
    package static let anticipation = 0.01

    /// What a track is computed from: the measurements of `SpeechCues`, before the cues object exists
    /// (the cues compute their track when they are made).
    struct Source {
        var fps: Double
        var duration: Double
        var phonemes: [SpeechCues.Phoneme]?
        var loudness: [Float]
        var brightness: [Float]
    }

    package init(cues: SpeechCues) {
        self.init(Source(fps: cues.fps, duration: cues.duration, phonemes: cues.phonemes, loudness: cues.loudness,
                         brightness: cues.brightness))
    }

    init(_ cues: Source) {
        let frameCount = cues.loudness.count
        if let phonemes = cues.phonemes, !phonemes.isEmpty {
            shapes = Self.fromPhonemes(phonemes, cues: cues, frameCount: frameCount)
        } else {
            shapes = Self.fromAudio(cues, frameCount: frameCount)
        }
    }

    static func frameTime(_ frame: Int, fps: Double) -> Double { (Double(frame) + 0.5) / fps }

    private static func fromPhonemes(_ phonemes: [SpeechCues.Phoneme], cues: Source, frameCount: Int) -> [MouthShape] {
        // Piecewise-constant targets on a fine grid, then a Gaussian blur.
        let length = Int((max(cues.duration, Double(frameCount) / cues.fps) + 0.5) / step) + 1
        var open = [Double](repeating: 0, count: length), width = [Double](repeating: 1, count: length)
        for phoneme in phonemes {
            let shape = Viseme.of(phoneme.name).shape
            let lower = max(0, Int(phoneme.start / step)), upper = min(length, Int(phoneme.end / step))
            guard lower < upper else { continue }
            for index in lower..<upper {
                open[index] = shape.open
                width[index] = shape.width
            }
        }
        open = gaussianBlur(open, sigma: smoothing / step)
        width = gaussianBlur(width, sigma: smoothing / step)

        var shapes = gate((0..<frameCount).map { frame -> MouthShape in
            let index = min(length - 1, Int((frameTime(frame, fps: cues.fps) + anticipation) / step))
            return MouthShape(open: open[index], width: width[index])
        }, cues: cues)
        // Lips meet on p/b/m: every frame inside one, or the frame nearest a short one, is closed.
        for phoneme in phonemes where Viseme.of(phoneme.name) == .bilabial {
            let middle = (phoneme.start + phoneme.end) / 2
            let nearest = min(frameCount - 1, max(0, Int((middle * cues.fps).rounded(.down))))
            shapes[nearest].open = 0
            for frame in 0..<frameCount {
                let time = frameTime(frame, fps: cues.fps)
                if time >= phoneme.start && time < phoneme.end { shapes[frame].open = 0 }
            }
        }
        return shapes
    }

    private static func fromAudio(_ cues: Source, frameCount: Int) -> [MouthShape] {
        let open = gaussianBlur(cues.loudness.map { smoothstep(0.08, 0.9, Double($0)) }, sigma: 1)
        let width = gaussianBlur(cues.brightness.map { 0.85 + 0.3 * Double($0) }, sigma: 1)
        return gate((0..<frameCount).map { MouthShape(open: open[$0], width: width[$0]) }, cues: cues)
    }

    /// Closes the mouth where the audio is quiet (pauses, silences of any length), and lets loudness set
    /// half of the opening: speakers open the jaw wider on loud syllables, whatever the vowel.
    private static func gate(_ shapes: [MouthShape], cues: Source) -> [MouthShape] {
        shapes.enumerated().map { frame, shape in
            let loudness = Double(cues.loudness[min(frame, cues.loudness.count - 1)])
            let gate = smoothstep(0.05, 0.3, loudness)
            let open = gate * (0.5 * shape.open + 0.5 * smoothstep(0.05, 1, loudness))
            return MouthShape(open: max(0, min(1, open)), width: 1 + (shape.width - 1) * gate)
        }
    }

    static func gaussianBlur(_ values: [Double], sigma: Double) -> [Double] {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        let kernel = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = kernel.reduce(0, +)
        return values.indices.map { index in
            var sum = 0.0
            for (offset, weight) in zip(-radius...radius, kernel) {
                sum += values[min(values.count - 1, max(0, index + offset))] * weight
            }
            return sum / total
        }
    }
}

func smoothstep(_ edge0: Double, _ edge1: Double, _ x: Double) -> Double {
    let t = max(0, min(1, (x - edge0) / (edge1 - edge0)))
    return t * t * (3 - 2 * t)
}
