import AudioFeatures
import Dispatch
import Foundation
import Media

/// A Festival voice (Debian's `festival` with `festvox-ru`'s `msu_ru_nsh_clunits`, a unit-selection
/// voice recorded from a Russian speaker) in one long-lived `festival --pipe` process: the voice loads
/// once, then each sentence costs a Scheme command. Festival answers with the segments' end times (the
/// timeline) and writes the wave to a scratch file. Its output is block-buffered on a pipe, so it runs
/// under `stdbuf -oL`. Commands are serialised on one queue, like espeak-ng's.
package final class FestivalSynthesizer: @unchecked Sendable {
    package struct Voice: Sendable, Hashable {
        package var name: String
        package var language: String
        package var sampleRate: Int
        /// The folder the voice's files are in (its presence means the voice is installed).
        package var folder: String
    }

    /// The Festival voices this project knows how to drive (their phone sets are mapped to IPA below).
    package static let known = [
        Voice(name: "msu_ru_nsh_clunits", language: "ru", sampleRate: 16_000, folder: "/usr/share/festival/voices/russian/msu_ru_nsh_clunits"),
    ]

    /// Known voices whose files are installed, with `festival` on PATH.
    package static func installed() -> [Voice] {
        guard (try? ToolProcess.locate("festival")) != nil else { return [] }
        return known.filter { FileManager.default.fileExists(atPath: $0.folder) }
    }

    package let voice: Voice
    private let queue = DispatchQueue(label: "lipsync.festival")
    private var session: Session?

    /// Starts Festival and loads the voice (about half a second).
    package init(voice: Voice) throws {
        self.voice = voice
        session = try queue.sync { try Session(voice: voice) }
    }

    deinit { session?.tool.terminate() }

    /// Speaks `text` sentence by sentence; the sentences' audio and timelines are joined. A unit-selection
    /// voice speaks at its speaker's own rate (Festival ignores Duration_Stretch for it).
    package func synthesize(_ text: String) async throws -> SynthesizedSpeech {
        let sentences = Self.sentences(Self.normalise(text))
        guard !sentences.isEmpty else { throw SpeechError.emptyText }
        var samples: [Float] = [], timeline: [SpeechEvent] = [], sampleRate = 0
        for sentence in sentences {
            try Task.checkCancellation()
            let part = try await run(sentence)
            if sampleRate == 0 { sampleRate = part.sampleRate }
            guard part.sampleRate == sampleRate else { throw SpeechError.engineFailure("Festival changed its sample rate mid-text") }
            let offset = samples.count
            samples += part.samples
            timeline.append(SpeechEvent(kind: .sentence, sample: offset))
            timeline += part.timeline.dropLast().map { event in
                var event = event
                event.sample += offset
                return event
            }
        }
        guard samples.count > sampleRate / 20 else { throw SpeechError.engineFailure("Festival produced no audio") }
        timeline.append(SpeechEvent(kind: .end, sample: samples.count))
        return SynthesizedSpeech(samples: samples, sampleRate: sampleRate, timeline: timeline)
    }

    private func run(_ sentence: String) async throws -> SynthesizedSpeech {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result {
                    // A process that died (killed, crashed) is started again once.
                    if self.session == nil || self.session?.tool.process.isRunning == false {
                        self.session = try Session(voice: self.voice)
                    }
                    let wave = try TemporaryFile(suffix: ".wav")
                    return try self.session!.speak(sentence, file: wave.url)
                })
            }
        }
    }

    // MARK: Text

    /// Festival's Russian letter-to-sound rules stop the whole utterance at a character they do not know
    /// (an em dash, guillemets, an ellipsis, №): such characters become the punctuation they stand for
    /// or a space. Digits and Latin words are read by the voice itself.
    static func normalise(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "—", "–", "‒", "―": result += ", "
            case "…": result += "."
            case "«", "»", "„", "“", "”", "\"", "‘", "’", "'", "`", "\\": result += " "
            case "№": result += " номер "
            case "%": result += " процентов "
            case "+": result += " плюс "
            case "=": result += " равно "
            case "&": result += " и "
            case ".", ",", "!", "?", ";", ":", "-", "(", ")": result.append(character)
            default:
                if character.isLetter || character.isNumber || character.isWhitespace {
                    result.append(character.isWhitespace ? " " : character)
                } else {
                    result += " "
                }
            }
        }
        // A token of punctuation alone (" , ") also stops the rules: it joins the word before it.
        var tokens: [String] = []
        for token in result.split(separator: " ").map(String.init) {
            if token.contains(where: { $0.isLetter || $0.isNumber }) {
                tokens.append(token)
            } else if let mark = token.first(where: { ".,!?;:-".contains($0) }), let last = tokens.last,
                      last.last.map({ $0.isLetter || $0.isNumber || $0 == ")" }) == true {
                tokens[tokens.count - 1] = last + (mark == "-" ? "," : String(mark))
            }
        }
        return tokens.joined(separator: " ")
    }

    /// Sentences ending at `.`, `!` or `?` (with the punctuation), empty ones dropped.
    static func sentences(_ text: String) -> [String] {
        var sentences: [String] = [], current = ""
        for character in text {
            current.append(character)
            if ".!?".contains(character) {
                sentences.append(current)
                current = ""
            }
        }
        sentences.append(current)
        return sentences.map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.contains(where: { $0.isLetter || $0.isNumber }) }
    }

    // MARK: Phones

    /// `msu_ru` phones as IPA: a doubled consonant is the soft (palatalised) one; `pau` is silence.
    static func ipa(_ phone: String) -> String {
        switch phone {
        case "pau": return "_"
        case "a", "aa": return "a"
        case "o", "oo": return "o"
        case "u", "uu", "ur": return "u"
        case "i", "ii": return "i"
        case "y", "yy": return "ɨ"
        case "e", "ee": return "e"
        case "ae": return "ə"
        case "ay": return "ɪ"
        case "c": return "ts"
        case "ch": return "tɕ"
        case "sh": return "ʂ"
        case "zh": return "ʐ"
        case "sch": return "ɕː"
        case "h": return "x"
        case "hh": return "xʲ"
        case "j": return "j"
        default:
            if phone.count == 2, phone.first == phone.last { return String(phone.first!) + "ʲ" }
            return phone
        }
    }

    /// One `festival --pipe` process with the voice loaded.
    private final class Session {
        let tool: ToolProcess
        private let input: FileHandle
        private let output: FileHandle
        private var buffer = Data()

        init(voice: Voice) throws {
            let stdin = Pipe(), stdout = Pipe()
            tool = try ToolProcess(try ToolProcess.locate("stdbuf"), ["-oL", try ToolProcess.locate("festival").path, "--pipe"],
                                   stdin: stdin, stdout: stdout)
            input = stdin.fileHandleForWriting
            output = stdout.fileHandleForReading
            try send("(voice_\(voice.name))\n(format t \"@@READY\\n\")\n")
            let reply = try readReply()
            guard reply.last == "@@READY" else {
                tool.terminate()
                throw SpeechError.engineFailure("Festival could not load voice \(voice.name): \(tool.errorTail)")
            }
        }

        func speak(_ sentence: String, file: URL) throws -> SynthesizedSpeech {
            // The sentence is a Scheme string: normalise() left no quote or backslash in it.
            let command = """
            (unwind-protect (begin (set! lipsync_utt (utt.synth (Utterance Text "\(sentence)"))) \
            (utt.save.wave lipsync_utt "\(file.path)" 'riff) \
            (mapcar (lambda (s) (format t "S %s %f\\n" (item.name s) (item.feat s "end"))) (utt.relation.items lipsync_utt 'Segment)) \
            (mapcar (lambda (w) (format t "W %f %s\\n" (item.feat w "R:SylStructure.daughter1.daughter1.R:Segment.p.end") (item.name w))) (utt.relation.items lipsync_utt 'Word)) \
            (format t "@@OK\\n")) (format t "@@ERROR\\n"))

            """
            try send(command)
            let reply = try readReply()
            guard reply.last == "@@OK" else {
                throw SpeechError.engineFailure("Festival could not say \"\(sentence.prefix(60))\": \(tool.errorTail.suffix(300))")
            }
            let audio = try WAVFile.read(file)
            let rate = Double(audio.sampleRate)
            var events: [SpeechEvent] = []
            var start = 0.0
            for line in reply where line.hasPrefix("S ") {
                let parts = line.split(separator: " ")
                guard parts.count == 3, let end = Double(parts[2]) else { continue }
                events.append(SpeechEvent(kind: .phoneme(FestivalSynthesizer.ipa(String(parts[1]))), sample: Int(start * rate)))
                start = end
            }
            for line in reply where line.hasPrefix("W ") {
                let parts = line.split(separator: " ", maxSplits: 2)
                guard parts.count == 3, let time = Double(parts[1]) else { continue }
                events.append(SpeechEvent(kind: .word(String(parts[2])), sample: Int(time * rate)))
            }
            // Words first at equal positions, then phonemes, all inside the audio.
            events = events.map { event in
                var event = event
                event.sample = min(max(0, event.sample), audio.samples.count)
                return event
            }.enumerated().sorted { lhs, rhs in
                let lhsWord = { if case .word = lhs.element.kind { return 0 } else { return 1 } }()
                let rhsWord = { if case .word = rhs.element.kind { return 0 } else { return 1 } }()
                return (lhs.element.sample, lhsWord, lhs.offset) < (rhs.element.sample, rhsWord, rhs.offset)
            }.map(\.element)
            events.append(SpeechEvent(kind: .end, sample: audio.samples.count))
            return SynthesizedSpeech(samples: audio.samples, sampleRate: audio.sampleRate, timeline: events)
        }

        private func send(_ text: String) throws {
            do { try input.write(contentsOf: Data(text.utf8)) } catch {
                throw SpeechError.engineFailure("Festival stopped: \(tool.errorTail)")
            }
        }

        /// Lines up to and including the next `@@` marker.
        private func readReply() throws -> [String] {
            var lines: [String] = []
            while true {
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex...newline)
                    lines.append(line)
                    if line.hasPrefix("@@") { return lines }
                }
                let chunk = output.availableData
                guard !chunk.isEmpty else {
                    throw SpeechError.engineFailure("Festival exited: \(tool.errorTail.suffix(300))")
                }
                buffer.append(chunk)
            }
        }
    }
}
