import CEspeakNG
import Dispatch
import Foundation

/// espeak-ng through its C API. The library keeps one global state per process, so every call goes
/// through one serial queue (which also keeps the blocking synthesis off Swift's cooperative pool).
package final class EspeakSynthesizer: SpeechSynthesizer {
    package static let rateRange = 80...450

    package let limits: SpeechLimits

    package init(limits: SpeechLimits = .default) throws {
        self.limits = limits
        _ = try EspeakRuntime.shared.sampleRate()
    }

    package func voices() async -> [VoiceInfo] {
        (try? await EspeakRuntime.shared.run { runtime in runtime.voices }) ?? []
    }

    /// Voice variants (`f3`, `m2`, ...) that can be combined with any language.
    package func variants() async -> [String] {
        (try? await EspeakRuntime.shared.run { runtime in runtime.variants }) ?? []
    }

    /// Language codes accepted by `synthesize`, sorted.
    package func languages() async -> [String] {
        (try? await EspeakRuntime.shared.run { runtime in runtime.languageCodes }) ?? []
    }

    /// IPA phonemes of `text`, clause by clause, each with the punctuation that ended it (nil at the end
    /// of the text): what neural voices trained on espeak-ng's phonemes (Piper) take as input.
    package static func phonemize(_ text: String, voice: String) async throws -> [PhonemizedClause] {
        try await EspeakRuntime.shared.run { runtime in try runtime.phonemize(text, voice: voice) }
    }

    package func synthesize(_ request: SpeechRequest) async throws -> SynthesizedSpeech {
        try limits.validate(request.text)
        guard Self.rateRange.contains(request.wordsPerMinute) else {
            throw SpeechError.invalidRate(request.wordsPerMinute, allowed: Self.rateRange)
        }
        return try await EspeakRuntime.shared.run { runtime in try runtime.synthesize(request) }
    }
}

/// The process-wide espeak-ng instance. Only touched on `queue`.
final class EspeakRuntime: @unchecked Sendable {
    static let shared = EspeakRuntime()

    private let queue = DispatchQueue(label: "lipsync.espeak-ng")
    private var initialized: Result<Int, SpeechError>?
    private(set) var voices: [VoiceInfo] = []
    private(set) var variants: [String] = []
    private(set) var languageCodes: [String] = []

    /// The collector of the synthesis in progress; espeak-ng's callback has no context of its own
    /// for buffers without events, and calls are serialised on `queue`, so one slot suffices.
    nonisolated(unsafe) fileprivate static var current: SynthesisCollector?

    func sampleRate() throws -> Int {
        try queue.sync { try initializeIfNeeded() }
    }

