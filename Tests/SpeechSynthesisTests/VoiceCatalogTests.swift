import Foundation
import Inference
import SpeechSynthesis
import Testing
import TestSupport

/// The voices as users get them: the bundled Piper voice (en_US-joe-medium, extracted by setup), Festival's
/// recorded Russian voice (installed by setup), espeak-ng; voices dropped into a folder; broken ones.
@Suite(.serialized) struct VoiceCatalogTests {
    static let bundled = Repository.root.appendingPathComponent(".cache/voices")
    static let joe = bundled.appendingPathComponent("en_US-joe-medium.onnx")

    /// Digits, a colon, a dash, quotes, ё and an English word: what broke or silenced engines before.
    static let russianParagraph = "Внимание: в 2026 году «умный» дом — это уже не мечта! Ёлка стоит в углу, а на экране написано computer. Цена: 350 рублей."

    @Test func defaultsFollowMeasuredQuality() async throws {
        let catalog = try await VoiceCatalog.discover(piperFolders: [Self.bundled])
        #expect(catalog.defaultVoice(for: "en")?.id == "piper/en_US-joe-medium")
        #expect(catalog.defaultVoice(for: "en-us")?.id == "piper/en_US-joe-medium")
        #expect(catalog.defaultVoice(for: "ru")?.id == "festival/msu_ru_nsh_clunits")
        #expect(catalog.defaultVoice(for: "de")?.id == "espeak/de")
        #expect(catalog.defaultVoice(for: "en-gb")?.id == "espeak/en-gb")
        #expect(catalog.defaultVoice(for: "xx") == nil)
        let joe = try #require(catalog.entry("piper/en_US-joe-medium"))
        #expect(joe.sampleRate == 22_050 && joe.language == "en-us" && joe.problem == nil)
        // Requests: a voice id, an espeak-ng variant (as before), and the mistakes.
        #expect(try catalog.choose(SpeechRequest(text: "hi", language: "en")).voice.id == "piper/en_US-joe-medium")
        #expect(try catalog.choose(SpeechRequest(text: "hi", language: "ru", voice: "espeak/ru")).voice.id == "espeak/ru")
        let variant = try catalog.choose(SpeechRequest(text: "hi", language: "ru", voice: "f3"))
        #expect(variant.voice.id == "espeak/ru" && variant.variant == "f3")
        #expect(throws: SpeechError.voiceLanguageMismatch(voice: "piper/en_US-joe-medium", speaks: "en-us", requested: "ru")) {
            try catalog.choose(SpeechRequest(text: "hi", language: "ru", voice: "piper/en_US-joe-medium"))
        }
        #expect(throws: SpeechError.self) { try catalog.choose(SpeechRequest(text: "hi", language: "en", voice: "piper/nobody")) }
        #expect(throws: SpeechError.self) { try catalog.choose(SpeechRequest(text: "hi", language: "xx")) }
        #expect(throws: SpeechError.emptyText) { try catalog.choose(SpeechRequest(text: "  ", language: "en")) }
    }

    /// Plausible length: at least 40 ms and at most 200 ms of speech per letter or digit of the text.
    static func expectPlausible(_ speech: SynthesizedSpeech, for text: String, _ label: String) {
        let letters = Double(text.filter { $0.isLetter || $0.isNumber }.count)
        #expect(speech.duration > 0.04 * letters && speech.duration < 0.2 * letters,
                "\(label): \(speech.duration) s for \(Int(letters)) letters")
        let rms = (speech.samples.reduce(0) { $0 + $1 * $1 } / Float(max(1, speech.samples.count))).squareRoot()
        #expect(rms > 0.02, "\(label): rms \(rms)")
        #expect(speech.timeline.last == SpeechEvent(kind: .end, sample: speech.samples.count), "\(label)")
        #expect(zip(speech.timeline, speech.timeline.dropFirst()).allSatisfy { $0.sample <= $1.sample }, "\(label): timeline out of order")
        // The speech reaches the end of the text: phonemes through the last fifth of the audio.
        let lastPhoneme = speech.phonemes.filter { $0.name != "_" }.last?.sample ?? 0
        #expect(Double(lastPhoneme) > 0.8 * Double(speech.samples.count), "\(label): last phoneme at \(lastPhoneme) of \(speech.samples.count)")
    }

    @Test func aRussianParagraphWithDigitsPunctuationAndLatinIsSpokenWholeByEveryEngine() async throws {
        let folder = try Self.russianPiperFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let catalog = try await VoiceCatalog.discover(piperFolders: [folder, Self.bundled])
        for id in ["espeak/ru", "festival/msu_ru_nsh_clunits", "piper/ru_RU-test-medium"] {
            let speech = try await catalog.synthesize(SpeechRequest(text: Self.russianParagraph, language: "ru", voice: id))
            Self.expectPlausible(speech, for: Self.russianParagraph, id)
            #expect(speech.phonemes.count > 60, "\(id): \(speech.phonemes.count) phonemes")
        }
    }

    @Test func thePiperTimelineComesFromItsDurationsAndFitsTheAudio() async throws {
        let catalog = try await VoiceCatalog.discover(piperFolders: [Self.bundled])
        let text = "Good afternoon! My name is Alice, and I read this text aloud. Is it clear?"
        let speech = try await catalog.synthesize(SpeechRequest(text: text, language: "en"))
        Self.expectPlausible(speech, for: text, "joe")
        #expect(speech.sampleRate == 22_050)
        // Durations are whole frames of 256 samples: every event sits on the frame grid of its sentence.
        let sentences = speech.timeline.filter { $0.kind == .sentence }.map(\.sample)
        #expect(sentences.count == 3)
        for event in speech.timeline where event.kind != .end {
            let start = sentences.last { $0 <= event.sample } ?? 0
            #expect((event.sample - start) % 256 == 0, "\(event) is off the 256-sample frame grid")
        }
        // Words from the text, in order; a pause at each punctuation mark.
        #expect(speech.words.map(\.text) == text.split(separator: " ").map(String.init))
        #expect(speech.phonemes.filter { $0.name == "_" }.count == 4)
        // Faster rate, shorter speech (the length scale).
        let fast = try await catalog.synthesize(SpeechRequest(text: text, language: "en", wordsPerMinute: 300))
        #expect(fast.duration < 0.8 * speech.duration, "\(fast.duration) vs \(speech.duration)")
    }

    /// No punctuation for 600 characters: cut at word boundaries into pieces of bounded length (the voice's
    /// memory follows a piece's length), spoken whole; symbols alone are a client error, not a crash.
    @Test func aLongTextWithoutPunctuationIsSpokenWholeInBoundedPieces() async throws {
        let catalog = try await VoiceCatalog.discover(piperFolders: [Self.bundled])
        let words = ["river", "stone", "bright", "morning", "carry", "paper", "window", "seven"]
        let text = (0..<90).map { words[$0 % words.count] }.joined(separator: " ")
        let speech = try await catalog.synthesize(SpeechRequest(text: text, language: "en"))
        Self.expectPlausible(speech, for: text, "joe, long")
        #expect(speech.timeline.filter { $0.kind == .sentence }.count >= 3, "pieces")
        await #expect(throws: SpeechError.nothingToSay(voice: "piper/en_US-joe-medium")) {
            try await catalog.synthesize(SpeechRequest(text: "☃☃☃ ♞", language: "en"))
        }
    }

    @Test func aVoiceDroppedIntoTheFolderIsFoundAndBrokenOnesAreReportedWhileOthersWork() async throws {
        let folder = try Self.russianPiperFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // Broken: a model without its settings, and a model that is not a voice (a Wav2Lip test model).
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent("lonely.onnx"), withDestinationURL: Self.joe)
        let notAVoice = folder.appendingPathComponent("wav2lip.onnx")
        try FileManager.default.createSymbolicLink(at: notAVoice, withDestinationURL: Repository.root.appendingPathComponent(".cache/models/wav2lip_tiny.onnx"))
        try FileManager.default.copyItem(at: URL(fileURLWithPath: Self.joe.path + ".json"), to: URL(fileURLWithPath: notAVoice.path + ".json"))
        try Data("{ not json".utf8).write(to: folder.appendingPathComponent("garbled.onnx.json"))
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent("garbled.onnx"), withDestinationURL: Self.joe)

        let catalog = try await VoiceCatalog.discover(piperFolders: [folder, Self.bundled])
        let lonely = try #require(catalog.entry("piper/lonely"))
        #expect(lonely.problem?.contains("lonely.onnx.json") == true && lonely.problem?.contains("missing") == true)
        #expect(catalog.entry("piper/garbled")?.problem?.contains("not a Piper voice") == true)
        // A ru_RU voice becomes Russian's default: Piper before Festival.
        #expect(catalog.defaultVoice(for: "ru")?.id == "piper/ru_RU-test-medium")
        // The wrong model is found to be wrong when it loads, with a reason; the catalog goes on working.
        let failures = await catalog.loadAll()
        let reason = try #require(failures["piper/wav2lip"])
        #expect(reason.contains("wav2lip.onnx") && (reason.contains("duration") || reason.contains("inputs")), "\(reason)")
        await #expect(throws: SpeechError.self) {
            try await catalog.synthesize(SpeechRequest(text: "hello", language: "en", voice: "piper/lonely"))
        }
        let speech = try await catalog.synthesize(SpeechRequest(text: "Still speaking.", language: "en"))
        #expect(speech.duration > 0.5)
    }

    /// A folder holding a Russian Piper voice made for the tests: joe's model under `ru_RU-test-medium`
    /// with settings that phonemize as Russian (joe's phoneme ids cover the Russian IPA symbols). It shows
    /// the path a real ru_RU voice takes (discovery, default choice, Russian phonemes); it does not sound Russian.
    static func russianPiperFolder() throws -> URL {
        let folder = try Repository.temporaryDirectory("voices")
        let model = folder.appendingPathComponent("ru_RU-test-medium.onnx")
        try FileManager.default.createSymbolicLink(at: model, withDestinationURL: joe)
        var settings = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: joe.path + ".json"))) as! [String: Any]
        settings["espeak"] = ["voice": "ru"]
        settings["language"] = ["code": "ru_RU"]
        try JSONSerialization.data(withJSONObject: settings).write(to: URL(fileURLWithPath: model.path + ".json"))
        return folder
    }
}
