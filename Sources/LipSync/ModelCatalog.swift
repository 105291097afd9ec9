import Foundation
import Inference

/// The Wav2Lip models a user has installed: `wav2lip.onnx` (NOGAN, better sync) and `wav2lip_gan.onnx`
/// (GAN, better visual quality) in one folder. The folder is `--models DIR`, else `$LIPSYNC_MODELS`,
/// else `models/` in the project.
package struct ModelCatalog: Sendable {
    package struct Entry: Sendable {
        package var name: String
        package var file: URL
        package var summary: String
    }

    package static let knownModels: [(name: String, summary: String)] = [
        ("wav2lip", "Wav2Lip NOGAN: slightly better lip sync"),
        ("wav2lip_gan", "Wav2Lip GAN: better visual quality"),
    ]

    package var directory: URL

    package init(directory: URL) {
        self.directory = directory
    }

    /// The folder to use: explicit, else the environment's `LIPSYNC_MODELS`, else `models/` under `projectRoot`.
    package static func resolveDirectory(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                                        projectRoot: URL) -> URL {
        if let explicit, !explicit.isEmpty { return URL(fileURLWithPath: explicit) }
        if let fromEnvironment = environment["LIPSYNC_MODELS"], !fromEnvironment.isEmpty {
            return URL(fileURLWithPath: fromEnvironment)
        }
        return projectRoot.appendingPathComponent("models")
    }

    /// The known models present in the folder.
    package func installed() -> [Entry] {
        Self.knownModels.compactMap { known in
            let file = directory.appendingPathComponent("\(known.name).onnx")
            return FileManager.default.fileExists(atPath: file.path) ? Entry(name: known.name, file: file, summary: known.summary) : nil
        }
    }

    /// A model file by catalog name (`wav2lip`, `wav2lip_gan`) or by path to an `.onnx` file.
    package func file(for nameOrPath: String) throws -> (name: String, file: URL) {
        if nameOrPath.hasSuffix(".onnx") || nameOrPath.contains("/") {
            let url = URL(fileURLWithPath: nameOrPath)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw LipSyncError.malformedModel(file: url.path, problem: "the file does not exist")
            }
            return (url.deletingPathExtension().lastPathComponent, url)
        }
        guard let entry = installed().first(where: { $0.name == nameOrPath }) else {
            let known = Self.knownModels.map(\.name)
            guard known.contains(nameOrPath) else {
                throw LipSyncError.badInput("unknown model '\(nameOrPath)'; known models: \(known.joined(separator: ", ")), or a path to an .onnx file")
            }
            throw LipSyncError.modelNotFound(name: nameOrPath, directory: directory.path, available: installed().map(\.name))
        }
        return (entry.name, entry.file)
    }

    /// Loads and compiles a model as a Wav2Lip engine, checking its inputs and outputs.
    package func load(_ nameOrPath: String, options: CompileOptions = CompileOptions(batchSize: 8),
                     runtime: InferenceRuntime) throws -> Wav2LipEngine {
        let (name, file) = try file(for: nameOrPath)
        do {
            if let split = try loadSplit(of: file, options: options, runtime: runtime) {
                // Only the pair is compiled; the whole model is read for its description alone.
                return try Wav2LipEngine(name: name, file: file, ports: try runtime.describe(file), split: split)
            }
            return try Wav2LipEngine(name: name, model: try runtime.compile(file, options: options))
        } catch let error as InferenceError {
            throw LipSyncError.malformedModel(file: file.path, problem: error.message)
        }
    }

    /// The face-encoder / decoder pair written by scripts/split_wav2lip.py beside a model, when it is
    /// there and newer than the model.
    func loadSplit(of file: URL, options: CompileOptions, runtime: InferenceRuntime) throws -> FaceEncoderSplit? {
        let stem = file.deletingPathExtension()
        let encoderFile = stem.appendingPathExtension("face.onnx"), decoderFile = stem.appendingPathExtension("decoder.onnx")
        func modified(_ url: URL) -> Date? { try? url.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate }
        guard let model = modified(file), let encoderDate = modified(encoderFile), let decoderDate = modified(decoderFile),
              encoderDate >= model, decoderDate >= model else { return nil }
        var encoderOptions = options
        encoderOptions.batchSize = 1
        encoderOptions.requests = 1
        do {
            return try FaceEncoderSplit(encoder: try runtime.compile(encoderFile, options: encoderOptions),
                                        decoder: try runtime.compile(decoderFile, options: options))
        } catch let error as InferenceError {
            throw LipSyncError.malformedModel(file: decoderFile.path, problem: error.message)
        }
    }

    /// How to install models, for messages when there are none.
    package var installHint: String {
        "no Wav2Lip models in \(directory.path). Put wav2lip.onnx (NOGAN) and/or wav2lip_gan.onnx (GAN), as exported by the Wav2Lip ONNX ports, in that folder, or point --models / LIPSYNC_MODELS at another one."
    }
}
