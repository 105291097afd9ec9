import AudioFeatures
import Foundation
import Testing

/// The speech band filter: the gain of pure tones, measured after the filter has settled.
struct SpeechBandTests {
    static func gain(of frequency: Double, rate: Int = 16_000) -> Double {
        let tone = (0..<rate).map { Float(0.5 * sin(2 * Double.pi * frequency * Double($0) / Double(rate))) }
        let filtered = SpeechBand.lips.filter(tone, sampleRate: rate)
        func rms(_ values: ArraySlice<Float>) -> Double {
            (values.map { Double($0) * Double($0) }.reduce(0, +) / Double(values.count)).squareRoot()
        }
        return rms(filtered[(rate / 2)...]) / rms(tone[(rate / 2)...])
    }

    @Test func passesTheFormantsOfAnOpenMouthAndStopsTheMurmurOfAClosedOne() {
        #expect(abs(Self.gain(of: 1_500) - 1) < 0.05, "mid-band: \(Self.gain(of: 1_500))")
        // Butterworth: half the power at each corner.
        #expect(abs(Self.gain(of: 800) - 0.5.squareRoot()) < 0.05, "low corner: \(Self.gain(of: 800))")
        #expect(abs(Self.gain(of: 3_000) - 0.5.squareRoot()) < 0.05, "high corner: \(Self.gain(of: 3_000))")
        // 4th order: about 24 dB per octave outside.
        #expect(Self.gain(of: 250) < 0.02, "nasal murmur: \(Self.gain(of: 250))")
        #expect(Self.gain(of: 6_000) < 0.08, "hiss: \(Self.gain(of: 6_000))")
    }

    @Test func keepsLengthAndSilence() {
        let silence = [Float](repeating: 0, count: 1_000)
        #expect(SpeechBand.lips.filter(silence, sampleRate: 16_000) == silence)
        #expect(SpeechBand.lips.filter([], sampleRate: 16_000).isEmpty)
    }
}
