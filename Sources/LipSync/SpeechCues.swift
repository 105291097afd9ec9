/// What is said when, per utterance: the phonemes with their times (when the speech was synthesized
/// here) and, for every video frame, the loudness and brightness of the audio. Engines that animate
/// from phonemes (the viseme engine) read it; Wav2Lip works from the mel and ignores it.
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
    /// RMS per video frame, scaled so that loud speech (the 95th percentile) is 1.
    package let loudness: [Float]
    /// Zero-crossing rate per video frame in [0, 1]: high for hiss and spread vowels, low for rounded ones.
    package let brightness: [Float]
    /// The mouth shape of every frame, computed with the cues: engines read it and keep no state of
    /// their own per utterance.
    package let mouth: MouthTrack

    package init(fps: Double, duration: Double, phonemes: [Phoneme]?, loudness: [Float], brightness: [Float]) {
        self.fps = fps
        self.duration = duration
        self.phonemes = phonemes
        self.loudness = loudness
        self.brightness = brightness
        mouth = MouthTrack(MouthTrack.Source(fps: fps, duration: duration, phonemes: phonemes, loudness: loudness,
                                             brightness: brightness))
    }

    /// Measures loudness and brightness of mono `samples` over windows centred on each video frame.
    package static func analyse(samples: [Float], sampleRate: Int, fps: Double, frameCount: Int,
                               phonemes: [Phoneme]?) -> SpeechCues {
        let window = Int(Double(sampleRate) / fps)
        var rms = [Float](repeating: 0, count: frameCount)
        var crossings = [Float](repeating: 0, count: frameCount)
        for frame in 0..<frameCount {
            let centre = Int((Double(frame) + 0.5) / fps * Double(sampleRate))
            let lower = max(0, centre - window / 2), upper = min(samples.count, centre + window / 2)
            guard upper - lower > 1 else { continue }
            var energy: Float = 0, zeroCrossings = 0
            for index in lower..<upper {
                energy += samples[index] * samples[index]
                if index > lower && (samples[index] >= 0) != (samples[index - 1] >= 0) { zeroCrossings += 1 }
            }
            rms[frame] = (energy / Float(upper - lower)).squareRoot()
            crossings[frame] = Float(zeroCrossings) / Float(upper - lower - 1)
        }
        let reference = max(1e-4, rms.sorted()[min(rms.count - 1, Int(Double(rms.count) * 0.95))])
        return SpeechCues(fps: fps, duration: Double(samples.count) / Double(sampleRate), phonemes: phonemes,
                          loudness: rms.map { min(1.5, $0 / reference) },
                          brightness: crossings.map { min(1, $0 * 4) })
    }
}
