import Foundation

/// The mouth pose of one video frame: how far the jaw is open and what the lips do.
package struct MouthShape: Sendable, Equatable {
    /// Jaw opening: 0 is the avatar's rest pose (lips as in the picture), 1 is wide open.
    package var open: Double
    /// Lip width relative to rest: below 1 rounds the lips (o, u), above 1 spreads them (i).
    package var width: Double
    /// Lips pushed forward (0...1): thicker, and the opening shrinks to a small round one.
    package var round: Double
    /// Lips pressed together (0...1): they meet even where the picture shows a gap, and flatten.
    package var press: Double
    /// Lower lip tucked under the upper teeth (0...1), as in f and v.
    package var tuck: Double
    /// How much of the tongue shows in an open mouth (0...1).
    package var tongue: Double
    /// Lips brought together without pressing (0...1): a silent mouth. They meet where the picture shows
    /// a gap (a smile's teeth) and keep their thickness; on a closed-mouth picture nothing changes.
    package var shut: Double

    package init(open: Double, width: Double, round: Double = 0, press: Double = 0, tuck: Double = 0, tongue: Double = 0,
                 shut: Double = 0) {
        self.open = open
        self.width = width
        self.round = round
        self.press = press
        self.tuck = tuck
        self.tongue = tongue
        self.shut = shut
    }

    /// The picture itself.
    package static let rest = MouthShape(open: 0, width: 1)

    /// True when the pose is the picture itself.
    var isRest: Bool {
        open < 0.001 && abs(width - 1) < 0.001 && round < 0.001 && press < 0.001 && tuck < 0.001 && shut < 0.001
    }
}

/// Mouth shapes (visemes) of speech sounds, from espeak-ng's IPA phoneme names.
package enum Viseme: Sendable, Equatable, CaseIterable {
    case rest, bilabial, labiodental, consonant, sibilant, postalveolar, openVowel, midVowel, spreadVowel, roundedVowel

    package var shape: MouthShape {
        switch self {
        // Not speaking: the lips close, whatever the picture shows.
        case .rest: return MouthShape(open: 0, width: 1, shut: 1)
        case .bilabial: return MouthShape(open: 0, width: 0.98, press: 1)
        case .labiodental: return MouthShape(open: 0.1, width: 1, tuck: 1)
        case .consonant: return MouthShape(open: 0.3, width: 1, tongue: 0.4)
        case .sibilant: return MouthShape(open: 0.12, width: 1.05)
        // sh, zh, ch, j: teeth close, lips pushed forward.
        case .postalveolar: return MouthShape(open: 0.15, width: 0.92, round: 0.5)
        case .openVowel: return MouthShape(open: 1, width: 1, tongue: 0.8)
        case .midVowel: return MouthShape(open: 0.6, width: 1.12, tongue: 0.5)
        case .spreadVowel: return MouthShape(open: 0.3, width: 1.18, tongue: 0.5)
        case .roundedVowel: return MouthShape(open: 0.3, width: 0.72, round: 1, tongue: 0.2)
        }
    }

    /// The letters of an IPA phoneme, without stress and length marks (or a pause's underscore).
    static func letters(_ phoneme: String) -> String.UnicodeScalarView {
        String.UnicodeScalarView(phoneme.unicodeScalars.filter { !"ˈˌːˑ'_".unicodeScalars.contains($0) })
    }

    /// Classifies an IPA phoneme by its first letter (length and stress marks ignored).
    package static func of(_ phoneme: String) -> Viseme {
        let letters = letters(phoneme)
        guard let first = letters.first else { return .rest }
        let text = String(letters)
        if text.hasPrefix("tʃ") || text.hasPrefix("dʒ") { return .postalveolar }
        if text.hasPrefix("ts") || text.hasPrefix("tɕ") { return .sibilant }
        switch first {
        case "p", "b", "m", "ɸ", "β": return .bilabial
        case "f", "v", "ʋ": return .labiodental
        case "ʃ", "ʒ", "ʂ", "ʐ": return .postalveolar
        case "s", "z", "ɕ", "ʑ", "θ", "ð": return .sibilant
        case "a", "ɑ", "æ", "ɐ", "ʌ", "ä", "ɒ", "ɶ": return .openVowel
        case "e", "ɛ", "ə", "ɜ", "ɘ", "ɤ", "ɚ", "ɝ": return .midVowel
        // espeak-ng names the Russian ы "y" (unrounded), so "y" counts as spread here.
        case "i", "ɪ", "ɨ", "ɯ", "j", "ʲ", "y": return .spreadVowel
        case "o", "ɔ", "u", "ʊ", "ɵ", "ø", "œ", "ʏ", "w", "ʉ": return .roundedVowel
        default: return .consonant
        }
    }
}

