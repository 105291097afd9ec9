/// What to say and how. Validated by the synthesizer, not here, so every engine reports the same errors.
package struct SpeechRequest: Sendable, Hashable {
    package var text: String
    /// A language code the engine knows (`ru`, `en`, `en-us`, ...).
    package var language: String
    /// A voice id from `VoiceCatalog` (`piper/NAME`, `festival/NAME`, `espeak/LANGUAGE`) or an espeak-ng
    /// variant (`f3`, `m2`, ...: espeak-ng in `language`); nil for the language's default voice. Given
    /// straight to `EspeakSynthesizer`, it is a variant.
    package var voice: String?
    /// Speaking rate in words per minute.
    package var wordsPerMinute: Int

    package init(text: String, language: String, voice: String? = nil, wordsPerMinute: Int = 175) {
        self.text = text
        self.language = language
        self.voice = voice
        self.wordsPerMinute = wordsPerMinute
    }
}

/// One point on the speech timeline. Later stages drive mouth shapes and progress from it.
package struct SpeechEvent: Sendable, Hashable {
    package enum Kind: Sendable, Hashable {
        case sentence
        /// A word and the text it was spoken from.
        case word(String)
        /// A phoneme by its IPA name.
        case phoneme(String)
        /// The end of the utterance; its position is the length of the audio.
        case end
    }

    package var kind: Kind
    /// Position in the synthesized audio, in samples at the speech's sample rate.
    package var sample: Int
    /// Offset of the source text in characters (Unicode scalars), when the engine reports it.
    package var textOffset: Int?

    package init(kind: Kind, sample: Int, textOffset: Int? = nil) {
        self.kind = kind
        self.sample = sample
        self.textOffset = textOffset
    }
}

/// Mono PCM plus the timeline of what is said when.
package struct SynthesizedSpeech: Sendable {
    /// Samples in [-1, 1].
    package var samples: [Float]
    package var sampleRate: Int
    /// Events in order of their sample position; the last one is `.end`.
    package var timeline: [SpeechEvent]

    package init(samples: [Float], sampleRate: Int, timeline: [SpeechEvent]) {
        self.samples = samples
        self.sampleRate = sampleRate
        self.timeline = timeline
    }

    package var duration: Double { Double(samples.count) / Double(sampleRate) }

    package var phonemes: [(name: String, sample: Int)] {
        timeline.compactMap { event in
            if case .phoneme(let name) = event.kind { return (name, event.sample) }
            return nil
        }
    }

    package var words: [(text: String, sample: Int)] {
        timeline.compactMap { event in
            if case .word(let text) = event.kind { return (text, event.sample) }
            return nil
        }
    }
}

/// A voice the engine offers.
package struct VoiceInfo: Sendable, Hashable, Codable {
    package var name: String
    /// Language codes this voice speaks, most preferred first.
    package var languages: [String]
    package var identifier: String
}

/// Text to speech. Implementations are safe to call from any task; blocking work stays off the
/// cooperative thread pool.
package protocol SpeechSynthesizer: Sendable {
    func synthesize(_ request: SpeechRequest) async throws -> SynthesizedSpeech
    func voices() async -> [VoiceInfo]
}

package enum SpeechError: Error, Equatable, CustomStringConvertible {
    case emptyText
    case textTooLong(length: Int, limit: Int)
    case unknownLanguage(String, available: [String])
    case unknownVoice(String, available: [String])
    case invalidRate(Int, allowed: ClosedRange<Int>)
    case engineFailure(String)
    /// A voice file or engine that cannot be used, and why.
    case voiceUnusable(String, String)
    /// The text holds nothing the voice can pronounce (only symbols, say).
    case nothingToSay(voice: String)
    /// The requested voice does not speak the requested language.
    case voiceLanguageMismatch(voice: String, speaks: String, requested: String)

    package var description: String {
        switch self {
        case .emptyText:
            return "text is empty"
        case .textTooLong(let length, let limit):
            return "text is \(length) characters long; the limit is \(limit)"
        case .unknownLanguage(let language, let available):
            return "unknown language '\(language)'; available: \(available.joined(separator: ", "))"
        case .unknownVoice(let voice, let available):
            return "unknown voice '\(voice)'; available: \(available.joined(separator: ", "))"
        case .invalidRate(let rate, let allowed):
            return "rate \(rate) words/min is outside \(allowed.lowerBound)...\(allowed.upperBound)"
        case .engineFailure(let message):
            return "speech engine failed: \(message)"
        case .voiceUnusable(let voice, let reason):
            return "voice \(voice) cannot be used: \(reason)"
        case .nothingToSay(let voice):
            return "the text has nothing \(voice) can pronounce"
        case .voiceLanguageMismatch(let voice, let speaks, let requested):
            return "voice \(voice) speaks \(speaks), not '\(requested)'; leave out voice for the language's default"
        }
    }
}

/// Limits shared by every engine.
package struct SpeechLimits: Sendable {
    package var maxCharacters: Int
    package static let `default` = SpeechLimits(maxCharacters: 5_000)

    package init(maxCharacters: Int) {
        self.maxCharacters = maxCharacters
    }

    /// Rejects empty or whitespace-only text and text over the limit (counted in characters).
    package func validate(_ text: String) throws {
        if text.allSatisfy({ $0.isWhitespace || $0.isNewline }) { throw SpeechError.emptyText }
        let length = text.count
        if length > maxCharacters { throw SpeechError.textTooLong(length: length, limit: maxCharacters) }
    }
}
