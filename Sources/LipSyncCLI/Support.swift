import ArgumentParser
import Foundation
import LipSync
import SpeechSynthesis

// Errors thrown from `run()` are printed by ArgumentParser as `Error: <description>` with exit code 1,
// so domain errors only need a readable `description`.

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

func format(_ value: Double, digits: Int = 2) -> String {
    String(format: "%.\(digits)f", value)
}

/// A table cell: `text` padded with spaces to `width`, never cut.
func cell(_ text: String, _ width: Int) -> String {
    text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0)
}

/// The speech timeline as JSON, for checking and for other tools.
enum TimelineJSON {
    struct Entry: Encodable {
        var kind: String
        var sample: Int
        var seconds: Double
        var text: String?
    }

    struct Document: Encodable {
        var sampleRate: Int
        var samples: Int
        var events: [Entry]
    }

    static func write(_ speech: SynthesizedSpeech, to url: URL) throws {
        let rate = Double(speech.sampleRate)
        let entries = speech.timeline.map { event -> Entry in
            let seconds = Double(event.sample) / rate
            switch event.kind {
            case .sentence: return Entry(kind: "sentence", sample: event.sample, seconds: seconds)
            case .word(let text): return Entry(kind: "word", sample: event.sample, seconds: seconds, text: text)
            case .phoneme(let name): return Entry(kind: "phoneme", sample: event.sample, seconds: seconds, text: name)
            case .end: return Entry(kind: "end", sample: event.sample, seconds: seconds)
            }
        }
        try write(Document(sampleRate: speech.sampleRate, samples: speech.samples.count, events: entries), to: url)
    }

    /// The phonemes a generation animated (times in seconds of its audio), in the same format.
    static func write(_ phonemes: [SpeechCues.Phoneme], duration: Double, sampleRate: Int, to url: URL) throws {
        let rate = Double(sampleRate)
        var entries = phonemes.map { Entry(kind: "phoneme", sample: Int(($0.start * rate).rounded()), seconds: $0.start, text: $0.name) }
        entries.append(Entry(kind: "end", sample: Int((duration * rate).rounded()), seconds: duration))
        try write(Document(sampleRate: sampleRate, samples: Int((duration * rate).rounded()), events: entries), to: url)
    }

    private static func write(_ document: Document, to url: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(document).write(to: url)
    }
}

/// Where the project lives, for defaults such as `models/`: the folder holding Package.swift above the
/// executable, else the current directory.
enum ProjectPaths {
    static let root: URL = {
        var url = (Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])).resolvingSymlinksInPath()
        while url.pathComponents.count > 1 {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()
}
