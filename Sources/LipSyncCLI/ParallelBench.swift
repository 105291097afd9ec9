import ArgumentParser
import Foundation
import Inference
import LipSync
import Pipeline
import SpeechSynthesis

/// Regular vs parallel generation on the same speech, for several lengths, measured in one run.
struct ParallelBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parallel",
        abstract: "Wall time of regular vs parallel generation for 10, 20, 30 and 60 s of Russian speech."
    )

    @Option(help: "Seconds of speech to measure, comma-separated.")
    var durations: String = "10,20,30,60"

    @Option(help: "Engine: viseme, or wav2lip with --model.")
    var engine: String = "viseme"

    @Option(help: "Wav2Lip model file (split mode loads it twice, as GAN and NOGAN stand-ins).")
    var model: String = ".cache/models/wav2lip_random.onnx"

    @Option(help: "Parallel assignment: split (two models) or same.")
    var assign: WorkerAssignment = .split

    @OptionGroup var avatarOptions: AvatarOptions

    func run() async throws {
        let runtime = try InferenceRuntime.shared.get()
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let targets = durations.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        let synthesizer = try EspeakSynthesizer(limits: SpeechLimits(maxCharacters: 100_000))
        let generator = Generator(synthesizer: synthesizer, avatars: avatarOptions.locations.store(runtime: runtime))
        let parallel = ParallelGenerator(generator: generator)

        let regularEngine: any LipSyncEngine
        var parallelEngines: [any LipSyncEngine]
        switch engine {
        case "viseme":
            regularEngine = VisemeEngine()
            parallelEngines = assign == .split ? [VisemeEngine(), VisemeEngine()] : [regularEngine]
        case "wav2lip":
            let url = URL(fileURLWithPath: model)
            regularEngine = try Wav2LipEngine(name: "wav2lip", model: try runtime.compile(url, options: CompileOptions(batchSize: 8)))
            if assign == .split {
                parallelEngines = try ["wav2lip", "wav2lip_gan"].map {
                    try Wav2LipEngine(name: $0, model: try runtime.compile(url, options: CompileOptions(threads: max(1, cores / 2), batchSize: 8, cpuPinning: false)))
                }
            } else {
                parallelEngines = [try Wav2LipEngine(name: "wav2lip", model: try runtime.compile(url, options: CompileOptions(hint: .throughput, batchSize: 8, requests: 2)))]
            }
        default:
            throw ValidationError("--engine is viseme or wav2lip")
        }

        print("engine \(engine), parallel assignment \(assign.rawValue), \(cores) cores, avatar \(avatarOptions.locations.avatarFile.lastPathComponent)")
        print("speech(s)  frames  regular(s)  parallel(s)  speed-up  chunks  note")
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("lipsync-bench-\(UUID().uuidString).mp4")
        defer { try? FileManager.default.removeItem(at: output) }
        for target in targets {
            let text = try await BenchText.russian(seconds: target, synthesizer: synthesizer)
            let source = GenerationSource.text(SpeechRequest(text: text, language: "ru"))
            // Warm the avatar cache and the engines once, then alternate: regular, parallel.
            _ = try await generator.generate(.text(SpeechRequest(text: "Проверка.", language: "ru")),
                                             avatar: avatarOptions.locations.avatarFile, engine: regularEngine, output: output)
            let regular = try await generator.generate(source, avatar: avatarOptions.locations.avatarFile, engine: regularEngine, output: output)
            let (split, report) = try await parallel.generate(source, avatar: avatarOptions.locations.avatarFile, engines: parallelEngines,
                                                               output: output, parallel: ParallelOptions(assignment: assign))
            let speedUp = regular.timings.total / split.timings.total
            let note = report.fallbackReason.map { "ran as regular: \($0)" } ?? report.chunks.map(\.model).joined(separator: ",")
            print([format(regular.audioDuration, digits: 1).leftPadded(9), String(regular.frameCount).leftPadded(7),
                   format(regular.timings.total).leftPadded(11), format(split.timings.total).leftPadded(12),
                   (format(speedUp) + "x").leftPadded(9), String(report.chunks.count).leftPadded(7), " " + note].joined(separator: " "))
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
