/// A 96x96 RGB image, 8 bits per channel, row-major (height, width, channel): a face crop going into
/// a lip-sync engine, or a mouth patch coming out of one.
public struct FacePatch: Sendable, Equatable {
    public static let size = 96
    public static let byteCount = size * size * 3

    public var pixels: [UInt8]

    public init(pixels: [UInt8]) {
        precondition(pixels.count == Self.byteCount, "a face patch holds \(Self.byteCount) bytes, got \(pixels.count)")
        self.pixels = pixels
    }
}

/// What an engine renders: for each video frame, its mel window (80x16, row-major) and the avatar's
/// face crop for that frame.
public struct LipSyncBatch: Sendable {
    public var melWindows: [[Float]]
    public var faces: [FacePatch]

    public init(melWindows: [[Float]], faces: [FacePatch]) {
        precondition(melWindows.count == faces.count, "one face per mel window")
        self.melWindows = melWindows
        self.faces = faces
    }

    public var count: Int { faces.count }
}

/// Turns mel windows and face crops into mouth patches. Wav2Lip (a neural model) and the viseme
/// engine (no weights) implement it, so every generator and front end can use either.
public protocol LipSyncEngine: Sendable {
    /// A short identifier shown in results and timings (`wav2lip`, `wav2lip_gan`, ...).
    var name: String { get }
    /// Frames per inference call that give full speed; callers may pass any count.
    var preferredBatchSize: Int { get }
    func render(_ batch: LipSyncBatch) async throws -> [FacePatch]
}

public enum LipSyncError: Error, CustomStringConvertible, Equatable {
    case modelNotFound(name: String, directory: String, available: [String])
    case malformedModel(file: String, problem: String)
    case badInput(String)

    public var description: String {
        switch self {
        case .modelNotFound(let name, let directory, let available):
            let found = available.isEmpty ? "no models are installed there" : "installed: \(available.joined(separator: ", "))"
            return "model '\(name)' not found in \(directory) (\(found)); put \(name).onnx there or pass a path to an .onnx file"
        case .malformedModel(let file, let problem):
            return "\(file) is not a usable Wav2Lip model: \(problem)"
        case .badInput(let message):
            return message
        }
    }
}
