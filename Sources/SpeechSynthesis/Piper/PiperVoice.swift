import Foundation
import Inference

/// A Piper voice: a VITS model exported to ONNX (`NAME.onnx`) with its settings (`NAME.onnx.json`),
/// run by OpenVINO. Text becomes IPA through libespeak-ng (the voice's `espeak.voice`), IPA becomes ids
/// through the voice's `phoneme_id_map` (BOS `^`, a pad `_` after every id, EOS `$`), and the model
/// turns ids into 16-bit-range float audio. The duration predictor's output (frames per id) is made a
/// graph output when the voice is loaded, so every phoneme's start is known to the sample.
package final class PiperVoice: Sendable {
    /// The part of `NAME.onnx.json` that synthesis needs.
    package struct Settings: Decodable, Sendable {
        struct Audio: Decodable { var sample_rate: Int }
        struct Espeak: Decodable { var voice: String }
        struct Scales: Decodable { var noise_scale: Double; var length_scale: Double; var noise_w: Double }
        struct Language: Decodable { var code: String }

        private var audio: Audio
        private var espeak: Espeak
        private var inference: Scales
        private var language: Language?
        private var phoneme_type: String?
        var phoneme_id_map: [String: [Int]]

        var sampleRate: Int { audio.sample_rate }
        var espeakVoice: String { espeak.voice }
        var noiseScale: Double { inference.noise_scale }
        var lengthScale: Double { inference.length_scale }
        var noiseW: Double { inference.noise_w }
        var phonemeType: String { phoneme_type ?? "espeak" }
        /// Lower case with a hyphen (`en-us`, `ru-ru`), from `language.code`, else the espeak voice.
        var languageCode: String { VoiceCatalog.normalise(language?.code ?? espeak.voice) }
    }

    package let name: String
    package let file: URL
    package let settings: Settings
    let model: CompiledModel
    let durationOutput: String
    let takesSpeaker: Bool

    /// The settings of the voice in `file` (its `.onnx.json`), read without loading the model.
    package static func settings(of file: URL) throws -> Settings {
        let json = URL(fileURLWithPath: file.path + ".json")
        guard let data = try? Data(contentsOf: json) else {
            throw SpeechError.voiceUnusable(file.lastPathComponent, "its settings \(json.lastPathComponent) are missing beside it")
        }
        let settings: Settings
        do {
            settings = try JSONDecoder().decode(Settings.self, from: data)
        } catch {
            throw SpeechError.voiceUnusable(file.lastPathComponent, "\(json.lastPathComponent) is not a Piper voice's settings (\(Self.describe(error)))")
        }
        guard settings.phonemeType == "espeak" else {
            throw SpeechError.voiceUnusable(file.lastPathComponent, "phoneme_type '\(settings.phonemeType)' is not supported (only espeak)")
        }
        guard settings.sampleRate >= 8_000, ["^", "$", "_"].allSatisfy({ settings.phoneme_id_map[$0]?.isEmpty == false }) else {
            throw SpeechError.voiceUnusable(file.lastPathComponent, "\(json.lastPathComponent) lacks a sample rate or the ids of ^, $ and _")
        }
        return settings
    }

    /// Loads and compiles the voice (a few seconds; done once per process).
    package init(file: URL, runtime: InferenceRuntime) throws {
        name = file.deletingPathExtension().lastPathComponent
        self.file = file
        settings = try Self.settings(of: file)
        let data: Data
        do { data = try Data(contentsOf: file, options: .mappedIfSafe) } catch {
            throw SpeechError.voiceUnusable(file.lastPathComponent, "cannot read it (\(error.localizedDescription))")
        }
        do {
            // VITS rounds the predicted durations up (one Ceil node): frames per input id.
            let ceilings = try ONNXGraphOutputs.outputs(ofNodesWithOperator: "Ceil", in: data)
            guard ceilings.count == 1 else {
                throw SpeechError.voiceUnusable(file.lastPathComponent, "no single duration output (\(ceilings.count) Ceil nodes); not a Piper/VITS export")
            }
            durationOutput = ceilings[0]
            let edited = try ONNXGraphOutputs.adding(outputs: ceilings, to: data)
            model = try runtime.compile(onnx: edited, file: file,
                                        options: CompileOptions(hint: .latency, precision: .f32, requests: 1, cpuPinning: false,
                                                                shapeCacheCapacity: Self.shapeCacheCapacity))
        } catch let error as SpeechError {
            throw error
        } catch {
            throw SpeechError.voiceUnusable(file.lastPathComponent, "\(error)")
        }
        let inputs = Dictionary(model.inputs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        guard inputs["input"]?.elementType == "i64", inputs["input"]?.shape.count == 2,
              inputs["input_lengths"]?.elementType == "i64", inputs["scales"]?.elementType == "f32",
              model.outputs.first?.elementType == "f32" else {
            throw SpeechError.voiceUnusable(file.lastPathComponent,
                "its inputs are \(model.inputs.map(\.description).joined(separator: ", ")); a Piper voice takes input (i64 [1,N]), input_lengths (i64 [1]) and scales (f32 [3])")
        }
        takesSpeaker = inputs["sid"] != nil
        try warmUp()
    }

    /// One inference of the longest piece at load: a voice that cannot run fails here, with its reason, not
    /// on a user's request, and the first request does not pay for OpenVINO's first-run set-up. (Memory
    /// still grows over the first few dozen sentences of varied length, to a plateau: OpenVINO keeps the
    /// buffers of the shapes it has run.)
    private func warmUp() throws {
        let map = settings.phoneme_id_map
        guard let vowel = map["a"]?.first, let consonant = map["t"]?.first, let pad = map["_"]?.first,
              let bos = map["^"]?.first, let eos = map["$"]?.first else { return }
        var ids = [Int64(bos), Int64(pad)]
        while ids.count < Self.maxIds(wordsPerMinute: 175) - 1 {
            ids += [Int64(ids.count % 4 == 2 ? consonant : vowel), Int64(pad)]
        }
        ids.append(Int64(eos))
        do {
            _ = try model.inferBlocking(inputs(ids, wordsPerMinute: 175))
        } catch {
            throw SpeechError.voiceUnusable(file.lastPathComponent, "it failed its first inference (\(error))")
        }
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "no '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "bad '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted: return "not JSON"
        default: return "\(error)"
        }
    }

    /// Speaks `text`: clauses are phonemized by espeak-ng, grouped into pieces of whole sentences (or
    /// clauses, for a very long sentence) and synthesized one piece per inference; the pieces are joined
    /// as they are, so the pauses are the voice's own.
    package func synthesize(_ text: String, wordsPerMinute: Int) async throws -> SynthesizedSpeech {
        let clauses = try await EspeakSynthesizer.phonemize(text, voice: settings.espeakVoice)
        var samples: [Float] = []
        var timeline: [SpeechEvent] = []
        for piece in Self.pieces(clauses, maxIds: Self.maxIds(wordsPerMinute: wordsPerMinute)) {
            try Task.checkCancellation()
            let (ids, labels) = encode(piece)
            guard labels.contains(where: { if case .phoneme = $0 { return true } else { return false } }) else { continue }
            let (audio, frames) = try await infer(ids, wordsPerMinute: wordsPerMinute)
            let offset = samples.count
            samples += audio
            timeline += Self.events(labels: labels, frames: frames, audioCount: audio.count, offset: offset, piece: piece)
        }
        guard !samples.isEmpty else { throw SpeechError.nothingToSay(voice: "piper/\(name)") }
        // VITS output is not level-normalised (joe peaks near 0.5): bring the utterance's peak to 0.95, as
        // Piper itself does, so every voice plays at a similar loudness.
        let peak = samples.reduce(0) { max($0, abs($1)) }
        if peak > 0.01 {
            let gain = 0.95 / peak
            for index in samples.indices { samples[index] *= gain }
        }
        timeline.append(SpeechEvent(kind: .end, sample: samples.count))
        return SynthesizedSpeech(samples: samples, sampleRate: settings.sampleRate, timeline: timeline)
    }

    /// Every sentence has its own length: without a bound, OpenVINO keeps kernels for thousands of shapes
    /// and the process grows with every new one.
    static let shapeCacheCapacity = 16

    /// Ids per inference stay under this; longer sentences are split at their clauses.
    static let maxIdsPerPiece = 200

    /// Ids per piece at a rate: slower speech has longer audio per id, and the decoder's buffers follow the
    /// audio's length, so a piece holds about the same seconds of speech whatever the rate.
    static func maxIds(wordsPerMinute: Int) -> Int {
        max(60, min(maxIdsPerPiece, maxIdsPerPiece * wordsPerMinute / 175))
    }

    /// Sentences (clauses up to one that ends a sentence), split further at clauses when too long, and a
    /// clause too long for one piece at its words: a piece's audio, and so the voice's memory, is bounded.
    static func pieces(_ clauses: [PhonemizedClause], maxIds: Int = maxIdsPerPiece) -> [[PhonemizedClause]] {
        var pieces: [[PhonemizedClause]] = [], current: [PhonemizedClause] = [], length = 0
        for clause in clauses.flatMap({ Self.fitting($0, maxIds: maxIds) }) {
            let cost = 2 * (clause.phonemes.unicodeScalars.count + 2)
            if !current.isEmpty && length + cost > maxIds {
                pieces.append(current)
                current = []; length = 0
            }
            current.append(clause)
            length += cost
            if clause.endsSentence {
                pieces.append(current)
                current = []; length = 0
            }
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }

    /// A clause cut at word boundaries into parts that fit one piece (the last part keeps the punctuation);
    /// its text is cut the same way when it has as many words as the IPA.
    static func fitting(_ clause: PhonemizedClause, maxIds: Int = maxIdsPerPiece) -> [PhonemizedClause] {
        let limit = maxIds / 2 - 4
        guard clause.phonemes.unicodeScalars.count > limit else { return [clause] }
        let words = clause.phonemes.split(separator: " ").map(String.init)
        let textWords = clause.text.split(whereSeparator: { $0.isWhitespace }).map(String.init)
            .filter { $0.contains(where: { $0.isLetter || $0.isNumber }) }
        var parts: [PhonemizedClause] = [], phonemes: [String] = [], text: [String] = [], length = 0
        for (index, word) in words.enumerated() {
            let cost = word.unicodeScalars.count + 1
            if !phonemes.isEmpty && length + cost > limit {
                parts.append(PhonemizedClause(text: text.joined(separator: " "), phonemes: phonemes.joined(separator: " "), terminator: nil))
                phonemes = []; text = []; length = 0
            }
            // A single word longer than the limit (a run of symbols) is cut inside.
            for chunk in stride(from: 0, to: word.unicodeScalars.count, by: limit).map({ start in
                String(String.UnicodeScalarView(word.unicodeScalars.dropFirst(start).prefix(limit)))
            }) {
                if !phonemes.isEmpty && length + chunk.unicodeScalars.count + 1 > limit {
                    parts.append(PhonemizedClause(text: text.joined(separator: " "), phonemes: phonemes.joined(separator: " "), terminator: nil))
                    phonemes = []; text = []; length = 0
                }
                phonemes.append(chunk)
                length += chunk.unicodeScalars.count + 1
            }
            if textWords.count == words.count { text.append(textWords[index]) }
        }
        parts.append(PhonemizedClause(text: text.joined(separator: " "), phonemes: phonemes.joined(separator: " "), terminator: clause.terminator))
        return parts
    }

    /// What an input id stands for, for the timeline.
    enum Label: Equatable {
        case silence              // BOS, EOS
        case pad                  // the pad after every id: belongs to what precedes it
        case phoneme(String)
        case modifier             // length marks, diacritics, ʲ: part of the sound before them
        case stress               // ˈ ˌ: written before the stressed syllable, part of the sound after them
        case wordBreak
        case pause                // punctuation: the voice pauses
    }

    func encode(_ piece: [PhonemizedClause]) -> (ids: [Int64], labels: [Label]) {
        let map = settings.phoneme_id_map
        var ids: [Int64] = [], labels: [Label] = []
        func add(_ symbol: String, _ label: Label) {
            guard let symbolIds = map[symbol] else { return }  // a symbol the voice never learnt: skipped
            for id in symbolIds {
                ids.append(Int64(id)); labels.append(label)
                if let pad = map["_"] { ids += pad.map(Int64.init); labels += Array(repeating: .pad, count: pad.count) }
            }
        }
        add("^", .silence)
        for (index, clause) in piece.enumerated() {
            // Piper's ids are per code point of the decomposed IPA.
            for scalar in clause.phonemes.decomposedStringWithCanonicalMapping.unicodeScalars {
                let symbol = String(scalar)
                switch scalar {
                case " ": add(symbol, .wordBreak)
                case "ˈ", "ˌ": add(symbol, .stress)
                case "ː", "ˑ": add(symbol, .modifier)
                default:
                    // Diacritics and modifier letters (ʲ, ʰ) colour the sound before them.
                    if scalar.properties.isDiacritic || scalar.properties.generalCategory == .modifierLetter {
                        add(symbol, .modifier)
                    } else {
                        add(symbol, .phoneme(symbol))
                    }
                }
            }
            if let terminator = clause.terminator { add(String(terminator), .pause) }
            if index < piece.count - 1 { add(" ", .wordBreak) }
        }
        // EOS without a pad after it, as Piper writes it.
        if let eos = map["$"] { ids += eos.map(Int64.init); labels += Array(repeating: .silence, count: eos.count) }
        return (ids, labels)
    }

    private func inputs(_ ids: [Int64], wordsPerMinute: Int) -> [String: Tensor] {
        var inputs: [String: Tensor] = [
            "input": Tensor(shape: [1, ids.count], int64: ids),
            "input_lengths": Tensor(shape: [1], int64: [Int64(ids.count)]),
            "scales": Tensor(shape: [3], values: [Float(settings.noiseScale),
                                                   Float(settings.lengthScale * 175 / Double(max(1, wordsPerMinute))),
                                                   Float(settings.noiseW)]),
        ]
        if takesSpeaker { inputs["sid"] = Tensor(shape: [1], int64: [0]) }
        return inputs
    }

    private func infer(_ ids: [Int64], wordsPerMinute: Int) async throws -> (audio: [Float], frames: [Float]) {
        let outputs = try await model.infer(inputs(ids, wordsPerMinute: wordsPerMinute))
        guard let audio = outputs[model.outputs[0].name], let frames = outputs[durationOutput] else {
            throw SpeechError.engineFailure("\(name) gave no audio or durations")
        }
        return (audio.values, frames.values)
    }

    /// Phoneme, pause, word and sentence events from the frames per id: the audio is `hop` samples per
    /// frame, so id i starts at hop × (frames of ids before it).
    static func events(labels: [Label], frames: [Float], audioCount: Int, offset: Int, piece: [PhonemizedClause]) -> [SpeechEvent] {
        let total = frames.prefix(labels.count).reduce(0, +)
        guard total > 0, frames.count >= labels.count else { return [] }
        let hop = Double(audioCount) / Double(total)
        var events: [SpeechEvent] = [SpeechEvent(kind: .sentence, sample: offset)]
        var words = piece.flatMap { $0.text.split(whereSeparator: { $0.isWhitespace }).map(String.init) }
            .filter { $0.contains(where: { $0.isLetter || $0.isNumber }) }
        let phonemeWords = piece.flatMap { $0.phonemes.split(separator: " ") }.count
        if words.count != phonemeWords { words = [] }  // espeak-ng joined or split words: no word times
        var elapsed: Float = 0, wordStarts = true, wordIndex = 0
        // Where a stress mark's time began: the sound after it starts there (its pad included).
        var stressedFrom: Int?
        for (index, label) in labels.enumerated() {
            var sample = offset + min(audioCount, Int((Double(elapsed) * hop).rounded()))
            if case .pad = label {} else if label != .stress {
                sample = stressedFrom ?? sample
                stressedFrom = nil
            }
            switch label {
            case .stress:
                stressedFrom = stressedFrom ?? sample
            case .phoneme(let name):
                if wordStarts {
                    if wordIndex < words.count { events.append(SpeechEvent(kind: .word(words[wordIndex]), sample: sample)) }
                    wordIndex += 1
                    wordStarts = false
                }
                events.append(SpeechEvent(kind: .phoneme(name), sample: sample))
            case .pause:
                events.append(SpeechEvent(kind: .phoneme("_"), sample: sample))
                wordStarts = true
            case .wordBreak:
                wordStarts = true
            case .silence, .pad, .modifier:
                break
            }
            elapsed += frames[index]
        }
        return events
    }
}
