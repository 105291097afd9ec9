import ArgumentParser
import Avatar
import Foundation
import Imaging
import Inference
import Media

struct AvatarCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "avatar",
        abstract: "Avatar tools.",
        subcommands: [AvatarPrepareCommand.self]
    )
}

struct AvatarPrepareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Analyse an avatar once (face box, landmarks, crops), cache it, and draw what was found."
    )

    @Argument(help: "Image or video (default: the bundled astronaut.png).")
    var path: String?

    @Option(help: "Folder for prepared avatars (default: .cache/avatars in the project).")
    var avatarCache: String?

    @Option(help: "Where to write the check picture (default: <name>.check.png in the current folder).")
    var check: String?

    @OptionGroup var framing: FramingOptions

    func run() async throws {
        let options = AvatarLocations(avatar: path, cache: avatarCache)
        let runtime = try InferenceRuntime.shared.get()
        let start = Date()
        let store = options.store(runtime: runtime)
        let (avatar, cached) = try store.prepare(options.avatarFile, settings: try framing.settings())
        let faces = avatar.metadata.faces.compactMap { $0 }
        print("\(avatar.metadata.source): \(avatar.width)x\(avatar.height), \(avatar.frameCount) frame(s)\(avatar.metadata.fps.map { " at \(format($0)) fps" } ?? ""), face in \(faces.count)")
        if let first = faces.first { print("face box (frame 0): \(first.box), \(first.landmarks.count) landmarks") }
        print(cached ? "from cache (\(avatar.directory.path)) in \(format(Date().timeIntervalSince(start), digits: 3)) s"
                     : "analysed in \(format(avatar.metadata.analysisSeconds)) s, cached in \(avatar.directory.path)")

        let index = avatar.metadata.faces.firstIndex { $0 != nil } ?? 0
        var picture = avatar.frame(index)
        // The original Wav2Lip's framing for comparison: a face detector's box (here BlazeFace's, the
        // detector this project has; the original uses S3FD) plus its default pads 0 10 0 0.
        if let detection = try store.analyseFrame(picture)?.detection {
            let detector = PixelRect(x: Int(detection.x.rounded()), y: Int(detection.y.rounded()),
                                     width: Int(detection.width.rounded()), height: Int((detection.height + 10).rounded()))
                .clamped(width: avatar.width, height: avatar.height)
            print("detector box + pads 0 10 0 0 (blue): \(detector); landmark box (green) is the one used")
            picture.strokeRectangle(detector, color: (0, 128, 255))
        }
        if let face = avatar.face(index) {
            picture.strokeRectangle(face.box, color: (0, 255, 0))
            for point in face.landmarks { picture.fillDot(x: point.x, y: point.y, radius: 0, color: (255, 255, 0)) }
            for mouth in [13, 14, 61, 291] { picture.fillDot(x: face.landmarks[mouth].x, y: face.landmarks[mouth].y, radius: 2, color: (255, 0, 0)) }
        }
        let checkURL = URL(fileURLWithPath: check ?? (options.avatarFile.deletingPathExtension().lastPathComponent + ".check.png"))
        try FFmpeg.writePNG(picture, to: checkURL)
        print("check picture: \(checkURL.path)")
    }
}
