/// Maps video frames to mel windows the way Wav2Lip's inference does: frame i uses the 16 columns
/// starting at int(i * 80 / fps); windows that would run past the end are clamped to the last 16.
package struct MelFrameWindows: Sendable {
    package static let width = 16

    package let mel: MelMatrix
    package let fps: Double
    /// Mel columns per second (80 for Wav2Lip).
    package let melFramesPerSecond: Double

    /// A mel shorter than one window is padded on the right with the silence floor.
    package init(mel: MelMatrix, fps: Double, melFramesPerSecond: Double = MelParameters.wav2lip.framesPerSecond,
                floor: Float = -Float(MelParameters.wav2lip.maxAbsValue)) {
        precondition(fps > 0)
        if mel.frames >= Self.width {
            self.mel = mel
        } else {
            var values = [Float](repeating: floor, count: mel.bands * Self.width)
            for band in 0..<mel.bands {
                for frame in 0..<mel.frames { values[band * Self.width + frame] = mel[band, frame] }
            }
            self.mel = MelMatrix(bands: mel.bands, frames: Self.width, values: values)
        }
        self.fps = fps
        self.melFramesPerSecond = melFramesPerSecond
    }

    /// First mel column of video frame `frame` (same floating-point steps as the Python original).
    package func startColumn(forFrame frame: Int) -> Int {
        let step = melFramesPerSecond / fps
        return min(Int(Double(frame) * step), mel.frames - Self.width)
    }

    /// The [bands x 16] window of video frame `frame`, row-major.
    package func window(forFrame frame: Int) -> [Float] {
        mel.window(start: startColumn(forFrame: frame), width: Self.width)
    }

    /// Video frames needed to cover `duration` seconds: the last frame may run past the audio by less
    /// than one frame, never short of it.
    package static func videoFrameCount(duration: Double, fps: Double) -> Int {
        max(1, Int((duration * fps - 1e-9).rounded(.up)))
    }
}