/// Mouth shapes for every video frame of an utterance, with coarticulation: targets per phoneme are
/// smoothed over ~30 ms (no flapping on short sounds), sampled 10 ms ahead (the mouth moves before the
/// sound is heard), closed on p/b/m and gated by loudness so silences stay closed. Lip rounding is
/// smoothed wider, starts earlier and lasts to the end of its vowel: speakers round their lips through
/// the consonants before an o or u, and let go only after it.
package struct MouthTrack: Sendable {
    package let shapes: [MouthShape]

    package static let step = 0.005
    package static let smoothing = 0.032
    package static let anticipation = 0.01
    static let roundingSmoothing = 0.05
    static let roundingAnticipation = 0.04

    /// What a track is computed from: the measurements of `SpeechCues`, before the cues object exists
    /// (the cues compute their track when they are made).
    struct Source {
        var fps: Double
        var duration: Double
        var phonemes: [SpeechCues.Phoneme]?
        var loudness: [Float]
        var bandLoudness: [Float]
        var brightness: [Float]
    }

    package init(cues: SpeechCues) {
        self.init(Source(fps: cues.fps, duration: cues.duration, phonemes: cues.phonemes, loudness: cues.loudness,
                         bandLoudness: cues.bandLoudness, brightness: cues.brightness))
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

    /// How long before its marked start a bilabial stop may already hold the lips closed.
    static let stopHold = 0.06
    /// Below this loudness (1 = loud speech) a frame before a stop is its silent hold.
    static let holdLoudness: Float = 0.3

    static func isStop(_ phoneme: String) -> Bool {
        Viseme.letters(phoneme).first.map { $0 == "p" || $0 == "b" } ?? false
    }

    private static func fromPhonemes(_ phonemes: [SpeechCues.Phoneme], cues: Source, frameCount: Int) -> [MouthShape] {
        // Piecewise-constant targets per channel on a fine grid, then a Gaussian blur.
        let length = Int((max(cues.duration, Double(frameCount) / cues.fps) + 0.5) / step) + 1
        let rest = Viseme.rest.shape
        let channels: [WritableKeyPath<MouthShape, Double>] = [\.open, \.width, \.round, \.press, \.tuck, \.tongue, \.shut]
        var targets = channels.map { [Double](repeating: rest[keyPath: $0], count: length) }
        for phoneme in phonemes {
            let shape = Viseme.of(phoneme.name).shape
            let lower = max(0, Int(phoneme.start / step)), upper = min(length, Int(phoneme.end / step))
            guard lower < upper else { continue }
            for (channel, path) in channels.enumerated() {
                for index in lower..<upper { targets[channel][index] = shape[keyPath: path] }
            }
        }
        for (channel, path) in channels.enumerated() {
            targets[channel] = gaussianBlur(targets[channel], sigma: (path == \.round ? roundingSmoothing : smoothing) / step)
        }

        var shapes = gate((0..<frameCount).map { frame -> MouthShape in
            var shape = MouthShape.rest
            let time = frameTime(frame, fps: cues.fps)
            func target(_ channel: Int, at time: Double) -> Double { targets[channel][min(length - 1, Int(time / step))] }
            for (channel, path) in channels.enumerated() {
                if path == \.round {
                    // Rounding starts early and lasts to the end of its vowel.
                    shape.round = max(target(channel, at: time + roundingAnticipation), target(channel, at: time))
                } else {
                    shape[keyPath: path] = target(channel, at: time + anticipation)
                }
            }
            return shape
        }, cues: cues)
        // Lips meet on p/b/m: every frame inside one, or the frame nearest a short one, is closed and pressed.
        // A stop (p, b) holds its closure before the release, and synthesizers differ in where they put
        // the hold (espeak-ng marks a p at its burst, the silence before it belonging to the sound before):
        // up to `stopHold` before its marked start (never before the phoneme before starts), frames where
        // the audio is already quiet are the hold too. A loud frame there is still the vowel before. The
        // lips part `anticipation` before the next sound is heard, like every other movement of the track.
        for (index, phoneme) in phonemes.enumerated() where Viseme.of(phoneme.name) == .bilabial {
            var hold = phoneme.start
            if Self.isStop(phoneme.name) {
                let previous = index > 0 ? phonemes[index - 1].start : 0
                hold = max(phoneme.start - Self.stopHold, min(phoneme.start, previous))
            }
            let middle = (phoneme.start + phoneme.end) / 2
            let nearest = min(frameCount - 1, max(0, Int((middle * cues.fps).rounded(.down))))
            var closed = [nearest]
            for frame in 0..<frameCount {
                let time = frameTime(frame, fps: cues.fps)
                let quiet = cues.loudness[min(frame, cues.loudness.count - 1)] < Self.holdLoudness
                if (time >= phoneme.start || (time >= hold && quiet)) && time + Self.anticipation < phoneme.end { closed.append(frame) }
            }
            for frame in closed {
                shapes[frame].open = 0
                shapes[frame].press = max(shapes[frame].press, 0.8)
                shapes[frame].tuck = 0
            }
        }
        return shapes
    }

    private static func fromAudio(_ cues: Source, frameCount: Int) -> [MouthShape] {
        let open = gaussianBlur(cues.bandLoudness.map { smoothstep(0.08, 0.9, Double($0)) }, sigma: 1)
        let width = gaussianBlur(cues.brightness.map { 0.85 + 0.3 * Double($0) }, sigma: 1)
        // A dull sound is a rounded vowel only if some of it lies in the speech band; a murmur has none.
        let inBand = (0..<frameCount).map { frame in
            smoothstep(0.1, 0.3, Double(cues.bandLoudness[frame]) / max(1e-3, Double(cues.loudness[frame])))
        }
        return gate((0..<frameCount).map { frame in
            MouthShape(open: open[frame], width: width[frame], round: inBand[frame] * max(0, min(1, (1 - width[frame]) / 0.15)),
                       tongue: 0.5 * open[frame])
        }, cues: cues)
    }

    /// Closes the mouth where the audio is quiet (pauses, silences of any length), and lets the speech
    /// band's loudness set half of the opening: speakers open the jaw wider on loud syllables, and an
    /// open vowel (its first formant high) puts more of its sound in that band than a close one. Pressing
    /// and tucking the lips are not gated: the closure of a p or the friction of an f is quiet. Where
    /// there is no sound at all the lips also meet (`shut`), even when the timeline says a sound goes on.
    private static func gate(_ shapes: [MouthShape], cues: Source) -> [MouthShape] {
        shapes.enumerated().map { frame, shape in
            let loudness = Double(cues.loudness[min(frame, cues.loudness.count - 1)])
            // How open the jaw is, from the speech band; rounded lips lower the formants out of it, so
            // for them the overall loudness counts instead.
            var band = Double(cues.bandLoudness[min(frame, cues.bandLoudness.count - 1)])
            band += (loudness - band) * shape.round
            let gate = smoothstep(0.05, 0.3, loudness)
            // Pursed lips part less however loud the vowel: the jaw of an o or u stays high.
            let open = gate * (0.5 * shape.open + 0.5 * (1 - 0.4 * shape.round) * smoothstep(0.05, 1, band))
            return MouthShape(open: max(0, min(1, open)), width: 1 + (shape.width - 1) * gate, round: shape.round * gate,
                              press: shape.press, tuck: shape.tuck, tongue: shape.tongue * gate,
                              shut: max(shape.shut, 1 - smoothstep(0.02, 0.1, loudness)))
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
