import AudioFeatures
import Foundation
import Media
import SpeechSynthesis

/// The audio side of one generation: the file muxed into the video, the per-frame mel windows, and
/// how many video frames the speech needs.
public struct UtteranceAudio: Sendable {
    /// The audio muxed into the MP4 (the speech at its own sample rate, or the user's file as given).
    public let muxFile: URL
    /// Keeps a temporary `muxFile` alive as long as this value.
    let temporary: TemporaryFile?
    public let duration: Double
    public let windows: MelFrameWindows
    public let frameCount: Int
    /// The phoneme/word timeline, when the audio was synthesized here.
    public let speech: SynthesizedSpeech?

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
            original = try FFmpeg.decodeAudio(url, sampleRate: LipSyncAudio.sampleRate)
            muxFile = url
        }
        guard original.duration > 0.05 else { throw AudioError.tooShort("\(original.duration) s of audio") }
        let prepared = try LipSyncAudio.prepare(original)
        let mel = try MelSpectrogram().compute(prepared.samples)
        let windows = MelFrameWindows(mel: mel, fps: fps)
        timings.audio = clock.seconds
        return UtteranceAudio(muxFile: muxFile, temporary: temporary, duration: original.duration, windows: windows,
                              frameCount: MelFrameWindows.videoFrameCount(duration: original.duration, fps: fps),
                              speech: speech)
    }
}
