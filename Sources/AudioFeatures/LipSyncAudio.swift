/// Turns any mono audio into what the lip-sync stages consume: 16 kHz float samples without
/// digital silence.
package enum LipSyncAudio {
    package static let sampleRate = 16_000

    package static func prepare(_ audio: AudioBuffer) throws -> AudioBuffer {
        var prepared = try Resampler.resample(audio, to: sampleRate)
        SilenceDither.apply(to: &prepared.samples)
        return prepared
    }
}

/// Replaces exact zeros with a tiny deterministic noise (about -100 dBFS). Wav2Lip's mel of exact
/// digital silence hits the log floor everywhere, and models exported from it have produced NaNs on
/// such input. Samples that are not exactly zero are left alone, so applying it twice changes nothing.
package enum SilenceDither {
    package static let amplitude: Float = 1e-5

    package static func apply(to samples: inout [Float]) {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15  // fixed seed: the same input always gives the same output
        for index in samples.indices where samples[index] == 0 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let unit = Float(state >> 40) / Float(1 << 24)  // [0, 1)
            let value = (unit * 2 - 1) * amplitude
            samples[index] = value == 0 ? amplitude : value
        }
    }
}
