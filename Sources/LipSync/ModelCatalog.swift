import Foundation
import Inference

/// The Wav2Lip models a user has installed in one folder: `wav2lip` (NOGAN, better sync) and
/// `wav2lip_gan` (GAN, better visual quality), from whatever files they hold:
/// - ONNX exports: `wav2lip.onnx` / `wav2lip_gan.onnx`, FaceFusion's `wav2lip_96.onnx` /
///   `wav2lip_gan_96.onnx`, any other `wav2lip*.onnx` (inputs are matched by shape, not name);
/// - PyTorch checkpoints, any `.pth` / `.pt` (the original `wav2lip.pth` / `wav2lip_gan.pth`, the
///   TorchScript `Wav2Lip-SD-NOGAN.pt` / `Wav2Lip-SD-GAN.pt`), converted to ONNX once by `converter`.
/// GAN or NOGAN comes from the file name. When several files give one model, ONNX exports come before
/// checkpoints and exact names before others; the first that loads is used.
/// The folder is `--models DIR`, else `$LIPSYNC_MODELS`, else `models/` in the project.
package struct ModelCatalog: Sendable {
    package struct Entry: Sendable {
        /// `wav2lip` or `wav2lip_gan`.
        package var name: String
        package var file: URL
        package var summary: String
        package var format: Format
    }

    package enum Format: Sendable, Equatable {
        case onnx
        case checkpoint

        package var label: String { self == .onnx ? "ONNX export" : "PyTorch checkpoint" }
    }

    package static let knownModels: [(name: String, summary: String)] = [
        ("wav2lip", "Wav2Lip NOGAN: slightly better lip sync"),
        ("wav2lip_gan", "Wav2Lip GAN: better visual quality"),
    ]

    package var directory: URL
    /// Converts `.pth` / `.pt` files; nil: checkpoints are listed but cannot load.
    package var converter: CheckpointConverter?
    /// Where progress lines of a conversion go (the CLI prints them, the server logs them).
    package var log: @Sendable (String) -> Void

    package init(directory: URL, converter: CheckpointConverter? = nil, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.directory = directory
        self.converter = converter
        self.log = log
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

    /// What model a file in the folder would be, or nil when it is none: `.pth`/`.pt` checkpoints, and
    /// `wav2lip*.onnx` except the halves of a split model.
    package static func classify(_ url: URL) -> Entry? {
        let fileName = url.lastPathComponent, lowered = fileName.lowercased()
        let format: Format
        if CheckpointConverter.isCheckpoint(url) {
            format = .checkpoint
        } else if lowered.hasPrefix("wav2lip"), lowered.hasSuffix(".onnx"),
                  !lowered.hasSuffix(".face.onnx"), !lowered.hasSuffix(".decoder.onnx") {
            format = .onnx
        } else {
            return nil
        }
        let name = CheckpointConverter.Kind(fileName: fileName).modelName
        let summary = knownModels.first { $0.name == name }!.summary
        return Entry(name: name, file: url, summary: summary, format: format)
    }

    /// Every model file in the folder, in the order they are tried: by model, ONNX exports before
    /// checkpoints, the plain name (`wav2lip.onnx`), then FaceFusion's (`wav2lip_96.onnx`), then by name.
    package func candidates() -> [Entry] {
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []
        func rank(_ entry: Entry) -> (Int, Int, Int, String) {
            let stem = entry.file.deletingPathExtension().lastPathComponent.lowercased()
            let exact = stem == entry.name ? 0 : stem == entry.name + "_96" ? 1 : 2
            return (Self.knownModels.firstIndex { $0.name == entry.name } ?? 9, entry.format == .onnx ? 0 : 1, exact,
                    entry.file.lastPathComponent)
        }
        return files.filter { !$0.lastPathComponent.hasPrefix(".") }.compactMap(Self.classify).sorted { rank($0) < rank($1) }
    }

    /// The known models present in the folder: the first candidate of each.
    package func installed() -> [Entry] {
        var seen = Set<String>()
        return candidates().filter { seen.insert($0.name).inserted }
    }

    /// A model file by catalog name (`wav2lip`, `wav2lip_gan`) or by path to an `.onnx` or checkpoint file.
    package func file(for nameOrPath: String) throws -> (name: String, file: URL) {
        if nameOrPath.hasSuffix(".onnx") || nameOrPath.contains("/") || CheckpointConverter.isCheckpoint(URL(fileURLWithPath: nameOrPath)) {
            let url = URL(fileURLWithPath: nameOrPath)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw LipSyncError.malformedModel(file: url.path, problem: "the file does not exist")
            }
            let name = CheckpointConverter.isCheckpoint(url)
                ? CheckpointConverter.Kind(fileName: url.lastPathComponent).modelName : url.deletingPathExtension().lastPathComponent
            return (name, url)
        }
        guard let entry = installed().first(where: { $0.name == nameOrPath }) else {
            let known = Self.knownModels.map(\.name)
            guard known.contains(nameOrPath) else {
                throw LipSyncError.badInput("unknown model '\(nameOrPath)'; known models: \(known.joined(separator: ", ")), or a path to an .onnx or .pth file")
            }
            throw LipSyncError.modelNotFound(name: nameOrPath, directory: directory.path, available: installed().map(\.name))
        }
        return (entry.name, entry.file)
    }

    /// Loads and compiles a model as a Wav2Lip engine, checking its inputs and outputs. A catalog name
    /// tries that model's files in order and takes the first that loads; if none does, the error names
    /// each file and why.
    package func load(_ nameOrPath: String, options: CompileOptions = CompileOptions(batchSize: 8),
                     runtime: InferenceRuntime) throws -> Wav2LipEngine {
        let isName = Self.knownModels.contains { $0.name == nameOrPath }
        let files = isName ? candidates().filter { $0.name == nameOrPath }.map(\.file) : []
        guard files.count > 1 else {
            let (name, file) = try file(for: nameOrPath)
            return try load(file, name: name, options: options, runtime: runtime)
        }
        var problems: [String] = []
        for file in files {
            do {
                return try load(file, name: nameOrPath, options: options, runtime: runtime)
            } catch {
                problems.append("\(error)")
            }
        }
        throw LipSyncError.malformedModel(file: nameOrPath, problem: "no file of it loads: " + problems.joined(separator: "; "))
    }

    /// Loads one file (an ONNX export, or a checkpoint through its cached conversion) as model `name`.
    package func load(_ file: URL, name: String, options: CompileOptions, runtime: InferenceRuntime) throws -> Wav2LipEngine {
        var onnx = file
        var origin = ModelOrigin(file: file, kind: CheckpointConverter.Kind(fileName: name).rawValue.uppercased(), format: "ONNX export")
        if CheckpointConverter.isCheckpoint(file) {
            guard let converter else {
                throw LipSyncError.malformedModel(file: file.lastPathComponent, problem: "checkpoints need the converter (scripts/convert_wav2lip.py), which is not set up here")
            }
            let converted = try converter.converted(file, kind: CheckpointConverter.Kind(fileName: name), log: log)
            onnx = converted.model
            origin.format = converted.info.format
            origin.conversion = converted.info
        }
        do {
            let ports = try runtime.describe(onnx)
            origin.floatConversion = (ports.inputs + ports.outputs).contains { $0.elementType != "f32" }
            if let split = try loadSplit(of: onnx, options: options, runtime: runtime) {
                // Only the pair is compiled; the whole model is read for its description alone.
                return try Wav2LipEngine(name: name, file: onnx, ports: ports, split: split, origin: origin)
            }
            return try Wav2LipEngine(name: name, model: try compileWithBatch(onnx, ports: ports, options: options, runtime: runtime),
                                     origin: origin)
        } catch let error as InferenceError {
            throw LipSyncError.malformedModel(file: file.lastPathComponent, problem: error.message)
        }
    }

    /// Compiles with the policy's batch size; an export whose graph pins its batch (static batch-1
    /// exports with fixed reshapes) is compiled at its own batch instead.
    private func compileWithBatch(_ file: URL, ports: (inputs: [TensorInfo], outputs: [TensorInfo]), options: CompileOptions,
                                  runtime: InferenceRuntime) throws -> CompiledModel {
        do {
            return try runtime.compile(file, options: options)
        } catch let error as InferenceError {
            let batches = Set(ports.inputs.compactMap { $0.shape.first ?? nil })
            guard options.batchSize != nil, batches.count == 1, let own = batches.first, own != options.batchSize else { throw error }
            var fixed = options
            fixed.batchSize = own
            log("\(file.lastPathComponent): batch \(options.batchSize!) not possible (\(error.message)); using the export's batch of \(own)")
            return try runtime.compile(file, options: fixed)
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
        "no Wav2Lip models in \(directory.path). Put wav2lip.pth / wav2lip_gan.pth (the original checkpoints), Wav2Lip-SD-NOGAN.pt / Wav2Lip-SD-GAN.pt, or ONNX exports (wav2lip.onnx, wav2lip_gan.onnx, wav2lip_96.onnx, wav2lip_gan_96.onnx) in that folder, or point --models / LIPSYNC_MODELS at another one."
    }
}

/// Where a loaded model came from, for `lipsync models` and `/api/models`.
package struct ModelOrigin: Sendable, Equatable {
    /// The file the user installed (an export, or the checkpoint that was converted).
    package var file: URL
    /// `GAN` or `NOGAN`.
    package var kind: String
    /// `ONNX export`, or the checkpoint's format.
    package var format: String
    /// What the conversion found, for a checkpoint.
    package var conversion: CheckpointConverter.Info?
    /// True when the export's inputs or outputs are float16 (converted to float32 by OpenVINO).
    package var floatConversion = false

    package init(file: URL, kind: String, format: String, conversion: CheckpointConverter.Info? = nil) {
        self.file = file
        self.kind = kind
        self.format = format
        self.conversion = conversion
    }

    /// One line: `wav2lip.pth: NOGAN, legacy torch.save (torch < 1.6), converted to ONNX`.
    package var description: String {
        var text = "\(file.lastPathComponent): \(kind), \(format)"
        if conversion != nil { text += ", converted to ONNX" }
        if floatConversion { text += ", float16 inputs/outputs converted to float32" }
        return text
    }
}
