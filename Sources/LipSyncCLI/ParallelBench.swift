import ArgumentParser
import Foundation
import Inference
import LipSync
import Media
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

    @Option(help: "Parallel assignment for wav2lip: split (two models) or same (the viseme engine always runs same).")
    var assign: WorkerAssignment = .split

    @OptionGroup var avatarOptions: AvatarOptions

    func run() async throws {
        let runtime = try InferenceRuntime.shared.get()
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let targets = durations.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        let synthesizer = try EspeakSynthesizer(limits: SpeechLimits(maxCharacters: 100_000))
        let generator = Generator(synthesizer: synthesizer, avatars: avatarOptions.locations.store(runtime: runtime))
        let parallel = ParallelGenerator(generator: generator)

        // The engines come from the same policy as the server's: a models folder where the test model
        // stands in for both wav2lip (NOGAN) and wav2lip_gan (GAN).
        let modelsFolder = try ScratchSpace.makeFolder("lipsync-bench-models")
        defer { try? FileManager.default.removeItem(at: modelsFolder) }
        if engine == "wav2lip" {
            let file = URL(fileURLWithPath: model)
            for name in EngineSet.splitModels {
                try FileManager.default.createSymbolicLink(at: modelsFolder.appendingPathComponent("\(name).onnx"), withDestinationURL: file)
            }
        } else if engine != "viseme" {
            throw ValidationError("--engine is viseme or wav2lip")
        }
        let engines = try EngineSet(catalog: ModelCatalog(directory: modelsFolder), runtime: runtime, loadsOnDemand: false)
        if let failure = engines.preloadInstalled().values.first { throw ValidationError(failure) }
        let regularEngine = try engines.engine(engine: engine, model: nil)
        let workers = try engines.parallelWorkers(engine: engine, model: nil, assignment: engine == "viseme" ? .same : assign)

        print("engine \(engine), parallel assignment \(workers.assignment.rawValue), \(cores) cores, avatar \(avatarOptions.locations.avatarFile.lastPathComponent)")
        print("speech(s)  frames  regular(s)  parallel(s)  speed-up  chunks  note")
        let output = ScratchSpace.directory.appendingPathComponent("lipsync-bench-\(UUID().uuidString).mp4")
        defer { try? FileManager.default.removeItem(at: output) }
        for target in targets {
            let text = try await BenchText.russian(seconds: target, synthesizer: synthesizer)
            let source = GenerationSource.text(SpeechRequest(text: text, language: "ru"))
            // Warm the avatar cache and the engines once, then alternate: regular, parallel.
            _ = try await generator.generate(.text(SpeechRequest(text: "Проверка.", language: "ru")),
                                             avatar: avatarOptions.locations.avatarFile, engine: regularEngine, output: output)
            let regular = try await generator.generate(source, avatar: avatarOptions.locations.avatarFile, engine: regularEngine, output: output)
            let (split, report) = try await parallel.generate(source, avatar: avatarOptions.locations.avatarFile, engines: workers.engines,
                                                               output: output, parallel: engines.parallelOptions(workers))
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
