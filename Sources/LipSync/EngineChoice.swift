import Inference

/// Picks the lip-sync engine for a request: explicit by name; otherwise Wav2Lip when a model is
/// installed, else the viseme engine (which needs no weights).
public enum EngineChoice {
    public static let engineNames = ["wav2lip", "viseme"]

    /// The Wav2Lip models parallel `split` mode alternates between: NOGAN, then GAN.
    public static let splitModels = ["wav2lip", "wav2lip_gan"]

    /// Whether `split` can run: both models installed and neither a single model nor the viseme engine
    /// asked for.
    public static func canSplit(installed: [String], engine: String?, model: String?) -> Bool {
        splitModels.allSatisfy(installed.contains) && model == nil && engine?.lowercased() != "viseme"
    }

    /// - Parameters:
    ///   - engine: `wav2lip`, `viseme` or nil (automatic).
    ///   - model: a catalog name (`wav2lip`, `wav2lip_gan`) or an .onnx path; implies the Wav2Lip engine.
    ///   - load: loads a Wav2Lip model by name or path (the caller may cache loaded models).
    public static func resolve(engine: String?, model: String?, catalog: ModelCatalog,
                               load: (String) throws -> any LipSyncEngine) throws -> any LipSyncEngine {
        switch engine?.lowercased() {
        case "viseme":
            guard model == nil else { throw LipSyncError.badInput("the viseme engine takes no model; drop the model or choose engine wav2lip") }
            return VisemeEngine()
        case "wav2lip":
            if let model { return try load(model) }
            guard let installed = catalog.installed().first else {
                throw LipSyncError.modelNotFound(name: "wav2lip", directory: catalog.directory.path, available: [])
            }
            return try load(installed.name)
        case nil:
            if let model { return try load(model) }
            if let installed = catalog.installed().first { return try load(installed.name) }
            return VisemeEngine()
        case let other?:
            throw LipSyncError.badInput("unknown engine '\(other)'; choose one of \(engineNames.joined(separator: ", "))")
        }
    }
}
