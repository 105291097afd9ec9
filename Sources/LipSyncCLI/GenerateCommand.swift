import ArgumentParser
import AudioFeatures
import Avatar
import Compositing
import Foundation
import Inference
import LipSync
import Media
import Pipeline
import SpeechSynthesis

/// Where avatars, face models and the avatar cache live, shared by the commands that need them.
struct AvatarOptions: ParsableArguments {
    @Option(help: "Avatar image or video (default: the bundled astronaut.png).")
    var avatar: String?

    @Option(help: "Folder for prepared avatars (default: .cache/avatars in the project).")
    var avatarCache: String?

    var locations: AvatarLocations { AvatarLocations(avatar: avatar, cache: avatarCache) }
}

/// The original Wav2Lip's framing options: how the face box is found (part of the prepared avatar).
struct FramingOptions: ParsableArguments {
    @Option(parsing: .upToNextOption, help: ArgumentHelp("Pixels added to the face box: top bottom left right (as the original's --pads 0 10 0 0).", valueName: "px"))
    var pads: [Int] = []

    @Option(parsing: .upToNextOption, help: ArgumentHelp("A fixed face box for every frame: top bottom left right in avatar pixels (the original's --box).", valueName: "px"))
    var box: [Int] = []

    @Flag(help: "Do not smooth a video avatar's face boxes over time.")
    var nosmooth = false

    func settings() throws -> AvatarSettings {
        do {
            return try AvatarSettings.framing(pads: pads.isEmpty ? nil : pads, box: box.isEmpty ? nil : box, nosmooth: nosmooth)
        } catch let error as AvatarError {
            throw ValidationError(error.description)
        }
    }
}

extension Compositor.Paste: ExpressibleByArgument {}

/// Resolved avatar paths: the avatar file, the face models, the prepared-avatar cache.
struct AvatarLocations {
    var avatar: String?
    var cache: String?

    static var assets: URL { ProjectPaths.root.appendingPathComponent(".cache/assets") }
    static var defaultAvatar: URL { assets.appendingPathComponent("astronaut.png") }
    var avatarFile: URL { avatar.map { URL(fileURLWithPath: $0) } ?? Self.defaultAvatar }

    func store(runtime: InferenceRuntime) -> AvatarStore {
        AvatarStore(cacheDirectory: cache.map { URL(fileURLWithPath: $0) } ?? ProjectPaths.root.appendingPathComponent(".cache/avatars"),
                    assets: Self.assets, runtime: runtime)
    }
}

struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Text (or a recording) in, lip-synced MP4 of the avatar out."
    )

    @OptionGroup var textInput: TextInputOptions

    @Option(help: "Lip-sync this recording (any format ffmpeg reads) instead of speaking a text.")
    var audio: String?

    @OptionGroup var speech: SpeechOptions

    @Option(help: "Lip-sync engine: wav2lip or viseme (default: wav2lip when a model is installed, else viseme).")
    var engine: String?

    @Option(help: "Wav2Lip model: wav2lip (NOGAN), wav2lip_gan (GAN) or a path to an .onnx file (default: the first installed).")
    var model: String?

    @OptionGroup var models: ModelOptions
    @OptionGroup var avatarOptions: AvatarOptions
    @OptionGroup var framing: FramingOptions

    @Option(help: "How the mouth is pasted: feathered (a soft lower-face mask) or box (the original's hard rectangle).")
    var paste: Compositor.Paste = .feathered

    @Option(help: "Video frames per second.")
    var fps: Double = 25

    @Option(help: "x264 preset (ultrafast ... veryslow).")
    var preset: String = "veryfast"

    @Option(help: "x264 quality (CRF; lower is better).")
    var crf: Int = 20

    @Flag(help: "Render every frame, even in digital silence (by default silent frames reuse one patch).")
    var noSilenceReuse = false

    @Option(name: .shortAndLong, help: "Output MP4 file; with --stream, - writes to stdout (e.g. | ffplay -).")
    var output: String

    @Flag(help: "Write a fragmented MP4 as it renders (keyframe-aligned 1 s fragments), playable before it is complete. With --parallel, fragments are dealt to the workers in turn.")
    var stream = false

    @Option(help: "Inference precision: auto (bf16 where the CPU has it, else f32), f32 or bf16.")
    var precision: CompileOptions.PrecisionChoice = .auto

    @Option(help: "Also write the phonemes of the speech (JSON, as `speak --timeline`), e.g. for `lipsync sheet`.")
    var timeline: String?

    @Flag(help: "Parallel mode: split the frames into chunks rendered at the same time, joined without re-encoding.")
    var parallel = false

    @Option(help: "Parallel mode: split (chunks alternate between wav2lip and wav2lip_gan) or same (one model, several workers). Default: split when both models are installed and Wav2Lip runs, else same.")
    var assign: WorkerAssignment?

    @Option(help: "Parallel mode: number of chunks (default: chosen from the duration and the workers).")
    var chunks: Int?

    @Option(help: "Parallel mode: workers in same mode (they share one model).")
    var workers: Int = 2

    @Option(help: "Parallel mode: below this many seconds of speech, run as one piece.")
    var minParallelDuration: Double = 10

    var options: GenerationOptions {
        GenerationOptions(fps: fps, encoder: EncoderSettings(preset: preset, crf: crf), reuseSilence: !noSilenceReuse,
                          avatar: (try? framing.settings()) ?? .default, paste: paste)
    }

    var policy: EnginePolicy { EnginePolicy(workers: workers, precision: precision) }

    /// Where the summary goes: stderr when the video itself goes to stdout.
    var console: Console { Console(toStandardError: stream && output == "-") }

    /// Everything checkable before any work starts: bad options are a message and exit code 64, never a crash.
    func validate() throws {
        guard textInput.isGiven != (audio != nil) else {
            throw ValidationError("give the text with --text or --text-file, or a recording with --audio (one of them)")
        }
        _ = try framing.settings()
        do {
            try options.validate()
            try policy.validate()
        } catch {
            throw ValidationError("\(error)")
        }
        if let chunks, !(1...ParallelOptions.maxChunks).contains(chunks) {
            throw ValidationError("--chunks must be in 1...\(ParallelOptions.maxChunks), got \(chunks)")
        }
        guard minParallelDuration >= 0 else { throw ValidationError("--min-parallel-duration must not be negative") }
        if output == "-" && !stream { throw ValidationError("-o - (stdout) needs --stream: a regular MP4 is written to a file") }
        if stream && chunks != nil { throw ValidationError("--chunks is for parallel chunks joined at the end; a stream deals 1 s fragments to the workers") }
    }

    func run() async throws {
        let source: GenerationSource
        if let audio {
            source = .audioFile(URL(fileURLWithPath: audio))
        } else {
            let text = try textInput.resolve()
            source = .text(speech.request(text))
        }
        let runtime = try InferenceRuntime.shared.get()
        let engines = try EngineSet(catalog: models.catalog, policy: policy, runtime: runtime, loadsOnDemand: true)
        let synthesizer = try await speech.catalog()
        if case .text(let request) = source { _ = try synthesizer.choose(request) }  // bad text, language or voice: before any work
        let generator = Generator(synthesizer: synthesizer, avatars: avatarOptions.locations.store(runtime: runtime))
        let bar = ProgressBar()
        let destination = URL(fileURLWithPath: output)

        if stream {
            let workers = parallel
                ? engines.fragmentWorkers(try engines.parallelWorkers(engine: self.engine, model: model, assignment: assign))
                : [try engines.engine(engine: self.engine, model: model)]
            let sink = try StreamSink(output == "-" ? nil : destination)
            let result = try await generator.generate(source, avatar: avatarOptions.locations.avatarFile, workers: workers,
                                                      to: .stream { try sink.write($0) }, options: options,
                                                      progress: { bar.update($0) })
            try sink.close()
            bar.finish()
            printSummary(result)
            return
        }

        guard parallel else {
            let engine = try engines.engine(engine: self.engine, model: model)
            let result = try await generator.generate(source, avatar: avatarOptions.locations.avatarFile, engine: engine,
                                                      output: destination, options: options, progress: { bar.update($0) })
            bar.finish()
            printSummary(result)
            return
        }

        let workers = try engines.parallelWorkers(engine: self.engine, model: model, assignment: assign)
        let (result, report) = try await ParallelGenerator(generator: generator).generate(
            source, avatar: avatarOptions.locations.avatarFile, engines: workers.engines, output: destination, options: options,
            parallel: engines.parallelOptions(workers, chunks: chunks, minimumDuration: minParallelDuration),
            progress: { bar.update($0) })
        bar.finish()
        printSummary(result)
        if let reason = report.fallbackReason {
            print("parallel mode not used: \(reason); ran as regular")
        } else {
            print("parallel (\(report.assignment.rawValue)): \(report.chunks.count) chunks, planning \(format(report.planning, digits: 3)) s, concat \(format(report.concat, digits: 3)) s")
            print("chunk  worker  model            frames   start     end")
            for chunk in report.chunks {
                print("\(String(chunk.index).padding(toLength: 6, withPad: " ", startingAt: 0)) \(String(chunk.worker).padding(toLength: 7, withPad: " ", startingAt: 0)) \(chunk.model.padding(toLength: 16, withPad: " ", startingAt: 0)) \(String(chunk.frames).padding(toLength: 8, withPad: " ", startingAt: 0)) \(format(chunk.start)) \(format(chunk.end))")
            }
        }
    }

    private func printSummary(_ result: GenerationResult) {
        if let timeline, let phonemes = result.cues.phonemes {
            do {
                try TimelineJSON.write(phonemes, duration: result.audioDuration, sampleRate: LipSyncAudio.sampleRate,
                                       to: URL(fileURLWithPath: timeline))
                console.print("timeline: \(phonemes.count) phonemes in \(timeline)")
            } catch {
                console.print("timeline not written: \(error)")
            }
        }
        let precision = result.precision.map { " (\($0))" } ?? ""
        console.print("wrote \(output == "-" ? "stdout" : output): \(result.frameCount) frames at \(format(result.fps, digits: 0)) fps, \(format(result.audioDuration)) s of speech, engine \(result.engine)\(precision)\(result.avatarCached ? ", avatar from cache" : "")")
        if result.framesReused > 0 {
            console.print("\(result.framesInferred) frames rendered, \(result.framesReused) silent frames reused a patch")
        }
        printTimings(result.timings, to: console)
    }
}

