import Imaging

/// What an engine renders: a run of video frames, each with its mel window (80x16, row-major), the
/// avatar's face crop for that frame and the face landmarks in crop pixels.
package struct LipSyncBatch: Sendable {
    /// Global video frame indices (frame i is shown at i / fps seconds).
    package var frames: [Int]
    package var melWindows: [[Float]]
    package var faces: [RGBImage]
    /// MediaPipe face-mesh points of each face, in the crop's pixel coordinates (empty when unknown).
    package var landmarks: [[Point]]
    /// What is said when, for engines that animate from phonemes rather than from the mel.
    package var cues: SpeechCues?

    package init(frames: [Int], melWindows: [[Float]], faces: [RGBImage], landmarks: [[Point]] = [], cues: SpeechCues? = nil) {
        precondition(frames.count == faces.count && melWindows.count == faces.count, "one frame index, mel window and face per frame")
        precondition(landmarks.isEmpty || landmarks.count == faces.count, "landmarks for every face or none")
        self.frames = frames
        self.melWindows = melWindows
        self.faces = faces
        self.landmarks = landmarks
        self.cues = cues
    }

    package var count: Int { faces.count }
}

/// Which face crops an engine takes.
package enum CropStyle: Sendable {
    /// The 96x96 crops Wav2Lip was trained on (prepared once per avatar).
    case wav2lip
    /// The face box at the avatar's own resolution, extended below the chin, with landmarks.
    case fullResolution

    /// The part of a `frameWidth` x `frameHeight` frame an engine gets for a face `box`, and that is
    /// pasted back: the box itself for Wav2Lip; for engines that deform the face, the box extended
    /// below (the box ends just under the chin), so a dropping jaw fades out on the neck without a fold.
    package func region(for box: PixelRect, frameWidth: Int, frameHeight: Int) -> PixelRect {
        switch self {
        case .wav2lip:
            return box
        case .fullResolution:
            let below = Int((Double(box.height) * 0.35).rounded())
            return PixelRect(x: box.x, y: box.y, width: box.width, height: box.height + below)
                .clamped(width: frameWidth, height: frameHeight)
        }
    }
}

/// Turns mel windows and face crops into face patches (same size as the crops). Wav2Lip (a neural
/// model) and the viseme engine (no weights) implement it, so every generator and front end can use
/// either.
package protocol LipSyncEngine: Sendable {
    /// A short identifier shown in results and timings (`wav2lip`, `wav2lip_gan`, `viseme`, ...).
    var name: String { get }
    /// Frames per call that give full speed; callers may pass any count.
    var preferredBatchSize: Int { get }
    var cropStyle: CropStyle { get }
    /// True when rendering a frame costs more than encoding it (neural inference). Engines that are
    /// cheaper than the video encoder gain nothing from parallel chunks on a small machine, where the
    /// encoder already uses every core.
    var isInferenceBound: Bool { get }
    /// The numeric precision inference runs at (`f32`, `bf16`); nil for engines without a model.
    var precision: String? { get }
    func render(_ batch: LipSyncBatch) async throws -> [RGBImage]
}

package extension LipSyncEngine {
    var precision: String? { nil }
}

package enum LipSyncError: Error, CustomStringConvertible, Equatable {
    case modelNotFound(name: String, directory: String, available: [String])
    case malformedModel(file: String, problem: String)
    case badInput(String)

    package var description: String {
        switch self {
        case .modelNotFound(let name, let directory, let available):
            let found = available.isEmpty ? "no models are installed there" : "installed: \(available.joined(separator: ", "))"
            return "model '\(name)' not found in \(directory) (\(found)); put \(name).pth or \(name).onnx there, or pass a path to an .onnx or .pth file"
        case .malformedModel(let file, let problem):
            return "\(file) is not a usable Wav2Lip model: \(problem)"
        case .badInput(let message):
            return message
        }
    }
}
