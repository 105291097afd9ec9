/// Mono audio as float samples in [-1, 1]. Multi-channel sources are mixed down when read.
public struct AudioBuffer: Sendable, Equatable {
    public var samples: [Float]
    public var sampleRate: Int

    public init(samples: [Float], sampleRate: Int) {
        self.samples = samples
        self.sampleRate = sampleRate
    }

    public var duration: Double { Double(samples.count) / Double(sampleRate) }
}

public enum AudioError: Error, Equatable, CustomStringConvertible {
    case unreadable(String)
    case unsupportedFormat(String)
    case resamplingFailed(String)
    case tooShort(String)

    public var description: String {
        switch self {
        case .unreadable(let message): return "cannot read audio: \(message)"
        case .unsupportedFormat(let message): return "unsupported audio format: \(message)"
        case .resamplingFailed(let message): return "resampling failed: \(message)"
        case .tooShort(let message): return "audio too short: \(message)"
        }
    }
}