extension WorkerAssignment: ExpressibleByArgument {}

func printTimings(_ timings: StageTimings, to console: Console = Console()) {
    console.print("stage          seconds")
    for (name, seconds) in timings.rows {
        console.print("\(name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(format(seconds, digits: 3))")
    }
}

/// Lines for the user: stdout, or stderr when stdout carries the video.
struct Console {
    var toStandardError = false

    func print(_ line: String) {
        if toStandardError {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        } else {
            Swift.print(line)
        }
    }
}

/// Where streamed bytes go: stdout or a file, written as they arrive.
final class StreamSink: @unchecked Sendable {
    private let handle: FileHandle
    private let ownsHandle: Bool

    init(_ file: URL?) throws {
        if let file {
            guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
                throw ValidationError("cannot write \(file.path)")
            }
            handle = try FileHandle(forWritingTo: file)
            ownsHandle = true
        } else {
            handle = FileHandle.standardOutput
            ownsHandle = false
        }
    }

    func write(_ data: Data) throws { try handle.write(contentsOf: data) }

    func close() throws { if ownsHandle { try handle.close() } }
}

/// A one-line progress bar on a terminal; silent when stderr is not a terminal.
final class ProgressBar: @unchecked Sendable {
    private let enabled = isatty(STDERR_FILENO) == 1
    private let lock = NSLock()

    func update(_ progress: GenerationProgress) {
        guard enabled else { return }
        lock.withLock {
            let width = 30
            let fraction = progress.framesTotal > 0 ? Double(progress.framesDone) / Double(progress.framesTotal) : 0
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            FileHandle.standardError.write(Data("\r[\(bar)] \(progress.framesDone)/\(progress.framesTotal) \(progress.stage)      ".utf8))
        }
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\n".utf8))
    }
}

extension CompileOptions.PrecisionChoice: ExpressibleByArgument {}
