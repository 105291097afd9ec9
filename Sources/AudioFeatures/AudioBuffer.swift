/// Mono audio as float samples in [-1, 1]. Multi-channel sources are mixed down when read.
package struct AudioBuffer: Sendable, Equatable {
    package var samples: [Float]
    package var sampleRate: Int

    package init(samples: [Float], sampleRate: Int) {
        self.samples = samples
        self.sampleRate = sampleRate
    }

    package var duration: Double { Double(samples.count) / Double(sampleRate) }
}

package enum AudioError: Error, Equatable, CustomStringConvertible {
    case unreadable(String)
    case unsupportedFormat(String)
    case resamplingFailed(String)
    case tooShort(String)

    package var description: String {
        switch self {
        case .unreadable(let message): return "cannot read audio: \(message)"
        case .unsupportedFormat(let message): return "unsupported audio format: \(message)"
        case .resamplingFailed(let message): return "resampling failed: \(message)"
        case .tooShort(let message): return "audio too short: \(message)"
        }
    }
}
