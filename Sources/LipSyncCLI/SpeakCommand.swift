import ArgumentParser
import AudioFeatures
import Foundation
import SpeechSynthesis

struct SpeakCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "speak",
        abstract: "Synthesize speech to a 16-bit WAV and print its duration and timeline summary."
    )

    @OptionGroup var text: TextInputOptions
    @OptionGroup var speech: SpeechOptions

    @Option(name: .shortAndLong, help: "Output WAV file.")
    var output: String

    @Option(help: "Resample the output to this rate in Hz (default: the engine's own rate).")
    var sampleRate: Int?

    @Option(help: "Also write the timeline (words and phonemes with sample positions) as JSON to this file.")
    var timeline: String?

    func run() async throws {
        let request = SpeechRequest(text: try text.resolve(), language: speech.language,
                                    voice: speech.voice, wordsPerMinute: speech.rate)
        let synthesizer = try EspeakSynthesizer(limits: SpeechLimits(maxCharacters: speech.maxCharacters))
        let clock = ContinuousClock()
        let start = clock.now
        let speechResult = try await synthesizer.synthesize(request)
        let elapsed = clock.now - start

        var audio = AudioBuffer(samples: speechResult.samples, sampleRate: speechResult.sampleRate)
        if let sampleRate { audio = try Resampler.resample(audio, to: sampleRate) }
        try WAVFile.write(audio, to: URL(fileURLWithPath: output), format: .pcm16)
        if let timeline {
            try TimelineJSON.write(speechResult, to: URL(fileURLWithPath: timeline))
        }

        let seconds = elapsed.seconds
        let duration = speechResult.duration
        print("wrote \(output): \(format(duration)) s of speech at \(audio.sampleRate) Hz, 16-bit mono")
        print("synthesis: \(format(seconds * 1000)) ms (\(format(duration / max(seconds, 1e-9), digits: 0))x real time)")
        print("timeline: \(speechResult.words.count) words, \(speechResult.phonemes.count) phonemes, end at sample \(speechResult.timeline.last?.sample ?? 0)")
    }
}

struct VoicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voices",
        abstract: "List the languages and voice variants the speech engine offers."
    )

    func run() async throws {
        let synthesizer = try EspeakSynthesizer()
        for voice in await synthesizer.voices().sorted(by: { $0.languages.first ?? "" < $1.languages.first ?? "" }) {
            print("\(voice.languages.joined(separator: ",").padding(toLength: 16, withPad: " ", startingAt: 0)) \(voice.name)")
        }
        print("variants (--voice): \(await synthesizer.variants().joined(separator: " "))")
    }
}

/// `--text` or `--text-file`, exactly one.
struct TextInputOptions: ParsableArguments {
    @Option(help: "The text to speak.")
    var text: String?

    @Option(help: "Read the text to speak from this UTF-8 file.")
    var textFile: String?

    var isGiven: Bool { text != nil || textFile != nil }

    func resolve() throws -> String {
        switch (text, textFile) {
        case (let text?, nil):
            return text
        case (nil, let path?):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read text file '\(path)'")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw ValidationError("text file '\(path)' is not valid UTF-8")
            }
            return text
        case (nil, nil):
            throw ValidationError("give the text with --text or --text-file")
        case (.some, .some):
            throw ValidationError("give either --text or --text-file, not both")
        }
    }
}

struct SpeechOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Language code (ru, en, ...; see `lipsync voices`).")
    var language: String = "ru"

    @Option(help: "Voice variant (f3, m2, ...; see `lipsync voices`).")
    var voice: String?

    @Option(help: "Speaking rate in words per minute (80-450).")
    var rate: Int = 175

    @Option(help: "Longest text accepted, in characters.")
    var maxCharacters: Int = SpeechLimits.default.maxCharacters
}
