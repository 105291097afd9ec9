import Dispatch
import Foundation
import Imaging

/// H.264 settings shared by every encode, so segments made separately can be joined without
/// re-encoding.
package struct EncoderSettings: Sendable, Hashable {
    /// x264 preset: `ultrafast` ... `veryslow`.
    package var preset: String
    /// x264 constant rate factor: lower is better quality (18 is visually lossless, 23 is x264's default).
    package var crf: Int
    package var audioBitrate: String

    package init(preset: String = "veryfast", crf: Int = 20, audioBitrate: String = "128k") {
        self.preset = preset
        self.crf = crf
        self.audioBitrate = audioBitrate
    }
}

/// An ffmpeg process fed raw RGB frames on stdin, writing H.264 yuv420p (+ AAC when an audio file is
/// given) into an MP4 with the index at the front (`+faststart`), so browsers start playing at once.
/// Frames are written from a serial queue of its own: a full pipe blocks that thread, not Swift's pool.
package final class VideoEncoder: @unchecked Sendable {
    package let width: Int
    package let height: Int
    package let fps: Double
    package let output: URL

    private let tool: ToolProcess
    private let input: FileHandle
    private let queue = DispatchQueue(label: "lipsync.encoder")
    private var framesWritten = 0
    private var failure: Error?

    /// - Parameters:
    ///   - audio: a file whose audio is muxed in (nil: video only).
    ///   - keyframeOnlyAtStart: one keyframe at frame 0, as concatenated segments need; otherwise x264 decides.
    package init(output: URL, width: Int, height: Int, fps: Double, audio: URL? = nil,
                settings: EncoderSettings = EncoderSettings(), keyframeOnlyAtStart: Bool = false) throws {
        guard width > 0, height > 0, width % 2 == 0, height % 2 == 0 else {
            throw MediaError.ffmpegFailed("H.264 yuv420p needs positive even dimensions, got \(width)x\(height)")
        }
        guard fps > 0, fps <= 240 else { throw MediaError.ffmpegFailed("frame rate must be in (0, 240], got \(fps)") }
        self.width = width
        self.height = height
        self.fps = fps
        self.output = output
        var arguments = ["-v", "error", "-y",
                         "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "\(width)x\(height)", "-r", String(fps), "-i", "-"]
        if let audio { arguments += ["-i", audio.path] }
        arguments += ["-map", "0:v:0"]
        if audio != nil { arguments += ["-map", "1:a:0", "-c:a", "aac", "-b:a", settings.audioBitrate] }
        arguments += ["-c:v", "libx264", "-preset", settings.preset, "-crf", String(settings.crf),
                      "-pix_fmt", "yuv420p", "-movflags", "+faststart"]
        if keyframeOnlyAtStart { arguments += ["-g", "100000", "-keyint_min", "100000", "-sc_threshold", "0", "-bf", "0"] }
        arguments.append(output.path)

        let pipe = Pipe()
        tool = try ToolProcess(try FFmpeg.tool("ffmpeg"), arguments, stdin: pipe)
        input = pipe.fileHandleForWriting
    }

    deinit {
        tool.terminate()
    }

    /// Queues a frame for encoding; returns once ffmpeg has taken it.
    package func append(_ frame: RGBImage) async throws {
        precondition(frame.width == width && frame.height == height, "frame \(frame.width)x\(frame.height) in a \(width)x\(height) video")
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            queue.async {
                continuation.resume(with: Result { try self.writeBlocking(frame) })
            }
        }
    }

    /// Writes a frame from the calling thread.
    package func writeBlocking(_ frame: RGBImage) throws {
        if let failure { throw failure }
        do {
            try frame.pixels.withUnsafeBytes { try input.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: $0.baseAddress!), count: $0.count, deallocator: .none)) }
            framesWritten += 1
        } catch {
            failure = MediaError.ffmpegFailed("encoder stopped taking frames: \(tool.errorTail)")
            throw failure!
        }
    }

    /// Closes the input and waits for ffmpeg to finish the file.
    package func finish() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result {
                    try? self.input.close()
                    self.tool.process.waitUntilExit()
                    guard self.tool.process.terminationStatus == 0 else {
                        throw MediaError.ffmpegFailed(self.tool.errorTail)
                    }
                    if let failure = self.failure { throw failure }
                    return self.framesWritten
                })
            }
        }
    }

    /// Stops ffmpeg and removes the partial output. Returns at once: the stopping happens on the
    /// encoder's queue, after any write in progress.
    package func cancel() {
        queue.async {
            try? self.input.close()
            self.tool.terminate()
            self.tool.process.waitUntilExit()
            try? FileManager.default.removeItem(at: self.output)
        }
    }
}
