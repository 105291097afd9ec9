import Crypto
import Foundation
import Imaging
import Inference
import LipSync
import Media

/// Prepares avatars and keeps them on disk, keyed by a hash of the file's bytes and the settings, so
/// a second use of the same avatar skips face analysis entirely.
package final class AvatarStore: @unchecked Sendable {
    package let cacheDirectory: URL
    private let assets: URL
    private let runtime: InferenceRuntime
    private let lock = NSLock()
    private var analyzers: (short: FaceDetector, full: FaceDetector, landmarks: FaceLandmarker)?
    /// Prepared avatars already opened in this process.
    private var opened: [String: PreparedAvatar] = [:]

    package init(cacheDirectory: URL, assets: URL, runtime: InferenceRuntime) {
        self.cacheDirectory = cacheDirectory
        self.assets = assets
        self.runtime = runtime
    }

    /// The prepared avatar for `file`, from the cache when it is there. `cached` tells which.
    package func prepare(_ file: URL, settings: AvatarSettings = .default) throws -> (avatar: PreparedAvatar, cached: Bool) {
        let key = try Self.key(for: file, settings: settings)
        let directory = cacheDirectory.appendingPathComponent(key)
        if let avatar = lock.withLock({ opened[key] }) { return (avatar, true) }
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("avatar.json").path),
           let avatar = try? PreparedAvatar(key: key, directory: directory) {
            lock.withLock { opened[key] = avatar }
            return (avatar, true)
        }
        try analyse(file, settings: settings, into: directory)
        let avatar = try PreparedAvatar(key: key, directory: directory)
        lock.withLock { opened[key] = avatar }
        return (avatar, false)
    }

    /// Removes staging folders (`.<key>-<pid>-<uuid>`) of analyses whose process is gone (killed
    /// mid-analysis). A folder of a live process, or of an unknown shape younger than `age`, is left.
    @discardableResult
    package func removeAbandonedStaging(olderThan age: TimeInterval = 600, now: Date = Date()) -> Int {
        let manager = FileManager.default
        var removed = 0
        for name in (try? manager.contentsOfDirectory(atPath: cacheDirectory.path)) ?? [] where name.hasPrefix(".") {
            let url = cacheDirectory.appendingPathComponent(name)
            let fields = name.dropFirst().split(separator: "-")
            let owner = fields.count >= 3 ? Int32(fields[1]) : nil
            let abandoned: Bool
            if let owner {
                abandoned = owner != getpid() && kill(owner, 0) != 0 && errno == ESRCH
            } else {
                let modified = (try? manager.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date
                abandoned = modified.map { now.timeIntervalSince($0) > age } ?? false
            }
            if abandoned, (try? manager.removeItem(at: url)) != nil { removed += 1 }
        }
        return removed
    }

    package static func key(for file: URL, settings: AvatarSettings) throws -> String {
        guard FileManager.default.isReadableFile(atPath: file.path) else {
            throw MediaError.unreadable(file: file.lastPathComponent, reason: "no such file")
        }
        var hasher = SHA256()
        hasher.update(data: Data(try FileDigest.sha256(of: file).utf8))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        hasher.update(data: try encoder.encode(settings))
        hasher.update(data: Data("v\(PreparedAvatar.formatVersion)".utf8))
        return hasher.finalize().prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    private func loadAnalyzers() throws -> (short: FaceDetector, full: FaceDetector, landmarks: FaceLandmarker) {
        try lock.withLock {
            if let analyzers { return analyzers }
            let loaded = (try FaceDetector(range: .short, assets: assets, runtime: runtime),
                          try FaceDetector(range: .full, assets: assets, runtime: runtime),
                          try FaceLandmarker(assets: assets, runtime: runtime))
            analyzers = loaded
            return loaded
        }
    }

    /// Finds the face (largest, most confident) in one frame, with its landmarks.
    package func analyseFrame(_ image: RGBImage) throws -> (detection: FaceDetection, landmarks: [Point])? {
        let analyzers = try loadAnalyzers()
        var detections = try analyzers.short.detect(image)
        if detections.isEmpty { detections = try analyzers.full.detect(image) }
        guard let best = detections.max(by: { $0.area * $0.score < $1.area * $1.score }) else { return nil }
        let (points, presence) = try analyzers.landmarks.landmarks(in: image, face: best)
        guard presence > 0.5 else { return nil }
        return (best, points)
    }

    /// The Wav2Lip box: the fixed box when one is set; else the landmarks' bounding box, padded by the
    /// fractions, then by the pixel pads; kept inside the frame.
    package static func box(landmarks: [Point], settings: AvatarSettings, width: Int, height: Int) -> PixelRect {
        if let fixed = settings.box { return fixed.clamped(width: width, height: height) }
        let xs = landmarks.map(\.x), ys = landmarks.map(\.y)
        let boxHeight = ys.max()! - ys.min()!
        let pads = settings.pads ?? AvatarSettings.Pads(top: 0, bottom: 0, left: 0, right: 0)
        let left = xs.min()! - settings.padSides * boxHeight - Double(pads.left)
        let right = xs.max()! + settings.padSides * boxHeight + Double(pads.right)
        let top = ys.min()! - settings.padTop * boxHeight - Double(pads.top)
        let bottom = ys.max()! + settings.padBottom * boxHeight + Double(pads.bottom)
        return PixelRect(x: Int(left.rounded()), y: Int(top.rounded()),
                         width: Int((right - left).rounded()), height: Int((bottom - top).rounded()))
            .clamped(width: width, height: height)
    }

    /// Smooths boxes over a centred window (no lag), each frame averaged with the neighbours that have a face.
    static func smooth(_ boxes: [PixelRect?], window: Int) -> [PixelRect?] {
        let half = max(0, window / 2)
        return boxes.indices.map { index in
            guard boxes[index] != nil else { return nil }
            let neighbours = boxes[max(0, index - half)...min(boxes.count - 1, index + half)].compactMap { $0 }
            func mean(_ value: (PixelRect) -> Int) -> Int {
                Int((Double(neighbours.map(value).reduce(0, +)) / Double(neighbours.count)).rounded())
            }
            return PixelRect(x: mean(\.x), y: mean(\.y), width: mean(\.width), height: mean(\.height))
        }
    }

    private func analyse(_ file: URL, settings: AvatarSettings, into directory: URL) throws {
        let start = Date()
        let info = try FFmpeg.probe(file)
        guard let sourceWidth = info.width, let sourceHeight = info.height else {
            throw AvatarError.unsupported("\(file.lastPathComponent) has no picture; an avatar is an image (PNG, JPEG) or a video")
        }
        // H.264 yuv420p needs even sizes: drop the last column/row of odd-sized sources.
        let width = sourceWidth & ~1, height = sourceHeight & ~1
        guard width >= 64, height >= 64 else {
            throw AvatarError.unsupported("\(file.lastPathComponent) is \(sourceWidth)x\(sourceHeight); an avatar needs at least 64x64 pixels")
        }
        try settings.validate()
        if let box = settings.box, box.maxX > width || box.maxY > height {
            throw AvatarError.unsupported("the box (top \(box.y), bottom \(box.maxY), left \(box.x), right \(box.maxX)) does not fit in \(file.lastPathComponent), which is \(width)x\(height)")
        }
        let even = PixelRect(x: 0, y: 0, width: width, height: height)
        // The owner's pid in the name: a later start can tell an abandoned analysis from a running one.
        let staging = directory.deletingLastPathComponent()
            .appendingPathComponent(".\(directory.lastPathComponent)-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: staging) }
        let framesURL = staging.appendingPathComponent("frames.rgb")
        _ = FileManager.default.createFile(atPath: framesURL.path, contents: nil)
        let framesOut = try FileHandle(forWritingTo: framesURL)

        var found: [(box: PixelRect, landmarks: [Point])?] = []
        func analyse(_ frame: RGBImage) throws {
            let image = frame.width == width && frame.height == height ? frame : frame.cropped(to: even)
            try framesOut.write(contentsOf: Data(image.pixels))
            if let face = try analyseFrame(image) {
                found.append((Self.box(landmarks: face.landmarks, settings: settings, width: width, height: height), face.landmarks))
            } else {
                found.append(nil)
            }
        }
        if info.isStillImage {
            try analyse(try FFmpeg.decodeImage(file))
        } else {
            try FFmpeg.forEachFrame(file) { _, frame in try analyse(frame) }
        }
        try framesOut.close()
        guard found.contains(where: { $0 != nil }) else { throw AvatarError.noFace(file.lastPathComponent) }

        let boxes = Self.smooth(found.map { $0?.box }, window: settings.smoothingWindow)
        let faces: [FaceRegion?] = zip(boxes, found).map { box, face in
            guard let box, let face, box.width > 8, box.height > 8 else { return nil }
            return FaceRegion(box: box, landmarks: face.landmarks)
        }
        // 96x96 crops, frame by frame from the staged frames.
        let frames = try Data(contentsOf: framesURL, options: .alwaysMapped)
        let side = Wav2LipEngine.faceSize
        var crops = Data(capacity: faces.count * PreparedAvatar.cropBytes)
        let frameSize = width * height * 3
        for (index, face) in faces.enumerated() {
            if let face {
                let frame = RGBImage(width: width, height: height, pixels: [UInt8](frames[(index * frameSize)..<((index + 1) * frameSize)]))
                crops.append(contentsOf: frame.cropped(to: face.box).resized(width: side, height: side).pixels)
            } else {
                crops.append(Data(count: PreparedAvatar.cropBytes))
            }
        }
        try crops.write(to: staging.appendingPathComponent("crops.rgb"))
        let metadata = PreparedAvatar.Metadata(
            version: PreparedAvatar.formatVersion, source: file.lastPathComponent, width: width, height: height,
            fps: info.isStillImage ? nil : (info.fps ?? 25), frameCount: faces.count, faces: faces, settings: settings,
            analysisSeconds: Date().timeIntervalSince(start))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(metadata).write(to: staging.appendingPathComponent("avatar.json"))
        // Publish atomically: a concurrent or interrupted preparation never leaves a half-written entry.
        try FileManager.default.createDirectory(at: cacheDirectory, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.moveItem(at: staging, to: directory)
    }
}
