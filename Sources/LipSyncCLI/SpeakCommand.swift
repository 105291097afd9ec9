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
        let request = speech.request(try text.resolve())
        let catalog = try await speech.catalog()
        let choice = try catalog.choose(request)
        let clock = ContinuousClock()
        var start = clock.now
        try await catalog.load(choice.voice.id)
        let loading = clock.now - start
        start = clock.now
        let speechResult = try await catalog.synthesize(request, choice: choice)
        let elapsed = clock.now - start

        var audio = AudioBuffer(samples: speechResult.samples, sampleRate: speechResult.sampleRate)
        if let sampleRate { audio = try Resampler.resample(audio, to: sampleRate) }
        try WAVFile.write(audio, to: URL(fileURLWithPath: output), format: .pcm16)
        if let timeline {
            try TimelineJSON.write(speechResult, to: URL(fileURLWithPath: timeline))
        }

        let seconds = elapsed.seconds
        let duration = speechResult.duration
        print("voice: \(choice.voice.id)\(choice.variant.map { " (variant \($0))" } ?? "") (loaded in \(format(loading.seconds * 1000)) ms)")
        print("wrote \(output): \(format(duration)) s of speech at \(audio.sampleRate) Hz, 16-bit mono")
        print("synthesis: \(format(seconds * 1000)) ms (real-time factor \(format(seconds / max(duration, 1e-9), digits: 3)))")
        print("timeline: \(speechResult.words.count) words, \(speechResult.phonemes.count) phonemes, end at sample \(speechResult.timeline.last?.sample ?? 0)")
    }
}

struct VoicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voices",
        abstract: "List the voices (id, engine, language, sample rate) and the default voice of each language."
    )

    @OptionGroup var voices: VoiceFolderOptions

    @Flag(help: "List every espeak-ng language too (one voice per language).")
    var all = false

    func run() async throws {
        let catalog = try await voices.catalog()
        let defaults = catalog.defaults
        func row(_ columns: String...) -> String { zip(columns, [35, 9, 15, 9, 0]).map { cell($0, $1) }.joined(separator: " ") }
        print(row("ID", "ENGINE", "LANGUAGE", "RATE(Hz)", "DEFAULT FOR"))
        var espeakHidden = 0
        for entry in catalog.entries {
            // espeak-ng has a voice for ~100 languages: by default only those of the seed's languages are listed.
            if entry.engine == .espeak && !all && !["ru", "en", "en-us"].contains(entry.language) { espeakHidden += 1; continue }
            let languages = defaults.filter { $0.value == entry.id }.keys.sorted()
            print(row(entry.id, entry.engine.rawValue, entry.problem == nil ? entry.language : "-",
                      entry.problem == nil ? String(entry.sampleRate) : "-",
                      entry.problem.map { "UNUSABLE: \($0)" } ?? languages.joined(separator: " ")))
        }
        if espeakHidden > 0 { print("... and espeak/<language> for \(espeakHidden) more languages (--all lists them)") }
        print("espeak-ng variants (--voice with any language's espeak voice): \(catalog.espeakVariants.joined(separator: " "))")
        print("folders searched for Piper voices: \(voices.folders.map(\.path).joined(separator: ", "))")
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

    @Option(help: "Voice id (piper/NAME, festival/NAME, espeak/LANGUAGE) or an espeak-ng variant (f3, m2, ...); default: the language's default voice (see `lipsync voices`).")
    var voice: String?

    @Option(help: "Speaking rate in words per minute (80-450).")
    var rate: Int = 175

    @Option(help: "Longest text accepted, in characters.")
    var maxCharacters: Int = SpeechLimits.default.maxCharacters

    @OptionGroup var voices: VoiceFolderOptions

    var request: (String) -> SpeechRequest {
        { SpeechRequest(text: $0, language: language, voice: voice, wordsPerMinute: rate) }
    }

    /// The voice catalog (nothing loaded: a voice loads when it first speaks).
    func catalog() async throws -> VoiceCatalog {
        try await voices.catalog(limits: SpeechLimits(maxCharacters: maxCharacters))
    }
}

/// Where Piper voices are found.
struct VoiceFolderOptions: ParsableArguments {
    @Option(name: .customLong("voices"),
            help: "Folder of Piper voices (NAME.onnx + NAME.onnx.json; default: $LIPSYNC_VOICES or voices/). The bundled voices in .cache/voices are always found.")
    var folder: String?

    var folders: [URL] {
        let chosen = folder ?? ProcessInfo.processInfo.environment["LIPSYNC_VOICES"]
        return [chosen.map { URL(fileURLWithPath: $0) } ?? ProjectPaths.root.appendingPathComponent("voices"),
                VoiceCatalog.bundledFolder(root: ProjectPaths.root)]
    }

    func catalog(limits: SpeechLimits = .default) async throws -> VoiceCatalog {
        try await VoiceCatalog.discover(piperFolders: folders, limits: limits)
    }
}
