import CSoxr

/// Sample-rate conversion with libsoxr at its high-quality setting.
package enum Resampler {
    package static func resample(_ audio: AudioBuffer, to targetRate: Int) throws -> AudioBuffer {
        guard targetRate > 0 else { throw AudioError.resamplingFailed("target rate \(targetRate) Hz") }
        if audio.sampleRate == targetRate || audio.samples.isEmpty {
            return AudioBuffer(samples: audio.samples, sampleRate: targetRate)
        }
        let ratio = Double(targetRate) / Double(audio.sampleRate)
        let capacity = Int((Double(audio.samples.count) * ratio).rounded(.up)) + 1
        var output = [Float](repeating: 0, count: capacity)
        var produced = 0
        var quality = soxr_quality_spec(UInt(SOXR_HQ), 0)
        let error = audio.samples.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                soxr_oneshot(Double(audio.sampleRate), Double(targetRate), 1,
                             input.baseAddress, input.count, nil,
                             out.baseAddress, out.count, &produced,
                             nil, &quality, nil)
            }
        }
        if let error { throw AudioError.resamplingFailed(String(cString: error)) }
        output.removeSubrange(produced...)
        return AudioBuffer(samples: output, sampleRate: targetRate)
    }
}
