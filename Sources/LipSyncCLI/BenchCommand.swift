import ArgumentParser
import Foundation
import Imaging
import Inference
import LipSync
import Media
import Pipeline

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print figures measured on this machine.",
        subcommands: [InferenceBench.self, ParallelBench.self, EndToEndBench.self, StreamBench.self, VoiceBench.self, QueueBenchCommand.self]
    )
}

/// Wav2Lip inference speed through OpenVINO: batch sizes, performance hints, one vs two models at
/// once, and onnxruntime (Python) on the same file in the same run as the yardstick.
struct InferenceBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inference",
        abstract: "Frames/s and GFLOP/s of a Wav2Lip model at several batch sizes and settings."
    )

    @Option(help: "Model name from the catalog or path to an .onnx file.")
    var model: String = ".cache/models/wav2lip_random.onnx"

    @OptionGroup var models: ModelOptions

    @Option(help: "Batch sizes to measure, comma-separated.")
    var batches: String = "1,8,32,128"

    @Option(help: "Seconds to measure each case (at least two inferences run).")
    var seconds: Double = 8

    @Option(help: "Inference threads (default: all cores).")
    var threads: Int?

    @Option(help: "GFLOP one frame costs (7.93 for the Wav2Lip generator), to report achieved GFLOP/s.")
    var gflopPerFrame: Double = 7.93

    @Flag(help: "Skip the onnxruntime comparison.")
    var skipOnnxruntime = false

    func run() async throws {
        let runtime = try InferenceRuntime.shared.get()
        let catalog = models.catalog
        let (_, file) = try catalog.file(for: model)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let threadCount = threads ?? cores
        let batchSizes = batches.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !batchSizes.isEmpty, batchSizes.allSatisfy({ $0 > 0 }) else { throw ValidationError("--batches needs positive integers") }
        print("model: \(file.path)")
        print("OpenVINO \(runtime.version), \(cores) cores, \(threadCount) inference threads, \(format(seconds, digits: 0)) s per case")
        print("")
        print(row("case", "batch", "requests", "frames/s", "GFLOP/s", "ms/batch"))

        var best = 0.0
        for hint in CompileOptions.PerformanceHint.allCases {
            for batch in batchSizes {
                let options = CompileOptions(hint: hint, threads: threadCount, batchSize: batch)
                let engine = try whole(file, options: options, runtime: runtime)
                let result = try await measure([engine], batch: batch)
                best = max(best, result.framesPerSecond)
                print(row("OpenVINO \(hint.rawValue.lowercased())", "\(batch)", "\(engine.model.concurrentRequests)",
                          format(result.framesPerSecond), format(result.framesPerSecond * gflopPerFrame, digits: 1),
                          format(result.millisecondsPerCall, digits: 0)))
            }
        }

        // The engine policy (what the CLI and the server compile) at f32 and at bf16 where the CPU has
        // it, then two models at once with it, as GAN + NOGAN run in split mode.
        var policy = EnginePolicy()
        policy.threads = threads
        let policyBatch = policy.batchSize
        let precisions: [CompileOptions.Precision] = runtime.cpuSupportsBF16 ? [.f32, .bf16] : [.f32]
        for precision in precisions {
            let options = policy.compileOptions(precision: precision)
            let single = try await measure([try whole(file, options: options, runtime: runtime)], batch: policyBatch)
            print(row("engine policy \(precision.rawValue), one model", "\(policyBatch)", "\(policy.workers)", format(single.framesPerSecond),
                      format(single.framesPerSecond * gflopPerFrame, digits: 1), format(single.millisecondsPerCall, digits: 0)))
            let pair = try (0..<2).map { _ in try whole(file, options: options, runtime: runtime) }
            let both = try await measure(pair, batch: policyBatch)
            print(row("engine policy \(precision.rawValue), two models", "\(policyBatch)", "1+1", format(both.framesPerSecond),
                      format(both.framesPerSecond * gflopPerFrame, digits: 1), format(both.millisecondsPerCall, digits: 0)))
        }

        guard !skipOnnxruntime else { return }
        let ortBatch = 8
        let python = ProjectPaths.root.appendingPathComponent(".venv/bin/python")
        let script = ProjectPaths.root.appendingPathComponent("scripts/bench_onnxruntime.py")
        let output = try Tool.run(python, [script.path, file.path, "--batch", "\(ortBatch)",
                                                  "--threads", "\(threadCount)", "--seconds", "\(seconds)"])
        guard let fps = output.split(separator: "=").last.flatMap({ Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            throw ValidationError("could not read onnxruntime's result: \(output)")
        }
        let ours = try await measure([try whole(file, options: CompileOptions(hint: .latency, threads: threadCount, batchSize: ortBatch), runtime: runtime)], batch: ortBatch)
        print(row("onnxruntime (Python)", "\(ortBatch)", "1", format(fps), format(fps * gflopPerFrame, digits: 1), format(Double(ortBatch) / fps * 1000, digits: 0)))
        print("")
        print("OpenVINO latency, batch \(ortBatch), measured right after onnxruntime: \(format(ours.framesPerSecond)) frames/s = \(format(100 * ours.framesPerSecond / fps, digits: 0))% of onnxruntime; best OpenVINO case: \(format(best)) frames/s = \(format(100 * best / fps, digits: 0))%")
    }

    /// The whole model, never its split pair: this bench compares the same file with onnxruntime.
    func whole(_ file: URL, options: CompileOptions, runtime: InferenceRuntime) throws -> Wav2LipEngine {
        try Wav2LipEngine(name: file.deletingPathExtension().lastPathComponent, model: try runtime.compile(file, options: options))
    }

    struct Measurement {
        var framesPerSecond: Double
        var millisecondsPerCall: Double
    }

    /// Frames per second of `engines` kept busy for `seconds`.
    static func throughput(of engines: [Wav2LipEngine], batch: Int, seconds: Double) async throws -> Double {
        var bench = try InferenceBench.parse([])
        bench.seconds = seconds
        return try await bench.measure(engines, batch: batch).framesPerSecond
    }

    /// Keeps every engine's infer requests busy for `seconds` after one warm-up call each.
    func measure(_ engines: [Wav2LipEngine], batch: Int) async throws -> Measurement {
        let window = [Float](repeating: -1, count: 80 * 16)
        let side = Wav2LipEngine.faceSize
        let face = RGBImage(width: side, height: side, pixels: (0..<side * side * 3).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let input = LipSyncBatch(frames: Array(0..<batch), melWindows: Array(repeating: window, count: batch),
                                 faces: Array(repeating: face, count: batch))
        for engine in engines { _ = try await engine.render(input) }
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .seconds(seconds)
        let calls = try await withThrowingTaskGroup(of: Int.self) { group in
            for engine in engines {
                for _ in 0..<engine.model.concurrentRequests {
                    group.addTask {
                        var count = 0
                        repeat {
                            _ = try await engine.render(input)
                            count += 1
                        } while clock.now < deadline || count < 2
                        return count
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = (clock.now - start).seconds
        let lanes = engines.reduce(0) { $0 + $1.model.concurrentRequests }
        return Measurement(framesPerSecond: Double(calls * batch) / elapsed,
                           millisecondsPerCall: elapsed * 1000 * Double(lanes) / Double(calls))
    }

    func row(_ columns: String...) -> String {
        let widths = [24, 6, 9, 10, 9, 9]
        return zip(columns, widths).enumerated().map { index, pair in
            index == 0 ? pair.0.padding(toLength: pair.1, withPad: " ", startingAt: 0)
                : String(repeating: " ", count: max(0, pair.1 - pair.0.count)) + pair.0
        }.joined(separator: " ")
    }
}

/// Runs a helper program through the project's one process runner and returns its stdout as text.
enum Tool {
    static func run(_ executable: URL, _ arguments: [String]) throws -> String {
        String(decoding: try ToolProcess.runBlocking(executable, arguments), as: UTF8.self)
    }
}
