import AudioFeatures
import Foundation
import Imaging

package enum MediaError: Error, CustomStringConvertible, Equatable {
    case toolMissing(String)
    case unreadable(file: String, reason: String)
    case ffmpegFailed(String)
    /// A helper program (ffmpeg, ffprobe, python, ...) exited with an error; `message` is the end of its stderr.
    case toolFailed(tool: String, message: String)

    package var description: String {
        switch self {
        case .toolMissing(let tool): return "\(tool) is not installed (run scripts/setup.sh)"
        case .unreadable(let file, let reason): return "cannot read \(file): \(reason)"
        case .ffmpegFailed(let message): return "ffmpeg failed: \(message)"
        case .toolFailed(let tool, let message): return "\(tool) failed: \(message)"
        }
    }
}

/// What ffprobe says about a media file.
package struct MediaInfo: Sendable, Equatable {
    package var width: Int?
    package var height: Int?
    /// Frames per second of the video stream (nil for still images and audio).
    package var fps: Double?
    package var frameCount: Int?
    package var duration: Double?
    package var videoCodec: String?
    package var pixelFormat: String?
    package var audioCodec: String?
    package var hasVideo: Bool { width != nil }
    package var hasAudio: Bool { audioCodec != nil }
    /// A single picture (PNG/JPEG), as opposed to a video.
    package var isStillImage: Bool {
        guard let codec = videoCodec else { return false }
        return ["png", "mjpeg", "jpeg2000", "bmp", "webp", "tiff"].contains(codec) && (frameCount ?? 1) <= 1
    }
}

