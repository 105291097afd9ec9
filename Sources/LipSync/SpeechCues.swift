import AudioFeatures

/// What is said when, per utterance: the phonemes with their times (when the speech was synthesized
/// here) and, for every video frame, the loudness (overall and in the speech band) and brightness of
/// the audio. Engines that animate from phonemes (the viseme engine) read it; Wav2Lip works from the
/// mel and ignores it.
package final class SpeechCues: Sendable {
    package struct Phoneme: Sendable, Equatable {
        /// IPA name as espeak-ng reports it (`p`, `a`, `tʃ`, ...).
        package var name: String
        package var start: Double
        package var end: Double

        package init(name: String, start: Double, end: Double) {
            self.name = name
            self.start = start
            self.end = end
        }
    }

    package let fps: Double
    package let duration: Double
    /// nil when the audio came from a recording (no timeline).
    package let phonemes: [Phoneme]?
    /// RMS per video frame, scaled so that loud speech (the 95th percentile) is 1: whether anything is
    /// heard.
    package let loudness: [Float]
    /// The same for the speech band (`SpeechBand.lips`, 800-3000 Hz): how far the mouth is open. An open
    /// vowel's first formant lies in it, a close vowel's below it, and a closed mouth's nasal murmur
    /// (m, n) and voice bar (b, d) lie below it too, however loud they are.
    package let bandLoudness: [Float]
    /// Zero-crossing rate per video frame in [0, 1]: high for hiss and spread vowels, low for rounded ones.
    package let brightness: [Float]
    /// The mouth shape of every frame, computed with the cues: engines read it and keep no state of
    /// their own per utterance.
    package let mouth: MouthTrack

    package init(fps: Double, duration: Double, phonemes: [Phoneme]?, loudness: [Float], bandLoudness: [Float],
                 brightness: [Float]) {
        self.fps = fps
        self.duration = duration
        self.phonemes = phonemes
        self.loudness = loudness
        self.bandLoudness = bandLoudness
        self.brightness = brightness
        mouth = MouthTrack(MouthTrack.Source(fps: fps, duration: duration, phonemes: phonemes, loudness: loudness,
                                             bandLoudness: bandLoudness, brightness: brightness))
    }

    /// Measures loudness, the speech band's loudness and brightness of mono `samples` over windows
    /// centred on each video frame.
    package static func analyse(samples: [Float], sampleRate: Int, fps: Double, frameCount: Int,
                               phonemes: [Phoneme]?) -> SpeechCues {
        let window = Int(Double(sampleRate) / fps)
        let band = SpeechBand.lips.filter(samples, sampleRate: sampleRate)
        var rms = [Float](repeating: 0, count: frameCount), bandRMS = rms, crossings = rms
        for frame in 0..<frameCount {
            let centre = Int((Double(frame) + 0.5) / fps * Double(sampleRate))
            let lower = max(0, centre - window / 2), upper = min(samples.count, centre + window / 2)
            guard upper - lower > 1 else { continue }
            var energy: Float = 0, bandEnergy: Float = 0, zeroCrossings = 0
            for index in lower..<upper {
                energy += samples[index] * samples[index]
                bandEnergy += band[index] * band[index]
                if index > lower && (samples[index] >= 0) != (samples[index - 1] >= 0) { zeroCrossings += 1 }
            }
            rms[frame] = (energy / Float(upper - lower)).squareRoot()
            bandRMS[frame] = (bandEnergy / Float(upper - lower)).squareRoot()
            crossings[frame] = Float(zeroCrossings) / Float(upper - lower - 1)
        }
        return SpeechCues(fps: fps, duration: Double(samples.count) / Double(sampleRate), phonemes: phonemes,
                          loudness: scaledToLoudSpeech(rms), bandLoudness: scaledToLoudSpeech(bandRMS),
                          brightness: crossings.map { min(1, $0 * 4) })
    }

    /// Scales per-frame levels so that loud speech (the 95th percentile) is 1, capped at 1.5.
    static func scaledToLoudSpeech(_ levels: [Float]) -> [Float] {
        guard !levels.isEmpty else { return [] }
        let reference = max(1e-4, levels.sorted()[min(levels.count - 1, Int(Double(levels.count) * 0.95))])
        return levels.map { min(1.5, $0 / reference) }
    }
}
