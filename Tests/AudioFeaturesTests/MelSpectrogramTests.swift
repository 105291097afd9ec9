import AudioFeatures
import Foundation
import SpeechSynthesis
import Testing
import TestSupport

/// The mel must equal what Wav2Lip's own Python code computes: checked against librosa run in the
/// project's virtual environment on the very same samples.
@Suite(.serialized) struct MelSpectrogramTests {
    /// Russian speech, prepared as the generator prepares it, plus librosa's mel of it.
    struct Fixture {
        var audio: AudioBuffer
        var reference: MelMatrix
    }

    static func fixture() async throws -> Fixture {
        let speech = try await EspeakSynthesizer().synthesize(SpeechRequest(text: SampleText.russian, language: "ru"))
        // Leading and trailing digital silence exercise the dither too.
        var samples = [Float](repeating: 0, count: 4_000) + speech.samples + [Float](repeating: 0, count: 4_000)
        samples = samples.map { $0 * 0.9 }
        let audio = try LipSyncAudio.prepare(AudioBuffer(samples: samples, sampleRate: speech.sampleRate))
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("speech.wav"), npy = dir.appendingPathComponent("reference.npy")
        try WAVFile.write(audio, to: wav, format: .float32)
        let result = try ProcessRunner.python([Repository.script("reference_mel.py").path, wav.path, npy.path])
        try #require(result.status == 0, "reference_mel.py failed: \(result.stderr)")
        let reference = try NPYFile.read(npy)
        try #require(reference.shape.count == 2)
        return Fixture(audio: audio, reference: MelMatrix(bands: reference.shape[0], frames: reference.shape[1], values: reference.values))
    }

    static func maxDifference(_ a: MelMatrix, _ b: MelMatrix) -> Float {
        zip(a.values, b.values).map { abs($0 - $1) }.max() ?? .infinity
    }

    @Test func matchesLibrosaWithWav2LipParameters() async throws {
        let fixture = try await Self.fixture()
        let mel = try MelSpectrogram().compute(fixture.audio.samples)
        #expect(mel.bands == 80)
        #expect(mel.frames == fixture.reference.frames)
        #expect(mel.frames == 1 + fixture.audio.samples.count / 200)
        let difference = Self.maxDifference(mel, fixture.reference)
        #expect(difference <= 1e-3, "max |swift - librosa| = \(difference)")
        #expect(mel.values.allSatisfy { $0.isFinite && $0 >= -4 && $0 <= 4 })
        // Speech covers a good part of the range: this is no degenerate all-floor spectrogram.
        #expect(mel.values.max()! > 0 && mel.values.min()! < -3)
    }

    /// The parity check is sensitive: changing any one Wav2Lip parameter breaks it.
    @Test(arguments: ["fmin", "fmax", "preemphasis", "refLevel", "hop"])
    func changedParameterBreaksParity(parameter: String) async throws {
        let fixture = try await Self.fixture()
        var changed = MelParameters.wav2lip
        switch parameter {
        case "fmin": changed.minFrequency = 95
        case "fmax": changed.maxFrequency = 8_000
        case "preemphasis": changed.preemphasis = 0.9
        case "refLevel": changed.referenceLevelDB = 18
        default: changed.hopLength = 160
        }
        let mel = try MelSpectrogram(parameters: changed).compute(fixture.audio.samples)
        if mel.frames == fixture.reference.frames {
            #expect(Self.maxDifference(mel, fixture.reference) > 1e-3)
        } else {
            #expect(parameter == "hop")
        }
    }

    @Test func silenceStaysFiniteAtTheFloor() throws {
        let audio = try LipSyncAudio.prepare(AudioBuffer(samples: [Float](repeating: 0, count: 16_000), sampleRate: 16_000))
        let mel = try MelSpectrogram().compute(audio.samples)
        #expect(mel.values.allSatisfy { $0.isFinite })
        #expect(mel.values.max()! < -3.5)
    }

    @Test func tooShortAudioIsRefused() {
        #expect(throws: AudioError.self) { try MelSpectrogram().compute([Float](repeating: 0.1, count: 100)) }
    }
}

@Suite struct MelFrameWindowTests {
    static func ramp(frames: Int) -> MelMatrix {
        // Value = column index, so a window's first value tells where it starts.
        MelMatrix(bands: 80, frames: frames, values: (0..<80 * frames).map { Float($0 % frames) })
    }

    @Test func indexesLikeWav2LipAt25fps() {
        let windows = MelFrameWindows(mel: Self.ramp(frames: 100), fps: 25)
        #expect((0..<8).map(windows.startColumn(forFrame:)) == [0, 3, 6, 9, 12, 16, 19, 22])
        // int(26 * 3.2) = 83 still fits in 100 columns; int(27 * 3.2) = 86 would not: clamped to the last 16.
        #expect(windows.startColumn(forFrame: 26) == 83)
        #expect(windows.startColumn(forFrame: 27) == 84)
        let window = windows.window(forFrame: 5)
        #expect(window.count == 80 * 16)
        #expect(Array(window[0..<16]) == (16..<32).map(Float.init))
        #expect(Array(window[16..<32]) == (16..<32).map(Float.init))
    }

    @Test func indexesLikeWav2LipAt30fps() {
        let windows = MelFrameWindows(mel: Self.ramp(frames: 50), fps: 30)
        #expect((0..<7).map(windows.startColumn(forFrame:)) == [0, 2, 5, 8, 10, 13, 16])
        #expect(windows.startColumn(forFrame: 13) == 34)
        #expect(windows.startColumn(forFrame: 14) == 34)
        #expect(windows.startColumn(forFrame: 1000) == 34)
    }

    @Test func shortMelIsPaddedWithTheFloor() {
        let windows = MelFrameWindows(mel: Self.ramp(frames: 5), fps: 25)
        let window = windows.window(forFrame: 3)
        #expect(Array(window[0..<16]) == [0, 1, 2, 3, 4] + [Float](repeating: -4, count: 11))
    }

    @Test func videoFrameCountCoversTheAudio() {
        #expect(MelFrameWindows.videoFrameCount(duration: 2.0, fps: 25) == 50)
        #expect(MelFrameWindows.videoFrameCount(duration: 2.01, fps: 25) == 51)
        #expect(MelFrameWindows.videoFrameCount(duration: 1.0, fps: 30) == 30)
        #expect(MelFrameWindows.videoFrameCount(duration: 0, fps: 25) == 1)
    }
}
