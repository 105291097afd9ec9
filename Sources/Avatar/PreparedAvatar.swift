import Foundation
import Imaging
import LipSync

/// How the Wav2Lip face box is derived from the landmarks, with the original Wav2Lip's framing options
/// (`--pads`, `--box`, `--nosmooth`). Part of a prepared avatar's cache key.
package struct AvatarSettings: Sendable, Hashable, Codable {
    /// Padding added around the landmarks' bounding box, as fractions of its height. Wav2Lip pads the
    /// bottom by default so the chin, which moves when speaking, stays inside the box: 12% of the
    /// landmarks' height puts the bottom edge where a face detector's box plus the original's 10 px pad
    /// puts it (measured on three faces: 9 to 20% below the chin; docs/ARCHITECTURE.md).
    package var padTop: Double
    package var padBottom: Double
    package var padSides: Double
    /// Frames averaged (centred, so without lag) when smoothing a video's face boxes; 1: no smoothing.
    package var smoothingWindow: Int
    /// Pixels added to each side of the box, after the fractions above (the original's `--pads top
    /// bottom left right`, e.g. 0 10 0 0); nil: none. Negative values shrink the box.
    package var pads: Pads?
    /// A fixed face box for every frame, in frame pixels, instead of the detected one (the original's
    /// `--box`). The face is still analysed for its landmarks.
    package var box: PixelRect?

    package struct Pads: Sendable, Hashable, Codable {
        package var top: Int
        package var bottom: Int
        package var left: Int
        package var right: Int

        package init(top: Int, bottom: Int, left: Int, right: Int) {
            (self.top, self.bottom, self.left, self.right) = (top, bottom, left, right)
        }
    }

    package static let `default` = AvatarSettings(padTop: 0, padBottom: 0.12, padSides: 0, smoothingWindow: 5)

    package init(padTop: Double, padBottom: Double, padSides: Double, smoothingWindow: Int, pads: Pads? = nil, box: PixelRect? = nil) {
        self.padTop = padTop
        self.padBottom = padBottom
        self.padSides = padSides
        self.smoothingWindow = smoothingWindow
        self.pads = pads
        self.box = box
    }

    /// The defaults with the original's options applied: `pads` [top, bottom, left, right] in pixels,
    /// `box` [top, bottom, left, right] in pixels (the original's order), `nosmooth`. Throws for values
    /// that cannot make a box.
    package static func framing(pads: [Int]?, box: [Int]?, nosmooth: Bool) throws -> AvatarSettings {
        var settings = AvatarSettings.default
        if let pads {
            guard pads.count == 4 else { throw AvatarError.unsupported("pads takes 4 numbers (top, bottom, left, right), got \(pads.count)") }
            settings.pads = Pads(top: pads[0], bottom: pads[1], left: pads[2], right: pads[3])
        }
        if let box {
            guard box.count == 4 else { throw AvatarError.unsupported("box takes 4 numbers (top, bottom, left, right), got \(box.count)") }
            settings.box = PixelRect(x: box[2], y: box[0], width: box[3] - box[2], height: box[1] - box[0])
        }
        if nosmooth { settings.smoothingWindow = 1 }
        try settings.validate()
        return settings
    }

    /// Checks what can be checked without the avatar (the box against the frame is checked when it is analysed).
    package func validate() throws {
        if let pads {
            let values = [pads.top, pads.bottom, pads.left, pads.right]
            guard values.allSatisfy({ abs($0) <= 1000 }) else {
                throw AvatarError.unsupported("pads must be within -1000...1000 pixels, got \(values.map(String.init).joined(separator: ", "))")
            }
        }
        if let box {
            guard box.x >= 0, box.y >= 0, box.width >= 16, box.height >= 16 else {
                throw AvatarError.unsupported("box must have top < bottom and left < right, at least 16 pixels apart, none negative; got top \(box.y), bottom \(box.maxY), left \(box.x), right \(box.maxX)")
            }
        }
        guard (1...99).contains(smoothingWindow) else {
            throw AvatarError.unsupported("the smoothing window must be in 1...99 frames, got \(smoothingWindow)")
        }
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
