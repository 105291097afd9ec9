import ArgumentParser
import Foundation
import Inference
import LipSync

/// `--models DIR`, shared by every command that loads models.
struct ModelOptions: ParsableArguments {
    @Option(help: "Folder with the Wav2Lip models: .onnx exports or .pth/.pt checkpoints (default: $LIPSYNC_MODELS, else models/ in the project).")
    var models: String?

    /// The catalog, converting checkpoints with the project's converter; conversion progress goes to stderr.
    var catalog: ModelCatalog {
        ModelCatalog(directory: ModelCatalog.resolveDirectory(explicit: models, projectRoot: ProjectPaths.root),
                     converter: .project(root: ProjectPaths.root),
                     log: { FileHandle.standardError.write(Data("\($0)\n".utf8)) })
    }
}

struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the installed Wav2Lip models, or convert a PyTorch checkpoint to ONNX.",
        subcommands: [List.self, Convert.self],
        defaultSubcommand: List.self
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Every model file in the folder: what it is (GAN/NOGAN, export or checkpoint and its format), whether it loads, inputs, SHA-256."
        )

        @OptionGroup var options: ModelOptions

        func run() async throws {
            let catalog = options.catalog
            let candidates = catalog.candidates()
            guard !candidates.isEmpty else {
                print(catalog.installHint)
                return
            }
            let runtime = try InferenceRuntime.shared.get()
            var used = Set<String>()
            var failed = 0
            for entry in candidates {
                print("\(entry.file.lastPathComponent) — \(entry.name): \(entry.summary)")
                print("  file:      \(entry.file.path)")
                print("  sha256:    \(try FileDigest.sha256(of: entry.file))")
                do {
                    let engine = try catalog.load(entry.file, name: entry.name, options: CompileOptions(batchSize: 8), runtime: runtime)
                    let origin = engine.origin
                    print("  is:        \(origin.kind), \(origin.format)")
                    if let info = origin.conversion {
                        var training = ""
                        if let step = info.globalStep { training += ", trained \(step) steps" }
                        if let epoch = info.globalEpoch { training += " (epoch \(epoch))" }
                        let width = info.widthDivisor == 1 ? "" : ", reduced width 1/\(info.widthDivisor)"
                        print("  converted: from \(info.source): \(info.stateKeys) state keys, \(info.parameters) parameters, \(info.foldedBatchNorms) batch norms folded\(width)\(training)")
                        print("             to \(engine.file.path)")
                    }
                    if origin.floatConversion { print("  types:     float16 inputs/outputs, converted to float32 by OpenVINO") }
                    print("  inputs:    mel = \(engine.ports.inputs.first { $0.name == engine.melInput }!), face = \(engine.ports.inputs.first { $0.name == engine.faceInput }!)")
                    print("  outputs:   \(engine.ports.outputs.map(\.description).joined(separator: ", "))")
                    if engine.split != nil { print("  split:     face encoder runs once per avatar frame (.face.onnx + .decoder.onnx)") }
                    print("  use:       " + (used.insert(entry.name).inserted ? "this file is model \(entry.name)" : "not used: an earlier file gives \(entry.name)"))
                } catch {
                    failed += 1
                    print("  error:     \(error)")
                }
            }
            if failed > 0 {
                print("\(failed) of \(candidates.count) files cannot be used (see the errors above)")
                throw ExitCode(1)
            }
        }
    }

    struct Convert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "convert",
            abstract: "Convert a Wav2Lip checkpoint (.pth torch zip or legacy, .pt TorchScript) to ONNX, without PyTorch.",
            discussion: "Also writes OUT.face.onnx and OUT.decoder.onnx (the face encoder split off). Batch norm is folded into the convolutions; the output equals the original model's."
        )

        @Argument(help: "The checkpoint: wav2lip.pth, wav2lip_gan.pth, Wav2Lip-SD-GAN.pt, ...")
        var checkpoint: String

        @Option(name: .shortAndLong, help: "The ONNX file to write.")
        var output: String

        @Option(help: "gan or nogan (default: from the file name: GAN when it says gan and not nogan).")
        var kind: CheckpointConverter.Kind?

        func validate() throws {
            guard output.hasSuffix(".onnx") else { throw ValidationError("--output must end in .onnx, got \(output)") }
        }

        func run() async throws {
            let converter = CheckpointConverter.project(root: ProjectPaths.root)
            let source = URL(fileURLWithPath: checkpoint), destination = URL(fileURLWithPath: output)
            let start = Date()
            let info = try converter.convert(source, to: destination, kind: kind, split: true)
            print("wrote \(destination.path) (+ .face.onnx, .decoder.onnx) in \(format(Date().timeIntervalSince(start), digits: 1)) s")
            print("from \(info.source): \(info.kind.uppercased()), \(info.format), \(info.stateKeys) state keys, \(info.parameters) parameters, \(info.foldedBatchNorms) batch norms folded")
        }
    }
}

extension CheckpointConverter.Kind: ExpressibleByArgument {}
