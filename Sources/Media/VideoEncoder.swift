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

/// Where an encode goes.
package enum EncoderDestination: Sendable {
    /// A regular MP4 with the index at the front (`+faststart`), so browsers start playing at once.
    case file(URL)
    /// A fragmented MP4 written as it is encoded: an init segment, then keyframe-aligned fragments of
    /// `fragmentFrames` frames, each handed to `VideoEncoder.output` as soon as ffmpeg writes it. Played
    /// live by `ffplay -`, Media Source Extensions, ...; a valid MP4 once complete.
    case fragmented(fragmentFrames: Int)
    /// A regular MP4 file and, from the same encode, an HLS event playlist (`stream.m3u8`) with fMP4
    /// segments (`init.mp4`, `seg_00000.m4s`, ...) of `segmentFrames` frames in `hlsDirectory`, growing
    /// while the video renders.
    case fileWithHLS(URL, hlsDirectory: URL, segmentFrames: Int)

    package static let playlistName = "stream.m3u8"
}

/// An ffmpeg process fed raw RGB frames on stdin, writing H.264 yuv420p (+ AAC when an audio file is
/// given) to a destination. Frames are written from a serial queue of its own: a full pipe blocks that
/// thread, not Swift's pool.
package final class VideoEncoder: @unchecked Sendable {
    package let width: Int
    package let height: Int
    package let fps: Double
    package let destination: EncoderDestination
    /// The bytes of a `.fragmented` encode as ffmpeg writes them (nil for the other destinations).
    package let output: AsyncThrowingStream<Data, Error>?

    private let tool: ToolProcess
    private let input: FileHandle
    private let queue = DispatchQueue(label: "lipsync.encoder")
    private let outputDone = DispatchSemaphore(value: 0)
    private var framesWritten = 0
    private var failure: Error?

    /// A regular MP4 file.
    ///   - keyframeOnlyAtStart: one keyframe at frame 0, as concatenated segments need; otherwise x264 decides.
    package convenience init(output: URL, width: Int, height: Int, fps: Double, audio: URL? = nil,
                             settings: EncoderSettings = EncoderSettings(), keyframeOnlyAtStart: Bool = false) throws {
        try self.init(destination: .file(output), width: width, height: height, fps: fps, audio: audio, settings: settings,
                      keyframeOnlyAtStart: keyframeOnlyAtStart)
    }

    /// - Parameters:
    ///   - audio: a file whose audio is muxed in (nil: video only).
    package init(destination: EncoderDestination, width: Int, height: Int, fps: Double, audio: URL? = nil,
                 settings: EncoderSettings = EncoderSettings(), keyframeOnlyAtStart: Bool = false) throws {
        guard width > 0, height > 0, width % 2 == 0, height % 2 == 0 else {
            throw MediaError.ffmpegFailed("H.264 yuv420p needs positive even dimensions, got \(width)x\(height)")
        }
        guard fps > 0, fps <= 240 else { throw MediaError.ffmpegFailed("frame rate must be in (0, 240], got \(fps)") }
        self.width = width
        self.height = height
        self.fps = fps
        self.destination = destination
        var arguments = ["-v", "error", "-y",
                         "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "\(width)x\(height)", "-r", String(fps), "-i", "-"]
        if let audio { arguments += ["-i", audio.path] }
        arguments += ["-map", "0:v:0"]
        if audio != nil { arguments += ["-map", "1:a:0", "-c:a", "aac", "-b:a", settings.audioBitrate] }
        if audio != nil, case .fragmented = destination {
            // AAC starts with 1024 samples of encoder priming. A regular MP4 hides them with an edit list;
            // fragments have none, so the audio would play 1024 samples late. Dropping the first 1024
            // input samples (21 ms at 48 kHz) puts every later sample back on time.
            // And no shifting of timestamps to hide the priming: video frame k stays at k / fps.
            arguments += ["-af", "aresample=48000,atrim=start_sample=\(Self.aacPriming),asetpts=PTS-STARTPTS", "-ar", "48000",
                          "-avoid_negative_ts", "disabled"]
        }
        arguments += ["-c:v", "libx264", "-preset", settings.preset, "-crf", String(settings.crf), "-pix_fmt", "yuv420p"]
        if keyframeOnlyAtStart { arguments += ["-g", "100000", "-keyint_min", "100000", "-sc_threshold", "0", "-bf", "0"] }
        // Fragments and segments start at keyframes placed every `frames` frames, exactly (a fixed GOP,
        // no scene-cut keyframes in between).
        func keyframes(every frames: Int) -> [String] {
            ["-g", String(frames), "-keyint_min", String(frames), "-sc_threshold", "0"]
        }
        let stdout: Pipe?
        switch destination {
        case .file(let url):
            arguments += ["-movflags", "+faststart", url.path]
            stdout = nil
        case .fragmented(let frames):
            // zerolatency: no lookahead or frame threads holding frames back, so a fragment leaves as
            // soon as its last frame is in.
            arguments += ["-tune", "zerolatency"] + keyframes(every: max(1, frames))
            arguments += ["-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-flush_packets", "1", "pipe:1"]
            stdout = Pipe()
        case .fileWithHLS(let url, let directory, let frames):
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            arguments += keyframes(every: max(1, frames))
            let seconds = Double(max(1, frames)) / fps
            // One encode, two muxers (tee): the file and the playlist.
            let hls = ["f=hls", "hls_time=\(seconds)", "hls_playlist_type=event", "hls_segment_type=fmp4",
                       "hls_fmp4_init_filename=init.mp4",
                       "hls_segment_filename=\(Self.teeEscaped(directory.appendingPathComponent("seg_%05d.m4s").path))"]
            arguments += ["-f", "tee",
                          "[f=mp4:movflags=+faststart]\(Self.teeEscaped(url.path))|[\(hls.joined(separator: ":"))]" +
                          Self.teeEscaped(directory.appendingPathComponent(EncoderDestination.playlistName).path)]
            stdout = nil
        }

        let pipe = Pipe()
        tool = try ToolProcess(try FFmpeg.tool("ffmpeg"), arguments, stdin: pipe, stdout: stdout)
        input = pipe.fileHandleForWriting
        if let stdout {
            let (stream, continuation) = AsyncThrowingStream.makeStream(of: Data.self)
            output = stream
            let reader = stdout.fileHandleForReading, done = outputDone
            // ffmpeg's output is read on a thread of its own until the end of the stream.
            Thread.detachNewThread {
                while true {
                    let data = reader.availableData
                    if data.isEmpty { break }
                    continuation.yield(data)
                }
                continuation.finish()
                done.signal()
            }
        } else {
            output = nil
            outputDone.signal()
        }
    }

    /// Samples of priming an AAC encoder puts before the first real one.
    static let aacPriming = 1024

    /// Escapes the characters the tee muxer's option syntax gives a meaning.
    static func teeEscaped(_ path: String) -> String {
        var escaped = ""
        for character in path {
            if "\\:|[]=".contains(character) { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
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
                    self.outputDone.wait()
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
        // SIGTERM now, not after the queue: a write blocked on a full pipe only returns once ffmpeg is gone.
        tool.terminate()
        queue.async {
            try? self.input.close()
            self.tool.terminate()
            self.tool.process.waitUntilExit()
            switch self.destination {
            case .file(let url): try? FileManager.default.removeItem(at: url)
            case .fileWithHLS(let url, let directory, _):
                try? FileManager.default.removeItem(at: url)
                try? FileManager.default.removeItem(at: directory)
            case .fragmented: break
            }
        }
    }
}
