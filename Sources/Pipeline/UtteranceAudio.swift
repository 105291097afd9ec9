import AudioFeatures
import Foundation
import LipSync
import Media
import SpeechSynthesis

/// The audio side of one generation: the file muxed into the video, the per-frame mel windows, and
/// how many video frames the speech needs.
package struct UtteranceAudio: Sendable {
    /// The audio muxed into the MP4 (the speech at its own sample rate, or the user's file as given).
    package let muxFile: URL
    /// Keeps a temporary `muxFile` alive as long as this value.
    let temporary: TemporaryFile?
    package let duration: Double
    package let windows: MelFrameWindows
    package let frameCount: Int
    /// Phonemes, loudness and brightness per frame, for engines that animate from them.
    package let cues: SpeechCues

    /// Synthesizes (or decodes) the audio and computes its Wav2Lip features.
    static func make(_ source: GenerationSource, fps: Double, synthesizer: SpeechSynthesizer,
                     timings: inout StageTimings) async throws -> UtteranceAudio {
        var clock = Stopwatch()
        let original: AudioBuffer
        let muxFile: URL
        var temporary: TemporaryFile?
        var speech: SynthesizedSpeech?
        switch source {
        case .text(let request):
            let synthesized = try await synthesizer.synthesize(request)
            speech = synthesized
            original = AudioBuffer(samples: synthesized.samples, sampleRate: synthesized.sampleRate)
            timings.speech = clock.seconds
            clock = Stopwatch()
            let file = try TemporaryFile(suffix: ".wav")
            try WAVFile.write(original, to: file.url, format: .pcm16)
            temporary = file
            muxFile = file.url
        case .audioFile(let url):
            original = try await FFmpeg.decodeAudio(url, sampleRate: LipSyncAudio.sampleRate)
            muxFile = url
        }
        guard original.duration > 0.05 else { throw AudioError.tooShort("\(original.duration) s of audio") }
        try Task.checkCancellation()  // a client that left during synthesis costs nothing more
        let prepared = try LipSyncAudio.prepare(original)
        let mel = try MelSpectrogram().compute(prepared.samples)
        let windows = MelFrameWindows(mel: mel, fps: fps)
        let frameCount = MelFrameWindows.videoFrameCount(duration: original.duration, fps: fps)
        let cues = SpeechCues.analyse(samples: prepared.samples, sampleRate: prepared.sampleRate, fps: fps,
                                      frameCount: frameCount, phonemes: speech.map(Self.phonemes))
        timings.audio = clock.seconds
        try Task.checkCancellation()
        return UtteranceAudio(muxFile: muxFile, temporary: temporary, duration: original.duration, windows: windows,
                              frameCount: frameCount, cues: cues)
    }

    /// Phoneme intervals from the timeline: each lasts until the next event that moves the mouth.
    static func phonemes(_ speech: SynthesizedSpeech) -> [SpeechCues.Phoneme] {
        let rate = Double(speech.sampleRate)
        var result: [SpeechCues.Phoneme] = []
        for (index, event) in speech.timeline.enumerated() {
            guard case .phoneme(let name) = event.kind else { continue }
            let next = speech.timeline[(index + 1)...].first { event in
                if case .phoneme = event.kind { return true }
                if case .end = event.kind { return true }
                return false
            }
            let end = next?.sample ?? speech.samples.count
            result.append(SpeechCues.Phoneme(name: name, start: Double(event.sample) / rate, end: Double(end) / rate))
        }
        return result
    }
}
