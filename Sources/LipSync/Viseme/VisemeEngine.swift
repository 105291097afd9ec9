import Foundation
import Imaging

/// Lip-sync without trained weights: phonemes (or, for recordings, loudness) become mouth shapes,
/// and each frame's face is deformed into its shape from the landmarks. The default engine whenever no
/// Wav2Lip model is installed.
package final class VisemeEngine: LipSyncEngine, Sendable {
    package let name = "viseme"
    package let preferredBatchSize = 8
    package let cropStyle = CropStyle.fullResolution
    package let isInferenceBound = false
    package let warp = MouthWarp()

    package init() {}

    package func render(_ batch: LipSyncBatch) async throws -> [RGBImage] {
        guard let cues = batch.cues else { throw LipSyncError.badInput("the viseme engine needs the speech cues of the utterance") }
        guard batch.landmarks.count == batch.count else { throw LipSyncError.badInput("the viseme engine needs face landmarks") }
        let track = cues.mouth, warp = self.warp
        // Frames are independent: render them side by side (the warp is all arithmetic, no waiting).
        return await withTaskGroup(of: (Int, RGBImage).self) { group in
            for item in 0..<batch.count {
                group.addTask {
                    let frame = batch.frames[item]
                    let shape = frame < track.shapes.count ? track.shapes[frame] : .rest
                    return (item, warp.render(batch.faces[item], landmarks: batch.landmarks[item], shape: shape))
                }
            }
            var patches = batch.faces
            for await (item, patch) in group { patches[item] = patch }
            return patches
        }
    }
}
