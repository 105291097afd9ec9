import Foundation
import Media

/// Turns Wav2Lip generator checkpoints (`.pth`/`.pt`: torch zip, legacy torch.save, TorchScript) into
/// ONNX without PyTorch, through `scripts/convert_wav2lip.py` run by the project's Python (numpy and
/// onnx, which the runtime requirements already install). The script reads the pickles with a
/// whitelist and never executes anything from the file. Converted models are kept in `cacheDirectory`
/// by the checkpoint's SHA-256 (with the face-encoder / decoder split), so each file converts once.
package struct CheckpointConverter: Sendable, Equatable {
    /// What a conversion found in the checkpoint (the script's `--info` JSON).
    package struct Info: Codable, Sendable, Equatable {
        package var source: String
        package var sha256: String
        /// `torch zip (torch >= 1.6)`, `legacy torch.save (torch < 1.6)` or `TorchScript`.
        package var format: String
        package var kind: String
        package var stateKeys: Int
        package var parameters: Int
        package var foldedBatchNorms: Int
        /// 1 for the real model; more for reduced-channel test models.
        package var widthDivisor: Int
        package var seconds: Double
        package var globalStep: Int?
        package var globalEpoch: Int?

        enum CodingKeys: String, CodingKey {
            case source, sha256, format, kind, parameters, seconds
            case stateKeys = "state_keys", foldedBatchNorms = "folded_batch_norms", widthDivisor = "width_divisor"
            case globalStep = "global_step", globalEpoch = "global_epoch"
        }
    }

    /// GAN or NOGAN: what a checkpoint is cannot be told from its weights, so it comes from the file name
    /// (`wav2lip_gan.pth`, `Wav2Lip-SD-GAN.pt`: GAN; `wav2lip.pth`, `Wav2Lip-SD-NOGAN.pt`: NOGAN) or `--kind`.
    package enum Kind: String, Sendable, CaseIterable {
        case gan, nogan

        package init(fileName: String) {
            let lowered = fileName.lowercased().replacingOccurrences(of: "nogan", with: "")
            self = lowered.contains("gan") ? .gan : .nogan
        }

        /// The catalog name of a model of this kind.
        package var modelName: String { self == .gan ? "wav2lip_gan" : "wav2lip" }
    }

    package static let extensions: Set<String> = ["pth", "pt"]

    package var python: URL
    package var script: URL
    package var cacheDirectory: URL

    package init(python: URL, script: URL, cacheDirectory: URL) {
        self.python = python
        self.script = script
        self.cacheDirectory = cacheDirectory
    }

    /// The converter of a checkout: `.venv/bin/python scripts/convert_wav2lip.py`, cache in
    /// `$LIPSYNC_CONVERTED_MODELS`, else `.cache/converted`.
    package static func project(root: URL, environment: [String: String] = ProcessInfo.processInfo.environment) -> CheckpointConverter {
        let cache = environment["LIPSYNC_CONVERTED_MODELS"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
        return CheckpointConverter(python: root.appendingPathComponent(".venv/bin/python"),
                                   script: root.appendingPathComponent("scripts/convert_wav2lip.py"),
                                   cacheDirectory: cache ?? root.appendingPathComponent(".cache/converted"))
    }

    package static func isCheckpoint(_ url: URL) -> Bool { extensions.contains(url.pathExtension.lowercased()) }

    /// Converts `checkpoint` to `output` (and, with `split`, its `.face.onnx` / `.decoder.onnx`). Blocks
    /// for the conversion (seconds for a full-size model). Outputs are complete or absent.
    @discardableResult
    package func convert(_ checkpoint: URL, to output: URL, kind: Kind? = nil, split: Bool = false,
                         info infoFile: URL? = nil, sha256: String? = nil) throws -> Info {
        guard FileManager.default.isReadableFile(atPath: checkpoint.path) else {
            throw LipSyncError.malformedModel(file: checkpoint.path, problem: "the file does not exist or is not readable")
        }
        guard FileManager.default.isExecutableFile(atPath: python.path), FileManager.default.fileExists(atPath: script.path) else {
            throw LipSyncError.malformedModel(file: checkpoint.lastPathComponent,
                                              problem: "converting a checkpoint needs \(python.path) and \(script.path) (run scripts/setup.sh)")
        }
        var arguments = [script.path, checkpoint.path, "-o", output.path, "--kind", (kind ?? Kind(fileName: checkpoint.lastPathComponent)).rawValue]
        if split { arguments.append("--split") }
        if let infoFile { arguments += ["--info", infoFile.path] }
        if let sha256 { arguments += ["--sha256", sha256] }
        let stdout: Data
        do {
            stdout = try ToolProcess.runBlocking(python, arguments)
        } catch MediaError.toolFailed(_, let message) {
            // The script's message already names the file; keep its last line, the reason.
            let reason = message.split(separator: "\n").last.map(String.init) ?? message
            let prefix = checkpoint.path + ": "
            throw LipSyncError.malformedModel(file: checkpoint.lastPathComponent,
                                              problem: reason.hasPrefix(prefix) ? String(reason.dropFirst(prefix.count)) : reason)
        }
        do {
            return try JSONDecoder().decode(Info.self, from: stdout)
        } catch {
            throw LipSyncError.malformedModel(file: checkpoint.lastPathComponent,
                                              problem: "the converter's report could not be read: \(String(decoding: stdout.prefix(200), as: UTF8.self))")
        }
    }

    /// A converted model, from the cache or converted now.
    package struct Converted: Sendable {
        /// The ONNX model (its `.face.onnx` / `.decoder.onnx` split lies beside it).
        package var model: URL
        package var info: Info
        /// False when this call converted it.
        package var cached: Bool
    }

    /// The ONNX model of `checkpoint`, converted once and kept by its SHA-256. `log` receives a line
    /// before a conversion starts and one when it ends.
    package func converted(_ checkpoint: URL, kind: Kind? = nil, log: (String) -> Void = { _ in }) throws -> Converted {
        let digest: String
        do {
            digest = try FileDigest.sha256(of: checkpoint)
        } catch {
            throw LipSyncError.malformedModel(file: checkpoint.path, problem: "cannot be read (\(error.localizedDescription))")
        }
        let directory = cacheDirectory.appendingPathComponent(String(digest.prefix(32)))
        let model = directory.appendingPathComponent("model.onnx"), infoFile = directory.appendingPathComponent("info.json")
        if let data = try? Data(contentsOf: infoFile), let info = try? JSONDecoder().decode(Info.self, from: data),
           FileManager.default.fileExists(atPath: model.path) {
            return Converted(model: model, info: info, cached: true)
        }
        let size = ((try? FileManager.default.attributesOfItem(atPath: checkpoint.path))?[.size] as? Int) ?? 0
        log("converting \(checkpoint.lastPathComponent) (\(size / 1_000_000) MB) to ONNX; a successful conversion is kept in \(directory.path)")
        let start = Date()
        // Staged in a private folder and published by one rename: a crash or a concurrent conversion
        // never leaves a half-written model where it would be used.
        let staging = cacheDirectory.appendingPathComponent(".\(digest.prefix(32))-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: staging) }
        let info = try convert(checkpoint, to: staging.appendingPathComponent("model.onnx"), kind: kind, split: true,
                               info: staging.appendingPathComponent("info.json"), sha256: digest)
        if !FileManager.default.fileExists(atPath: infoFile.path) {
            try? FileManager.default.removeItem(at: directory)
            do {
                try FileManager.default.moveItem(at: staging, to: directory)
            } catch where FileManager.default.fileExists(atPath: infoFile.path) {
                // Another process published the same conversion first.
            }
        }
        log(String(format: "converted %@ in %.1f s (%@, %d parameters)", checkpoint.lastPathComponent,
                   Date().timeIntervalSince(start), info.format, info.parameters))
        return Converted(model: model, info: info, cached: false)
    }
}
