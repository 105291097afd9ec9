import SpeechSynthesis
import Testing

@Suite struct EspeakSynthesizerTests {
    let synthesizer: EspeakSynthesizer

    init() throws {
        synthesizer = try EspeakSynthesizer()
    }

    @Test(arguments: [("ru", "Добрый"), ("en", "Good")])
    func speaksAParagraph(language: String, firstWord: String) async throws {
        let text = language == "ru" ? "Добрый день! Меня зовут Алиса, и я читаю этот текст вслух." : "Good afternoon! My name is Alice, and I read this text aloud."
        let speech = try await synthesizer.synthesize(SpeechRequest(text: text, language: language))
        #expect(speech.sampleRate == 22_050)
        #expect(speech.duration > 2 && speech.duration < 10)
        // Not silence: a speech-like RMS level.
        let rms = (speech.samples.reduce(0) { $0 + $1 * $1 } / Float(speech.samples.count)).squareRoot()
        #expect(rms > 0.02, "rms \(rms)")
        // The timeline ends at the last sample and is ordered.
        #expect(speech.timeline.last == SpeechEvent(kind: .end, sample: speech.samples.count))
        #expect(zip(speech.timeline, speech.timeline.dropFirst()).allSatisfy { $0.sample <= $1.sample })
        #expect(speech.words.first?.text == firstWord)
        #expect(speech.words.count == text.split(separator: " ").count)
        #expect(speech.phonemes.count > 20)
        // Words start in order, spread over the utterance.
        let wordSamples = speech.words.map(\.sample)
        #expect(wordSamples == wordSamples.sorted())
        #expect(Double(wordSamples.last!) > 0.6 * Double(speech.samples.count))
    }

    @Test func rejectsEmptyAndWhitespaceText() async {
        for text in ["", "   ", "\n\t "] {
            await #expect(throws: SpeechError.emptyText) {
                try await synthesizer.synthesize(SpeechRequest(text: text, language: "en"))
            }
        }
    }

    @Test func rejectsTextOverTheConfiguredLimit() async throws {
        let limited = try EspeakSynthesizer(limits: SpeechLimits(maxCharacters: 10))
        await #expect(throws: SpeechError.textTooLong(length: 11, limit: 10)) {
            try await limited.synthesize(SpeechRequest(text: "hello world", language: "en"))
        }
        _ = try await limited.synthesize(SpeechRequest(text: "hello", language: "en"))
        #expect(SpeechLimits.default.maxCharacters == 5_000)
    }

    @Test func unknownLanguageListsTheAvailableOnes() async throws {
        do {
            _ = try await synthesizer.synthesize(SpeechRequest(text: "hello", language: "klingon"))
            Issue.record("expected an error")
        } catch let SpeechError.unknownLanguage(language, available) {
            #expect(language == "klingon")
            #expect(available.contains("ru") && available.contains("en") && available.count > 50)
            #expect(SpeechError.unknownLanguage(language, available: available).description.contains("ru, "))
        }
    }

    @Test func voiceVariantAndRateChangeTheAudio() async throws {
        let base = SpeechRequest(text: "The quick brown fox jumps over the lazy dog.", language: "en")
        let plain = try await synthesizer.synthesize(base)
        var female = base
        female.voice = "f3"
        let variant = try await synthesizer.synthesize(female)
        #expect(variant.samples != plain.samples)
        var fast = base
        fast.wordsPerMinute = 350
        let quick = try await synthesizer.synthesize(fast)
        #expect(quick.duration < 0.75 * plain.duration)

        var unknown = base
        unknown.voice = "nonexistent-variant"
        await #expect(throws: SpeechError.self) { try await synthesizer.synthesize(unknown) }
        var slow = base
        slow.wordsPerMinute = 20
        await #expect(throws: SpeechError.invalidRate(20, allowed: 80...450)) { try await synthesizer.synthesize(slow) }
    }

    /// espeak-ng has one global state; concurrent callers must each get their own utterance, whole.
    /// (Its output is not bit-identical from call to call: prosody state carries over by a few ms.)
    @Test func concurrentRequestsDoNotMix() async throws {
        let texts = ["Один, два, три.", "One, two, three.", "Четыре, пять.", "Four, five."]
        let languages = ["ru", "en", "ru", "en"]
        let synthesizer = self.synthesizer
        let results = try await withThrowingTaskGroup(of: (Int, SynthesizedSpeech).self) { group in
            for index in texts.indices {
                group.addTask { (index, try await synthesizer.synthesize(SpeechRequest(text: texts[index], language: languages[index]))) }
            }
            return try await group.reduce(into: [Int: SynthesizedSpeech]()) { $0[$1.0] = $1.1 }
        }
        for index in texts.indices {
            let words = results[index]!.words.map(\.text)
            #expect(words.joined(separator: " ") == texts[index].filter { !",.".contains($0) })
            #expect(results[index]!.timeline.last?.sample == results[index]!.samples.count)
        }
    }

    @Test func listsVoicesAndVariants() async {
        let voices = await synthesizer.voices()
        #expect(voices.contains { $0.languages.contains("ru") })
        #expect(await synthesizer.variants().contains("f3"))
    }
}
