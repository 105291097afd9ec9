import ArgumentParser
import Foundation
import SpeechSynthesis

/// Each default voice (and espeak-ng for comparison): load time, then the real-time factor (synthesis
/// time / audio duration) over the sample paragraphs, and the process's peak memory with them all loaded.
struct VoiceBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voices",
        abstract: "Load time and real-time factor of every default voice, and peak memory with all of them loaded."
    )

    @OptionGroup var voices: VoiceFolderOptions

    @Option(help: "Times each paragraph is spoken per voice (the first run is reported apart, as a warm-up).")
    var repeats: Int = 3

    func run() async throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        let catalog = try await voices.catalog(limits: SpeechLimits(maxCharacters: 100_000))
        let samples = ProjectPaths.root.appendingPathComponent("scripts/samples")
        let texts = ["ru": try String(contentsOf: samples.appendingPathComponent("ru.txt"), encoding: .utf8),
                     "en": try String(contentsOf: samples.appendingPathComponent("en.txt"), encoding: .utf8)]
        var cases: [(language: String, voice: String)] = []
        for language in ["ru", "en"] {
            let voice = catalog.defaultVoice(for: language)
            if let voice { cases.append((language, voice.id)) }
            if voice?.engine != .espeak { cases.append((language, "espeak/\(language)")) }
        }
        print("\(ProcessInfo.processInfo.activeProcessorCount) cores; paragraphs from scripts/samples; RTF = synthesis time / audio time (lower is faster)")
        print("")
        print(row("voice", "lang", "load s", "audio s", "first RTF", "RTF", "phonemes"))
        let clock = ContinuousClock()
        for (language, id) in cases {
            let request = SpeechRequest(text: texts[language]!, language: language, voice: id)
            let choice = try catalog.choose(request)
            var start = clock.now
            try await catalog.load(id)
            let load = (clock.now - start).seconds
            var rtfs: [Double] = [], audio = 0.0, phonemes = 0
            for _ in 0..<repeats {
                start = clock.now
                let speech = try await catalog.synthesize(request, choice: choice)
                let elapsed = (clock.now - start).seconds
                rtfs.append(elapsed / speech.duration)
                audio = speech.duration
                phonemes = speech.phonemes.count
            }
            let steady = rtfs.count > 1 ? Array(rtfs.dropFirst()) : rtfs
            print(row(id, language, format(load), format(audio, digits: 1), format(rtfs[0], digits: 3),
                      format(steady.reduce(0, +) / Double(steady.count), digits: 3), "\(phonemes)"))
        }
        print("")
        print("peak memory of this process with these voices loaded: \(Self.peakResidentMB()) MB (VmHWM)")
    }

    private func row(_ columns: String...) -> String {
        zip(columns, [29, 5, 8, 8, 10, 7, 0]).map { cell($0, $1) }.joined(separator: " ")
    }

    static func peakResidentMB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kb / 1024
    }
}
