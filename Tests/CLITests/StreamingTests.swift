import Foundation
import Media
import Testing
import TestSupport

/// Streaming as users see it: the CLI writing a fragmented MP4 to stdout, the server's
/// /api/generate_stream and a job's live HLS playlist, a client leaving mid-stream, and Chromium
/// playing the stream while the server still renders.
@Suite(.serialized) struct StreamingTests {
    typealias Server = LiveServerTests.Server

    static func ffprobe(_ arguments: [String]) throws -> String {
        try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/ffprobe"), ["-v", "error"] + arguments).stdout
    }

    /// Decoded video frames and the container duration.
    static func framesAndDuration(_ file: URL) throws -> (Int, Double) {
        let frames = Int(try ffprobe(["-count_frames", "-select_streams", "v", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", file.path])
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        let duration = Double(try ffprobe(["-show_entries", "format=duration", "-of", "csv=p=0", file.path])
            .trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        return (frames, duration)
    }

    /// ffmpeg decodes the whole file and has nothing to say.
    static func decodesCleanly(_ file: URL) throws -> Bool {
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/ffmpeg"), ["-v", "error", "-i", file.path, "-f", "null", "-"])
        return result.status == 0 && result.stderr.isEmpty
    }

    /// For every fragment of a fragmented MP4: the first and last timestamps of its video and audio packets.
    static func fragmentTimes(_ file: URL) throws -> [(video: ClosedRange<Double>, audio: ClosedRange<Double>)] {
        let bytes = try Data(contentsOf: file)
        var moofs: [Int] = []
        var offset = 0
        while offset + 8 <= bytes.count {
            let size = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            if String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self) == "moof" { moofs.append(offset) }
            guard size >= 8 else { break }
            offset += size
        }
        let packets = try ffprobe(["-show_entries", "packet=stream_index,pts_time,pos", "-of", "csv=p=0", file.path])
            .split(separator: "\n").compactMap { line -> (Int, Double, Int)? in
                let fields = line.split(separator: ",")
                guard fields.count >= 3, let stream = Int(fields[0]), let time = Double(fields[1]), let position = Int(fields[2]) else { return nil }
                return (stream, time, position)
            }
        return moofs.indices.compactMap { index in
            let start = moofs[index], end = index + 1 < moofs.count ? moofs[index + 1] : Int.max
            let inside = packets.filter { $0.2 > start && $0.2 < end }
            let video = inside.filter { $0.0 == 0 }.map(\.1), audio = inside.filter { $0.0 == 1 }.map(\.1)
            guard let v0 = video.min(), let v1 = video.max(), let a0 = audio.min(), let a1 = audio.max() else { return nil }
            return (v0...v1, a0...a1)
        }
    }

    @Test func theCLIStreamHasTheRegularVideosFramesDurationAndSyncedAudio() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // One recording for both, so both videos are made from exactly the same audio.
        let speech = dir.appendingPathComponent("speech.wav")
        try #require(try ProcessRunner.run(Repository.lipsync, ["speak", "--text-file", Repository.script("samples/en.txt").path,
                                                                "--language", "en", "-o", speech.path]).status == 0)
        let regular = dir.appendingPathComponent("regular.mp4"), streamed = dir.appendingPathComponent("streamed.mp4")
        let models = dir.appendingPathComponent("no-models").path
        let first = try ProcessRunner.run(Repository.lipsync, ["generate", "--audio", speech.path, "--models", models, "-o", regular.path])
        try #require(first.status == 0, "\(first.stderr)")
        // `-o -`: the video on stdout, the summary on stderr.
        let script = "'\(Repository.lipsync.path)' generate --audio '\(speech.path)' --models '\(models)' --stream -o - > '\(streamed.path)'"
        let second = try ProcessRunner.run(URL(fileURLWithPath: "/bin/bash"), ["-c", script])
        try #require(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("wrote stdout:"))

