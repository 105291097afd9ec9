import ArgumentParser
import AudioFeatures
import Foundation
import Inference
import LipSync
import SpeechSynthesis

/// Ours (regular and parallel) against the classic Python Wav2Lip loop (scripts/reference_pipeline.py)
/// on the same model, avatar, audio and fps, alternating, each as its own process (wall time and peak
/// memory from /usr/bin/time), plus the bare inference time of the frames ours actually inferred.
struct EndToEndBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "e2e",
        abstract: "End-to-end wall time vs the reference Python pipeline, for 10, 20, 30 and 60 s of Russian speech."
    )

    @Option(help: "Seconds of speech to measure, comma-separated.")
    var durations: String = "10,20,30,60"

    @Option(help: "Wav2Lip model file used by both pipelines.")
    var model: String = ".cache/models/wav2lip_random.onnx"

    @OptionGroup var avatarOptions: AvatarOptions

    @Flag(help: "Skip our parallel mode.")
    var skipParallel = false

    struct Run {
        var seconds: Double
        var peakMB: Double
        var output: String
    }

    func run() async throws {
        let runtime = try InferenceRuntime.shared.get()
        let root = ProjectPaths.root
        let modelURL = URL(fileURLWithPath: model, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        let avatarFile = avatarOptions.locations.avatarFile
        let (avatar, _) = try avatarOptions.locations.store(runtime: runtime).prepare(avatarFile)
        guard let box = avatar.face(0)?.box else { throw ValidationError("no face in \(avatarFile.path)") }
        let me = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("lipsync-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        // The floor: bare inference of this model here, measured in this run (batch 8, all cores), the way
        // ours runs it (with the face encoder split off when the split files are there).
        let engine = try ModelCatalog(directory: modelURL.deletingLastPathComponent(), converter: .project(root: ProjectPaths.root))
            .load(modelURL.path, runtime: runtime)
        let floorFPS = try await InferenceBench.throughput(of: [engine], batch: 8, seconds: 8)
        print("model \(modelURL.lastPathComponent)\(engine.split != nil ? " (face encoder split off)" : ""), avatar \(avatarFile.lastPathComponent) (face box \(box)), bare inference \(format(floorFPS)) frames/s")
        print("speech  frames | ours regular: s  fps   MB | ours parallel: s    MB | reference: s  fps    MB | ref/ours | floor s  ours/floor")

        let synthesizer = try EspeakSynthesizer(limits: SpeechLimits(maxCharacters: 100_000))
        for target in durations.split(separator: ",").compactMap({ Double($0.trimmingCharacters(in: .whitespaces)) }) {
            let speech = try await synthesizer.synthesize(SpeechRequest(text: try await BenchText.russian(seconds: target, synthesizer: synthesizer), language: "ru"))
            let wav = work.appendingPathComponent("speech-\(Int(target)).wav")
            try WAVFile.write(AudioBuffer(samples: speech.samples, sampleRate: speech.sampleRate), to: wav)
            let out = work.appendingPathComponent("out.mp4")
            let reference = try timed(root.appendingPathComponent(".venv/bin/python"), [
                root.appendingPathComponent("scripts/reference_pipeline.py").path, "--model", modelURL.path, "--avatar", avatarFile.path,
                "--box", "\(box.x),\(box.y),\(box.maxX),\(box.maxY)", "--audio", wav.path, "-o", out.path])
            let regular = try timed(me, ["generate", "--audio", wav.path, "--model", modelURL.path, "--avatar", avatarFile.path, "-o", out.path])
            let parallel = skipParallel ? nil : try timed(me, ["generate", "--audio", wav.path, "--model", modelURL.path, "--avatar", avatarFile.path,
                                                               "--parallel", "--assign", "same", "--min-parallel-duration", "0", "-o", out.path])
            let frames = Self.number(after: "wrote \(out.path): ", in: regular.output) ?? 0
            let inferred = Self.number(before: " frames rendered", in: regular.output) ?? frames
            let referenceFrames = Self.number(after: "reference frames=", in: reference.output) ?? 0
            let floor = Double(inferred) / floorFPS
            let columns: [String] = [
                format(speech.duration, digits: 1).leftPadded(6), String(frames).leftPadded(7), " |",
                format(regular.seconds, digits: 1).leftPadded(16), format(Double(frames) / regular.seconds, digits: 1).leftPadded(5),
                format(regular.peakMB, digits: 0).leftPadded(5), " |",
                (parallel.map { format($0.seconds, digits: 1) } ?? "-").leftPadded(17), (parallel.map { format($0.peakMB, digits: 0) } ?? "-").leftPadded(6), " |",
                format(reference.seconds, digits: 1).leftPadded(13), format(Double(referenceFrames) / reference.seconds, digits: 1).leftPadded(5),
                format(reference.peakMB, digits: 0).leftPadded(6), " |", (format(reference.seconds / regular.seconds) + "x").leftPadded(8), " |",
                format(floor, digits: 1).leftPadded(8), format(regular.seconds / floor).leftPadded(11),
            ]
            print(columns.joined(separator: " "))
            if inferred != frames { print("        (ours inferred \(inferred) of \(frames) frames; the rest were silent and reused a patch)") }
        }
    }

    /// Runs a program under /usr/bin/time: wall seconds, peak resident memory, its standard output.
    func timed(_ executable: URL, _ arguments: [String]) throws -> Run {
        let timing = FileManager.default.temporaryDirectory.appendingPathComponent("lipsync-time-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: timing) }
        let output = try Tool.run(URL(fileURLWithPath: "/usr/bin/time"), ["-f", "%e %M", "-o", timing.path, executable.path] + arguments)
        let fields = try String(contentsOf: timing, encoding: .utf8).split(whereSeparator: \.isWhitespace)
        guard fields.count >= 2, let seconds = Double(fields[fields.count - 2]), let kilobytes = Double(fields[fields.count - 1]) else {
            throw ValidationError("could not read /usr/bin/time's figures")
        }
        return Run(seconds: seconds, peakMB: kilobytes / 1024, output: output)
    }

    static func number(after prefix: String, in text: String) -> Int? {
        guard let range = text.range(of: prefix) else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }

    static func number(before suffix: String, in text: String) -> Int? {
        guard let range = text.range(of: suffix) else { return nil }
        return Int(String(text[..<range.lowerBound].reversed().prefix { $0.isNumber }.reversed()))
    }
}

/// Russian texts of about a given spoken length, from the sample paragraph repeated (its speaking rate
/// measured by synthesizing it once).
enum BenchText {
    static func russian(seconds: Double, synthesizer: EspeakSynthesizer) async throws -> String {
        let paragraph = try String(contentsOf: ProjectPaths.root.appendingPathComponent("scripts/samples/ru.txt"), encoding: .utf8)
        let words = paragraph.split(whereSeparator: \.isWhitespace).map(String.init)
        let probe = try await synthesizer.synthesize(SpeechRequest(text: paragraph, language: "ru"))
        let count = max(1, Int((seconds / (probe.duration / Double(words.count))).rounded()))
        return (0..<count).map { words[$0 % words.count] }.joined(separator: " ")
    }
}
