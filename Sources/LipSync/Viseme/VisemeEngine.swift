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
        let track = cues.mouth
        return (0..<batch.count).map { item in
            let frame = batch.frames[item]
            let shape = frame < track.shapes.count ? track.shapes[frame] : .rest
            return warp.render(batch.faces[item], landmarks: batch.landmarks[item], shape: shape)
        }
    }
}