        let (regularFrames, regularDuration) = try Self.framesAndDuration(regular)
        let (streamFrames, streamDuration) = try Self.framesAndDuration(streamed)
        #expect(streamFrames == regularFrames && regularFrames > 300)
        #expect(abs(streamDuration - regularDuration) < 0.05, "\(streamDuration) vs \(regularDuration)")
        #expect(try Self.decodesCleanly(streamed))
        // Both streams start at 0: the AAC priming is trimmed, not papered over by shifting the video.
        let starts = try Self.ffprobe(["-show_entries", "stream=codec_type,start_time", "-of", "csv=p=0", streamed.path])
        #expect(starts == "video,0.000000\naudio,0.000000\n", "\(starts)")
        // Keyframe-aligned fragments of about a second, each carrying the audio of its own time span.
        let fragments = try Self.fragmentTimes(streamed)
        #expect(fragments.count >= 14, "\(fragments.count) fragments")
        for (index, fragment) in fragments.enumerated() {
            // 25 frames (one second at 25 fps) starting on the second, and audio over the same span (the
            // muxer cuts audio at packet edges, 21 ms apart, so the edges may differ by up to two packets).
            let span = fragment.video.upperBound - fragment.video.lowerBound
            #expect(index == fragments.count - 1 ? span <= 0.96 + 1e-3 : abs(span - 0.96) < 1e-3, "fragment \(index): \(fragment)")
            #expect(abs(fragment.video.lowerBound - Double(index)) < 1e-3, "fragment \(index): \(fragment)")
            #expect(abs(fragment.audio.lowerBound - fragment.video.lowerBound) < 0.05, "fragment \(index): \(fragment)")
            if index < fragments.count - 1 {
                #expect(abs(fragment.audio.upperBound - fragment.video.upperBound) < 0.07, "fragment \(index): \(fragment)")
            }
        }
    }

    /// Reads a streamed answer as it arrives: when the first complete fragment came, when the last byte did.
    final class StreamReader {
        let process = Process()
        let output = Pipe()
        var scanner = FragmentScanner()
        var data = Data()
        var firstFragment: Double?
        var finished: Double?

        init(url: String, body: String, maxTime: Double? = nil) throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            process.arguments = ["-sN", "-X", "POST", url, "-H", "Content-Type: application/json", "-d", body]
                + (maxTime.map { ["--max-time", String($0)] } ?? [])
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
        }

        /// Runs to the end (or until `stopAfterFirstFragment`) and returns seconds since the request.
        func run(stopAfterFirstFragment: Bool = false) throws {
            let start = Date()
            try process.run()
            let handle = output.fileHandleForReading
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                data.append(chunk)
                if !scanner.feed(chunk).isEmpty, firstFragment == nil {
                    firstFragment = Date().timeIntervalSince(start)
                    if stopAfterFirstFragment {
                        // SIGKILL: a child started from a Dispatch thread has SIGTERM blocked.
                        kill(process.processIdentifier, SIGKILL)
                        break
                    }
                }
            }
            process.waitUntilExit()
            finished = Date().timeIntervalSince(start)
        }
    }

    @Test func theServerStreamsFragmentsBeforeItFinishesAndALeavingClientFreesTheWorker() throws {
        let server = try Server(maxJobs: 1, maxQueue: 0)
        defer { server.stop() }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let paragraph = try String(contentsOf: Repository.script("samples/ru.txt"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\"", with: "")
        let body = #"{"text": "\#(paragraph)", "language": "ru"}"#

        let reader = try StreamReader(url: "\(server.base)/api/generate_stream", body: body)
        try reader.run()
        let first = try #require(reader.firstFragment), total = try #require(reader.finished)
        // Progressive: the first fragment was there well before the last byte.
        #expect(first < total - 1, "first fragment at \(first) s, finished at \(total) s")
        #expect(reader.scanner.initComplete && reader.scanner.fragments.count >= 10)
        let file = dir.appendingPathComponent("stream.mp4")
        try reader.data.write(to: file)
        #expect(try Self.decodesCleanly(file))
        #expect(try Self.framesAndDuration(file).0 == reader.scanner.fragments.map(\.videoFrames).reduce(0, +))

        // Parallel streaming: fragments dealt to the workers, still one valid, complete stream.
        let parallel = try StreamReader(url: "\(server.base)/api/generate_stream",
                                        body: #"{"text": "\#(paragraph)", "language": "ru", "mode": "parallel"}"#)
        try parallel.run()
        let parallelFile = dir.appendingPathComponent("parallel.mp4")
        try parallel.data.write(to: parallelFile)
        #expect(try Self.decodesCleanly(parallelFile))
        // Every frame is there: as many as the speech needs (espeak-ng times the first utterance of a
        // process a little differently, so the two requests are not compared with each other).
        for video in [file, parallelFile] {
            let frames = try Self.framesAndDuration(video).0
            let audio = Double(try Self.ffprobe(["-select_streams", "a", "-show_entries", "stream=duration", "-of", "csv=p=0", video.path])
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            #expect(abs(Double(frames) - audio * 25) <= 1.5, "\(video.lastPathComponent): \(frames) frames for \(audio) s of audio")
        }

        // A client that leaves after the first fragment: the generation stops and its slot is free again.
        let long = #"{"text": "\#(paragraph) \#(paragraph) \#(paragraph)", "language": "ru"}"#
        let leaving = try StreamReader(url: "\(server.base)/api/generate_stream", body: long)
        try leaving.run(stopAfterFirstFragment: true)
        let left = Date()
        var freedAfter: Double?
        for _ in 0..<100 {
            let health = try server.json("/health")
            if health["running"] as? Int == 0 { freedAfter = Date().timeIntervalSince(left); break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        let freed = try #require(freedAfter, "the worker was still busy 2 s after the client left")
        #expect(freed < 2)
        let metrics = try server.curl(["-s", "\(server.base)/metrics"]).stdout
        #expect(metrics.contains(#"lipsync_generations_total{mode="regular",outcome="cancelled"} 1"#), "\(metrics)")
    }

    @Test func aJobPublishesALiveHLSPlaylistThatEndsWithTheWholeVideo() throws {
        let server = try Server()
        defer { server.stop() }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let job = try server.json("/api/jobs", post: #"{"text": "Hello! This job streams while it renders, in segments of one second.", "language": "en"}"#)
        let id = try #require(job["id"] as? String)
        let streamURL = try #require(job["stream_url"] as? String)
        #expect(streamURL == "/api/jobs/\(id)/stream.m3u8")
        var state: [String: Any] = [:]
        for _ in 0..<600 {
            state = try server.json("/api/jobs/\(id)")
            if ["done", "failed"].contains(state["state"] as? String) { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(state["state"] as? String == "done")
        let playlist = try server.curl(["-s", "\(server.base)\(streamURL)"]).stdout
        #expect(playlist.hasPrefix("#EXTM3U") && playlist.contains("#EXT-X-PLAYLIST-TYPE:EVENT") && playlist.contains("#EXT-X-ENDLIST"))
        #expect(playlist.contains(#"#EXT-X-MAP:URI="init.mp4""#))
        // init + segments, joined, are the whole video.
        var joined = Data()
        let segments = playlist.split(separator: "\n").filter { $0.hasSuffix(".m4s") }.map(String.init)
        #expect(segments.count >= 3)
        for name in ["init.mp4"] + segments {
            let file = dir.appendingPathComponent(name)
            #expect(try server.curl(["-s", "-o", file.path, "-w", "%{http_code}", "\(server.base)/api/jobs/\(id)/\(name)"]).stdout == "200")
            joined.append(try Data(contentsOf: file))
        }
        let whole = dir.appendingPathComponent("joined.mp4")
        try joined.write(to: whole)
        #expect(try Self.decodesCleanly(whole))
        let result = try #require(state["result"] as? [String: Any])
        #expect(try Self.framesAndDuration(whole).0 == result["frames"] as? Int)
        // Nothing else is served from the stream's folder.
        for name in ["../\(id).mp4", "stream.m3u8.bak", "%2e%2e%2fetc%2fpasswd"] {
            #expect(try server.curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "\(server.base)/api/jobs/\(id)/\(name)"]).stdout == "404")
        }
    }

    @Test func chromiumPlaysTheStreamWhileTheServerStillRenders() throws {
        let server = try Server()
        defer { server.stop() }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // About 60 s of speech, so rendering takes a while even on a fast machine.
        let words = try String(contentsOf: Repository.script("samples/ru.txt"), encoding: .utf8).split(whereSeparator: \.isWhitespace)
        let text = dir.appendingPathComponent("text.txt")
        try (0..<130).map { String(words[$0 % words.count]) }.joined(separator: " ").write(to: text, atomically: true, encoding: .utf8)
        let result = try ProcessRunner.python([Repository.script("browser_stream_check.py").path, server.base, "--text-file", text.path])
        try #require(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        let state = try #require(report["state"] as? [String: Any], "\(report)")
        #expect(state["error"] is NSNull, "\(state)")
        #expect(state["playingBeforeDone"] as? Bool == true, "\(state)")
        let firstFrame = state["firstFrameAt"] as? Double ?? .infinity, done = state["doneAt"] as? Double ?? 0
        #expect(firstFrame < done, "\(state)")
        let video = report["video"] as? [String: Any] ?? [:]
        #expect(video["width"] as? Int == 512 && video["error"] is NSNull, "\(video)")
        #expect((report["voices"] as? [String])?.first == "default: festival/msu_ru_nsh_clunits", "\(report["voices"] ?? "")")
    }
}
