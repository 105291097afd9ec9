import ArgumentParser
import Foundation
import Inference
import LipSync

/// `--models DIR`, shared by every command that loads models.
struct ModelOptions: ParsableArguments {
    @Option(help: "Folder with wav2lip.onnx / wav2lip_gan.onnx (default: $LIPSYNC_MODELS, else models/ in the project).")
    var models: String?

    var catalog: ModelCatalog {
        ModelCatalog(directory: ModelCatalog.resolveDirectory(explicit: models, projectRoot: ProjectPaths.root))
    }
}

struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the installed Wav2Lip models: name, file, input names and shapes, SHA-256."
    )

    @OptionGroup var options: ModelOptions

    func run() async throws {
        let catalog = options.catalog
        let installed = catalog.installed()
        guard !installed.isEmpty else {
            print(catalog.installHint)
            return
        }
        let runtime = try InferenceRuntime.shared.get()
        for entry in installed {
            print("\(entry.name) — \(entry.summary)")
            print("  file:    \(entry.file.path)")
            print("  sha256:  \(try FileDigest.sha256(of: entry.file))")
            do {
                let engine = try catalog.load(entry.name, runtime: runtime)
                print("  inputs:  mel = \(engine.ports.inputs.first { $0.name == engine.melInput }!), face = \(engine.ports.inputs.first { $0.name == engine.faceInput }!)")
                print("  outputs: \(engine.ports.outputs.map(\.description).joined(separator: ", "))")
                if engine.split != nil { print("  split:   face encoder runs once per avatar frame (.face.onnx + .decoder.onnx)") }
            } catch {
                print("  error:   \(error)")
            }
        }
    }
}