    func run<T: Sendable>(_ body: @escaping @Sendable (EspeakRuntime) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do {
                    _ = try self.initializeIfNeeded()
                    continuation.resume(returning: try body(self))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    private func initializeIfNeeded() throws -> Int {
        if let initialized { return try initialized.get() }
        let options = Int32(espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_PHONEME_IPA | espeakINITIALIZE_DONT_EXIT)
        let rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 200, nil, options)
        guard rate > 0 else {
            let failure = SpeechError.engineFailure("espeak_Initialize failed (is espeak-ng-data installed?)")
            initialized = .failure(failure)
            throw failure
        }
        espeak_SetSynthCallback(espeakCallback)
        voices = Self.listVoices(spec: nil)
        var spec = espeak_VOICE()
        variants = "variant".withCString { name in
            spec.languages = name
            return Self.listVoices(spec: &spec).map { ($0.identifier as NSString).lastPathComponent }
        }.sorted()
        languageCodes = Array(Set(voices.flatMap(\.languages))).sorted()
        initialized = .success(Int(rate))
        return Int(rate)
    }

    private static func listVoices(spec: UnsafeMutablePointer<espeak_VOICE>?) -> [VoiceInfo] {
        guard let list = espeak_ListVoices(spec) else { return [] }
        var result: [VoiceInfo] = []
        var index = 0
        while let voice = list[index]?.pointee {
            index += 1
            let name = voice.name.map { String(cString: $0) } ?? ""
            let identifier = voice.identifier.map { String(cString: $0) } ?? ""
            // `languages` is a sequence of (priority byte, NUL-terminated name), ended by a zero priority.
            var languages: [String] = []
            if var cursor = voice.languages {
                while cursor.pointee != 0 {
                    cursor += 1
                    let language = String(cString: cursor)
                    languages.append(language)
                    cursor += language.utf8.count + 1
                }
            }
            result.append(VoiceInfo(name: name, languages: languages, identifier: identifier))
        }
        return result
    }

    /// Resolves a user's language code to what `espeak_SetVoiceByName` accepts: the file of the voice whose
    /// first language it is (`gmw/en` for en-gb: the name "en-gb" itself is no voice's name).
    private func resolveLanguage(_ requested: String) throws -> String {
        let wanted = requested.lowercased()
        guard languageCodes.contains(where: { $0.lowercased() == wanted }) else {
            throw SpeechError.unknownLanguage(requested, available: languageCodes)
        }
        let voice = voices.first { $0.languages.first?.lowercased() == wanted } ?? voices.first { $0.languages.contains { $0.lowercased() == wanted } }
        return voice.map(\.identifier).flatMap { $0.isEmpty ? nil : $0 } ?? wanted
    }

    func phonemize(_ text: String, voice: String) throws -> [PhonemizedClause] {
        guard let name = try? resolveLanguage(voice), espeak_SetVoiceByName(name) == EE_OK else {
            throw SpeechError.engineFailure("espeak-ng has no voice '\(voice)' to phonemize with")
        }
        // Clauses are split here, not by espeak-ng: it reads one character past a clause's end, so the
        // text it consumed does not tell which punctuation ended the clause.
        return PhonemizedClause.split(text).compactMap { clause -> PhonemizedClause? in
            var parts: [String] = []
            let bytes = Array(clause.text.utf8) + [0]
            bytes.withUnsafeBufferPointer { buffer in
                var pointer: UnsafeRawPointer? = UnsafeRawPointer(buffer.baseAddress!)
                while pointer != nil {
                    let before = pointer
                    if let phonemes = espeak_TextToPhonemes(&pointer, Int32(espeakCHARS_UTF8), Int32(espeakPHONEMES_IPA)) {
                        parts.append(String(cString: phonemes).trimmingCharacters(in: .whitespaces))
                    }
                    if pointer == before { break }  // no progress: stop rather than loop
                }
            }
            let phonemes = parts.filter { !$0.isEmpty }.joined(separator: " ")
            guard !phonemes.isEmpty || clause.terminator != nil else { return nil }
            return PhonemizedClause(text: clause.text, phonemes: phonemes, terminator: clause.terminator)
        }
    }

    func synthesize(_ request: SpeechRequest) throws -> SynthesizedSpeech {
        let sampleRate = try initializeIfNeeded()
        var voiceName = try resolveLanguage(request.language)
        if let variant = request.voice, !variant.isEmpty {
            guard variants.contains(variant) else { throw SpeechError.unknownVoice(variant, available: variants) }
            voiceName += "+" + variant
        }
        guard espeak_SetVoiceByName(voiceName) == EE_OK else {
            throw SpeechError.engineFailure("could not select voice '\(voiceName)'")
        }
        espeak_SetParameter(espeakRATE, Int32(request.wordsPerMinute), 0)

        let collector = SynthesisCollector(text: request.text)
        Self.current = collector
        defer { Self.current = nil }
        let status = request.text.withCString { pointer in
            espeak_Synth(pointer, strlen(pointer) + 1, 0, POS_CHARACTER, 0,
                         UInt32(espeakCHARS_UTF8), nil, nil)
        }
        guard status == EE_OK else { throw SpeechError.engineFailure("espeak_Synth returned \(status.rawValue)") }
        return collector.finish(sampleRate: sampleRate)
    }
}

/// One clause of phonemized text.
package struct PhonemizedClause: Sendable, Equatable {
    /// The source text of the clause, with its punctuation.
    package var text: String
    /// IPA, words separated by spaces, stress (ˈ ˌ) and length (ː) marks included.
    package var phonemes: String
    /// The punctuation that ended the clause, normalised to one of `. , ? ! ; :`; nil when none did.
    package var terminator: Character?

    /// The text cut into clauses after `. , ? ! ; :` (and dashes, ellipses), each with its punctuation
    /// normalised; a point or comma between digits (3.5, 1,000) is part of the number.
    static func split(_ text: String) -> [(text: String, terminator: Character?)] {
        let characters = Array(text)
        var clauses: [(text: String, terminator: Character?)] = [], current = ""
        for (index, character) in characters.enumerated() {
            current.append(character)
            let terminator: Character?
            switch character {
            case ".", "…": terminator = "."
            case "?", "!", ";", ":": terminator = character
            case ",", "—", "–": terminator = ","
            default: terminator = nil
            }
            guard let terminator else { continue }
            let between = index > 0 && index + 1 < characters.count && characters[index - 1].isNumber && characters[index + 1].isNumber
            if between && (character == "." || character == ",") { continue }
            // Repeated punctuation ("?!", "...") closes one clause.
            if current.trimmingCharacters(in: .whitespaces).count == 1, let last = clauses.indices.last {
                clauses[last].text += current
                current = ""
                continue
            }
            clauses.append((current, terminator))
            current = ""
        }
        if current.contains(where: { $0.isLetter || $0.isNumber }) { clauses.append((current, nil)) }
        return clauses
    }

    /// True when the clause ends a sentence.
    package var endsSentence: Bool { terminator.map { ".?!".contains($0) } ?? false }
}

/// Gathers PCM and events from espeak-ng's callback.
fileprivate final class SynthesisCollector {
    let scalars: [Unicode.Scalar]
    var pcm: [Int16] = []
    var events: [SpeechEvent] = []

    init(text: String) {
        scalars = Array(text.unicodeScalars)
    }

    func append(samples: UnsafePointer<Int16>, count: Int) {
        pcm.append(contentsOf: UnsafeBufferPointer(start: samples, count: count))
    }

    func append(event: espeak_EVENT) {
        let sample = Int(event.sample)
        switch event.type {
        case espeakEVENT_SENTENCE:
            events.append(SpeechEvent(kind: .sentence, sample: sample, textOffset: textOffset(event)))
        case espeakEVENT_WORD:
            // espeak-ng sometimes reports words with no text (clause state carried over from an earlier
            // utterance); they mark nothing that was said.
            let text = word(event)
            if !text.isEmpty { events.append(SpeechEvent(kind: .word(text), sample: sample, textOffset: textOffset(event))) }
        case espeakEVENT_PHONEME:
            let name = withUnsafeBytes(of: event.id.string) { bytes in
                String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if !name.isEmpty { events.append(SpeechEvent(kind: .phoneme(name), sample: sample)) }
        default:
            break
        }
    }

    /// espeak-ng counts text positions in characters from 1.
    private func textOffset(_ event: espeak_EVENT) -> Int? {
        event.text_position > 0 ? Int(event.text_position) - 1 : nil
    }

    private func word(_ event: espeak_EVENT) -> String {
        guard let start = textOffset(event), start < scalars.count else { return "" }
        let end = min(scalars.count, start + max(0, Int(event.length)))
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[start..<end])
        return String(view)
    }

    func finish(sampleRate: Int) -> SynthesizedSpeech {
        let samples = pcm.map { Float($0) / 32_768 }
        // Events are reported per buffer; keep them inside the audio and ordered (stably, so a
        // sentence stays before its first word and phoneme at the same position).
        var timeline = events.enumerated().map { index, event -> (Int, SpeechEvent) in
            var event = event
            event.sample = min(max(0, event.sample), samples.count)
            return (index, event)
        }
        .sorted { ($0.1.sample, $0.0) < ($1.1.sample, $1.0) }
        .map(\.1)
        timeline.append(SpeechEvent(kind: .end, sample: samples.count))
        return SynthesizedSpeech(samples: samples, sampleRate: sampleRate, timeline: timeline)
    }
}

private func espeakCallback(
    _ wav: UnsafeMutablePointer<Int16>?, _ count: Int32, _ events: UnsafeMutablePointer<espeak_EVENT>?
) -> Int32 {
    guard let collector = EspeakRuntime.current else { return 1 }
    if let wav, count > 0 { collector.append(samples: wav, count: Int(count)) }
    if var event = events {
        while event.pointee.type != espeakEVENT_LIST_TERMINATED {
            collector.append(event: event.pointee)
            event += 1
        }
    }
    return 0
}
