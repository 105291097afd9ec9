import Foundation
import Imaging
import LipSync

/// How the Wav2Lip face box is derived from the landmarks.
package struct AvatarSettings: Sendable, Hashable, Codable {
    /// Padding added around the landmarks' bounding box, as fractions of its height. Wav2Lip pads the
    /// bottom by default so the chin, which moves when speaking, stays inside the box.
    package var padTop: Double
    package var padBottom: Double
    package var padSides: Double
    /// Frames averaged (centred, so without lag) when smoothing a video's face boxes.
    package var smoothingWindow: Int

    package static let `default` = AvatarSettings(padTop: 0, padBottom: 0.08, padSides: 0, smoothingWindow: 5)

    package init(padTop: Double, padBottom: Double, padSides: Double, smoothingWindow: Int) {
        self.padTop = padTop
        self.padBottom = padBottom
        self.padSides = padSides
        self.smoothingWindow = smoothingWindow
    }
}

/// Where the face is in one avatar frame.
package struct FaceRegion: Sendable, Codable, Equatable {
    /// The Wav2Lip crop box in frame pixels.
    package var box: PixelRect
    /// MediaPipe's 468 face-mesh points in frame pixels.
    package var landmarks: [Point]
}

/// An avatar analysed once: frames (even-sized, as H.264 yuv420p needs), the face in each, and the
/// 96x96 crops the lip-sync engines take. Stored on disk and memory-mapped, so a long video avatar
/// costs no memory until a frame is read.
package final class PreparedAvatar: @unchecked Sendable {
    package struct Metadata: Codable, Sendable {
        package var version: Int
        package var source: String
        package var width: Int
        package var height: Int
        /// The source video's frame rate; nil for a still image.
        package var fps: Double?
        package var frameCount: Int
        package var faces: [FaceRegion?]
        package var settings: AvatarSettings
        package var analysisSeconds: Double
    }

    package static let formatVersion = 1
    static let cropBytes = Wav2LipEngine.faceSize * Wav2LipEngine.faceSize * 3

    package let key: String
    package let directory: URL
    package let metadata: Metadata
    private let frames: Data
    private let crops: Data

    init(key: String, directory: URL) throws {
        self.key = key
        self.directory = directory
        metadata = try JSONDecoder().decode(Metadata.self, from: Data(contentsOf: directory.appendingPathComponent("avatar.json")))
        frames = try Data(contentsOf: directory.appendingPathComponent("frames.rgb"), options: .alwaysMapped)
        crops = try Data(contentsOf: directory.appendingPathComponent("crops.rgb"), options: .alwaysMapped)
        guard metadata.version == Self.formatVersion,
              frames.count == metadata.frameCount * metadata.width * metadata.height * 3,
              crops.count == metadata.frameCount * Self.cropBytes else {
            throw AvatarError.corruptCache(directory.path)
        }
    }

    package var width: Int { metadata.width }
    package var height: Int { metadata.height }
    package var frameCount: Int { metadata.frameCount }
    package var isStill: Bool { metadata.fps == nil }

    /// The avatar frame shown at output frame `index`. A video plays forwards, then backwards, and so
    /// on (ping-pong), so a loop never jumps.
    package func sourceFrame(forOutputFrame index: Int) -> Int {
        let count = metadata.frameCount
        guard count > 1 else { return 0 }
        let period = 2 * (count - 1)
        let phase = index % period
        return phase < count ? phase : period - phase
    }

    package func frame(_ index: Int) -> RGBImage {
        let size = width * height * 3
        return RGBImage(width: width, height: height, pixels: [UInt8](frames[(index * size)..<((index + 1) * size)]))
    }

    package func face(_ index: Int) -> FaceRegion? { metadata.faces[index] }

    /// The 96x96 Wav2Lip crop of frame `index` (meaningful only where a face was found).
    package func crop(_ index: Int) -> RGBImage {
        let size = Self.cropBytes, side = Wav2LipEngine.faceSize
        return RGBImage(width: side, height: side, pixels: [UInt8](crops[(index * size)..<((index + 1) * size)]))
    }
}

package enum AvatarError: Error, CustomStringConvertible, Equatable {
    case noFace(String)
    case unsupported(String)
    case corruptCache(String)

    package var description: String {
        switch self {
        case .noFace(let file): return "no face found in \(file); use a picture or video where one face is clearly visible"
        case .unsupported(let message): return message
        case .corruptCache(let path): return "the prepared avatar in \(path) is damaged; delete that folder to prepare it again"
        }
    }
}