/// ffmpeg and ffprobe as subprocesses (Debian's, found on PATH).
package enum FFmpeg {
    static func tool(_ name: String) throws -> URL { try ToolProcess.locate(name) }

    /// Runs ffmpeg or ffprobe to completion on the calling thread (which must not be one of Swift's
    /// cooperative pool: avatar analysis runs on a dispatch thread); returns stdout.
    @discardableResult
    package static func run(_ name: String, _ arguments: [String], stdin: FileHandle? = nil) throws -> Data {
        try ToolProcess.runBlocking(try tool(name), arguments, stdin: stdin)
    }

    /// The same, awaited without blocking the cooperative pool; cancelling the task stops the tool.
    @discardableResult
    package static func run(_ name: String, _ arguments: [String]) async throws -> Data {
        try await ToolProcess.run(try tool(name), arguments)
    }

    package static func probe(_ url: URL) throws -> MediaInfo {
        guard FileManager.default.isReadableFile(atPath: url.path) else {
            throw MediaError.unreadable(file: url.lastPathComponent, reason: "no such file")
        }
        let data: Data
        do {
            data = try run("ffprobe", ["-v", "error", "-print_format", "json", "-show_streams", "-show_format", url.path])
        } catch MediaError.toolFailed(_, let message) {
            throw MediaError.unreadable(file: url.lastPathComponent, reason: message.isEmpty ? "not a media file" : message)
        }
        struct Probe: Decodable {
            struct Stream: Decodable {
                var codec_type: String?
                var codec_name: String?
                var width: Int?
                var height: Int?
                var pix_fmt: String?
                var avg_frame_rate: String?
                var r_frame_rate: String?
                var nb_frames: String?
                var duration: String?
            }
            struct Format: Decodable { var duration: String? }
            var streams: [Stream]?
            var format: Format?
        }
        let probe = try JSONDecoder().decode(Probe.self, from: data)
        var info = MediaInfo()
        func rate(_ text: String?) -> Double? {
            guard let parts = text?.split(separator: "/"), parts.count == 2,
                  let n = Double(parts[0]), let d = Double(parts[1]), d > 0, n > 0 else { return nil }
            return n / d
        }
        if let video = probe.streams?.first(where: { $0.codec_type == "video" }) {
            info.width = video.width
            info.height = video.height
            info.videoCodec = video.codec_name
            info.pixelFormat = video.pix_fmt
            info.fps = rate(video.avg_frame_rate) ?? rate(video.r_frame_rate)
            info.frameCount = video.nb_frames.flatMap(Int.init)
            info.duration = video.duration.flatMap(Double.init)
        }
        if let audio = probe.streams?.first(where: { $0.codec_type == "audio" }) {
            info.audioCodec = audio.codec_name
        }
        info.duration = info.duration ?? probe.format?.duration.flatMap(Double.init)
        if info.audioCodec == nil && info.width == nil {
            throw MediaError.unreadable(file: url.lastPathComponent, reason: "no audio or video stream")
        }
        return info
    }

    /// Decodes the first frame of an image or video to RGB.
    package static func decodeImage(_ url: URL) throws -> RGBImage {
        let info = try probe(url)
        guard let width = info.width, let height = info.height else {
            throw MediaError.unreadable(file: url.lastPathComponent, reason: "no picture in it")
        }
        let data = try run("ffmpeg", ["-v", "error", "-i", url.path, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        guard data.count == width * height * 3 else {
            throw MediaError.unreadable(file: url.lastPathComponent, reason: "decoded \(data.count) bytes for \(width)x\(height)")
        }
        return RGBImage(width: width, height: height, pixels: [UInt8](data))
    }

    /// Decodes every frame of a video to RGB, calling `body` for each in order (memory holds one frame).
    package static func forEachFrame(_ url: URL, _ body: (Int, RGBImage) throws -> Void) throws {
        let info = try probe(url)
        guard let width = info.width, let height = info.height else {
            throw MediaError.unreadable(file: url.lastPathComponent, reason: "no video in it")
        }
        let out = Pipe()
        let decoder = try ToolProcess(try tool("ffmpeg"), ["-v", "error", "-i", url.path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                                      stdout: out)
        let process = decoder.process
        defer { decoder.terminate(); process.waitUntilExit() }
        let frameBytes = width * height * 3
        var index = 0
        while let data = try out.fileHandleForReading.read(exactly: frameBytes) {
            try body(index, RGBImage(width: width, height: height, pixels: [UInt8](data)))
            index += 1
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw MediaError.ffmpegFailed(decoder.errorTail) }
    }

    /// Decodes the audio of any file ffmpeg reads to mono float samples at `sampleRate`.
    package static func decodeAudio(_ url: URL, sampleRate: Int) async throws -> AudioBuffer {
        guard FileManager.default.isReadableFile(atPath: url.path) else {
            throw MediaError.unreadable(file: url.lastPathComponent, reason: "no such file")
        }
        let data: Data
        do {
            data = try await run("ffmpeg", ["-v", "error", "-i", url.path, "-vn", "-ac", "1", "-ar", "\(sampleRate)", "-f", "f32le", "-"])
        } catch MediaError.toolFailed(_, let message) {
            throw MediaError.unreadable(file: url.lastPathComponent, reason: message.isEmpty ? "not a media file" : message)
        }
        guard !data.isEmpty else { throw MediaError.unreadable(file: url.lastPathComponent, reason: "no audio stream") }
        let samples = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        return AudioBuffer(samples: samples, sampleRate: sampleRate)
    }

    /// Writes an image as PNG.
    package static func writePNG(_ image: RGBImage, to url: URL) throws {
        let raw = try TemporaryFile(suffix: ".rgb")
        try Data(image.pixels).write(to: raw.url)
        try run("ffmpeg", ["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "\(image.width)x\(image.height)",
                           "-i", raw.url.path, "-frames:v", "1", url.path])
    }
}

extension FileHandle {
    /// Reads exactly `count` bytes, or nil at end of stream.
    func read(exactly count: Int) throws -> Data? {
        var buffer = Data(capacity: count)
        while buffer.count < count {
            guard let chunk = try read(upToCount: count - buffer.count), !chunk.isEmpty else {
                return buffer.isEmpty ? nil : buffer
            }
            buffer.append(chunk)
        }
        return buffer
    }
}

/// A file in the scratch directory, removed when this value is released.
package final class TemporaryFile: @unchecked Sendable {
    package let url: URL

    package init(suffix: String = "") throws {
        url = ScratchSpace.directory.appendingPathComponent("lipsync-\(UUID().uuidString)\(suffix)")
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw MediaError.unreadable(file: url.path, reason: "cannot create a temporary file")
        }
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// The end of a log file, for error messages.
    package func lastLines(_ count: Int = 6) -> String {
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(count).joined(separator: "\n")
    }
}
