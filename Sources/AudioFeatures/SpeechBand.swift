import Foundation

/// The band of speech that shows on the lips: a 4th-order Butterworth high-pass and low-pass (two
/// second-order sections each). Below it lie the voice bar and the nasal murmur, which a closed mouth
/// radiates as well as an open one; in it lie the formants that the jaw and lips shape.
package struct SpeechBand: Sendable {
    package var low: Double
    package var high: Double

    package static let lips = SpeechBand(low: 800, high: 3000)

    package init(low: Double, high: Double) {
        self.low = low
        self.high = high
    }

    /// `samples` filtered to the band (same length, zero initial state).
    package func filter(_ samples: [Float], sampleRate: Int) -> [Float] {
        let rate = Double(sampleRate)
        let top = min(high, 0.45 * rate)
        var stages = Biquad.butterworthQ.map { Biquad.highPass(low, rate: rate, q: $0) }
            + Biquad.butterworthQ.map { Biquad.lowPass(top, rate: rate, q: $0) }
        return samples.map { sample in
            var value = Double(sample)
            for index in stages.indices { value = stages[index].process(value) }
            return Float(value)
        }
    }
}

/// A second-order IIR section (direct form I), with the audio-EQ-cookbook high- and low-pass designs.
struct Biquad {
    var b0, b1, b2, a1, a2: Double
    var x1 = 0.0, x2 = 0.0, y1 = 0.0, y2 = 0.0

    /// The Q of the two sections of a 4th-order Butterworth filter: 1 / (2 cos(pi/8)) and 1 / (2 cos(3pi/8)).
    static let butterworthQ = [1 / (2 * cos(Double.pi / 8)), 1 / (2 * cos(3 * Double.pi / 8))]

    static func highPass(_ frequency: Double, rate: Double, q: Double) -> Biquad {
        let (cosine, alpha) = shape(frequency, rate: rate, q: q)
        let a0 = 1 + alpha
        return Biquad(b0: (1 + cosine) / 2 / a0, b1: -(1 + cosine) / a0, b2: (1 + cosine) / 2 / a0,
                      a1: -2 * cosine / a0, a2: (1 - alpha) / a0)
    }

    static func lowPass(_ frequency: Double, rate: Double, q: Double) -> Biquad {
        let (cosine, alpha) = shape(frequency, rate: rate, q: q)
        let a0 = 1 + alpha
        return Biquad(b0: (1 - cosine) / 2 / a0, b1: (1 - cosine) / a0, b2: (1 - cosine) / 2 / a0,
                      a1: -2 * cosine / a0, a2: (1 - alpha) / a0)
    }

    private static func shape(_ frequency: Double, rate: Double, q: Double) -> (cosine: Double, alpha: Double) {
        let omega = 2 * Double.pi * frequency / rate
        return (cos(omega), sin(omega) / (2 * q))
    }

    mutating func process(_ input: Double) -> Double {
        let output = b0 * input + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
        (x2, x1, y2, y1) = (x1, input, y1, output)
        return output
    }
}
