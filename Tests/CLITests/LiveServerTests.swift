import Foundation
import Testing
import TestSupport

/// The real `lipsync serve` process on a free port, driven like a user and an operator would: the seed's
/// curl command, the README's Python example, jobs and uploads, a burst of requests, a hostile client,
/// and `kill -9` in the middle of a generation.
@Suite(.serialized) struct LiveServerTests {
    final class Server {
        let process = Process()
        let port: Int
        let log: URL
        let dataDirectory: URL

        init(maxJobs: Int = 1, maxQueue: Int = 4, dataDirectory: URL? = nil, models: URL? = nil, environment: [String: String] = [:],
             arguments: [String] = []) throws {
            let free = try ProcessRunner.python(["-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
            port = Int(free.stdout.trimmingCharacters(in: .whitespacesAndNewlines))!
            self.dataDirectory = try dataDirectory ?? Repository.temporaryDirectory("lipsync-live-data")
            log = FileManager.default.temporaryDirectory.appendingPathComponent("lipsync-serve-\(port).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process.executableURL = Repository.lipsync
            process.arguments = ["serve", "--host", "127.0.0.1", "--port", "\(port)", "--max-jobs", "\(maxJobs)", "--max-queue", "\(maxQueue)",
                                 "--data-dir", self.dataDirectory.path,
                                 "--models", (models ?? FileManager.default.temporaryDirectory.appendingPathComponent("no-models-\(port)")).path] + arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardOutput = try FileHandle(forWritingTo: log)
            process.standardError = process.standardOutput
            try process.run()
            // Ready once /health answers (models and the avatar are loaded before it listens).
            for _ in 0..<600 {
                if (try? curl(["-sf", "\(base)/health"]).status) == 0 { return }
                guard process.isRunning else { break }
                Thread.sleep(forTimeInterval: 0.1)
            }
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "server did not start: \(logText)"])
        }

        var base: String { "http://127.0.0.1:\(port)" }
        var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        func curl(_ arguments: [String]) throws -> ProcessResult {
            try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/curl"), arguments)
        }

        func json(_ path: String, post body: String? = nil) throws -> [String: Any] {
            var arguments = ["-s", "\(base)\(path)", "-H", "Accept: application/json"]
            if let body { arguments += ["-X", "POST", "-H", "Content-Type: application/json", "-d", body] }
            let result = try curl(arguments)
            return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        }

        /// Resident memory of the server process, in kB.
        var residentKB: Int {
            let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }

        func stop(removeData: Bool = true) {
            if process.isRunning {
                process.interrupt()  // SIGINT: graceful shutdown
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(at: log)
            if removeData { try? FileManager.default.removeItem(at: dataDirectory) }
        }

        func kill() {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    static func probe(_ file: URL) throws -> String {
        try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/ffprobe"),
                              ["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", file.path]).stdout
    }

    /// The seed: curl -X POST .../api/generate_parallel -H "Content-Type: application/json" -d '{...}' --output result.mp4
    static func seedCurl(_ server: Server, output: URL) throws -> String {
        try server.curl(["-s", "-X", "POST", "\(server.base)/api/generate_parallel", "-H", "Content-Type: application/json",
                         "-d", #"{"text": "Длинный текст для проверки параллельного режима.", "language": "ru"}"#,
                         "--output", output.path, "-w", "%{http_code}"]).stdout
    }

    @Test func theSeedsCurlCommandAndTheReadmesPythonExampleWork() throws {
        let server = try Server()
        defer { server.stop() }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }

        let curlOutput = dir.appendingPathComponent("result.mp4")
        #expect(try Self.seedCurl(server, output: curlOutput) == "200")
        #expect(try Self.probe(curlOutput) == "h264\naac\n")

        // The README's Python example, run as written (with the port of this server).
        let readme = try String(contentsOf: Repository.root.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "```python\n")), end = try #require(readme[start.upperBound...].range(of: "```"))
        let example = String(readme[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "localhost:3000", with: "127.0.0.1:\(server.port)")
        let script = dir.appendingPathComponent("example.py")
        try example.write(to: script, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = Repository.python
        process.arguments = [script.path]
        process.currentDirectoryURL = dir
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(try Self.probe(dir.appendingPathComponent("result.mp4")) == "h264\naac\n")
        // The OpenAPI description is served.
        let document = try server.json("/openapi.json")
        #expect((document["paths"] as? [String: Any])?["/api/generate_parallel"] != nil)
    }

    /// Each language's default voice speaks the seed's request: Russian through Festival's recorded voice,
    /// English through the bundled Piper voice; the voice is named in the answer and listed in /api/voices.
    @Test func theDefaultVoiceOfEachLanguageSpeaksTheSeedsRequest() throws {
        let server = try Server()
        defer { server.stop() }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let voices = try server.json("/api/voices")
        let defaults = try #require(voices["defaults"] as? [String: String])
        #expect(defaults["ru"] == "festival/msu_ru_nsh_clunits" && defaults["en"] == "piper/en_US-joe-medium", "\(defaults)")
        let listed = (voices["voices"] as? [[String: Any]] ?? []).filter { ($0["engine"] as? String) != "espeak" }
        #expect(listed.count == 2 && listed.allSatisfy { $0["loaded"] as? Bool == true }, "\(listed)")

        for (language, text, voice) in [("ru", "Длинный текст для проверки параллельного режима: раз, два, три.", "festival/msu_ru_nsh_clunits"),
                                        ("en", "A long text to check the parallel mode: one, two, three.", "piper/en_US-joe-medium")] {
            let video = dir.appendingPathComponent("\(language).mp4"), headers = dir.appendingPathComponent("\(language).headers")
            let body = try JSONSerialization.data(withJSONObject: ["text": text, "language": language])
            let status = try server.curl(["-s", "-X", "POST", "\(server.base)/api/generate_parallel", "-H", "Content-Type: application/json",
                                          "-d", String(decoding: body, as: UTF8.self), "-D", headers.path, "--output", video.path,
                                          "-w", "%{http_code}"]).stdout
            #expect(status == "200", "\(language)")
            #expect(try String(contentsOf: headers, encoding: .utf8).contains("X-Voice: \(voice)"), "\(language)")
            #expect(try Self.probe(video) == "h264\naac\n")
            let duration = Double(try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/ffprobe"), [
                "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", video.path]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            #expect(duration > 2.5 && duration < 9, "\(language): \(duration) s")
        }
        // A voice that does not speak the language is refused before anything runs.
        let refused = try server.json("/api/generate", post: #"{"text": "привет", "language": "ru", "voice": "piper/en_US-joe-medium"}"#)
        #expect((refused["error"] as? String)?.contains("speaks en-us") == true)
    }

    /// Checkpoints in the models folder: converted at start-up, listed with what they are, and rendering
    /// the seed's curl command, regular, parallel split (NOGAN + GAN) and same, and the test page.
    @Test func checkpointsInTheModelsFolderServeEveryMode() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let models = dir.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        let fixtures = Repository.root.appendingPathComponent("Tests/Fixtures/checkpoints")
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("wav2lip_small_legacy.pth"), to: models.appendingPathComponent("wav2lip.pth"))
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("wav2lip_small_zip.pth"), to: models.appendingPathComponent("wav2lip_gan.pth"))
        let server = try Server(models: models, environment: ["LIPSYNC_CONVERTED_MODELS": dir.appendingPathComponent("converted").path])
        defer { server.stop() }
        #expect(server.logText.contains("converted wav2lip.pth") && server.logText.contains("converted wav2lip_gan.pth"), "\(server.logText)")

        let listed = try server.json("/api/models")
        let sources = (listed["models"] as? [[String: Any]] ?? []).compactMap { $0["source"] as? String }
        #expect(sources == ["wav2lip.pth: NOGAN, legacy torch.save (torch < 1.6), converted to ONNX",
                            "wav2lip_gan.pth: GAN, torch zip (torch >= 1.6), converted to ONNX"], "\(listed)")
        #expect((listed["failures"] as? [Any])?.isEmpty == true)

        let video = dir.appendingPathComponent("result.mp4")
        #expect(try Self.seedCurl(server, output: video) == "200")
        #expect(try Self.probe(video) == "h264\naac\n")
        let text = "Первая часть текста для двух моделей. Вторая часть текста для двух моделей, чтобы вышло больше десяти секунд речи."
        let split = try server.json("/api/generate_parallel", post: #"{"text": "\#(text)", "language": "ru", "assign": "split", "chunks": 2, "paste": "box"}"#)
        #expect(split["engine"] as? String == "wav2lip+wav2lip_gan", "\(split)")
        let chunks = (split["parallel"] as? [String: Any])?["chunks"] as? [[String: Any]] ?? []
        #expect(chunks.compactMap { $0["model"] as? String } == ["wav2lip", "wav2lip_gan"], "\(split)")
        let same = try server.json("/api/generate_parallel", post: #"{"text": "\#(text)", "language": "ru", "assign": "same", "chunks": 2, "model": "wav2lip_gan", "pads": [0, 10, 0, 0]}"#)
        #expect(((same["parallel"] as? [String: Any])?["chunks"] as? [[String: Any]] ?? []).compactMap { $0["model"] as? String } == ["wav2lip_gan", "wav2lip_gan"], "\(same)")
        let regular = try server.json("/api/generate", post: #"{"text": "Привет.", "language": "ru", "model": "wav2lip_gan", "nosmooth": true}"#)
        #expect(regular["engine"] as? String == "wav2lip_gan", "\(regular)")
        #expect(try server.curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "\(server.base)/parallel_test"]).stdout == "200")
    }

    @Test func anUploadedAvatarAndABackgroundJobWorkEndToEnd() throws {
        let server = try Server()
        defer { server.stop() }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let picture = Repository.root.appendingPathComponent(".cache/assets/astronaut.png")
        let upload = try server.curl(["-s", "-X", "POST", "\(server.base)/api/avatars?name=me.png", "-H", "Content-Type: image/png",
                                      "--data-binary", "@\(picture.path)"])
        let avatar = try JSONSerialization.jsonObject(with: Data(upload.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(avatar["faces"] as? Int == 1, "\(upload.stdout)")
        let id = try #require(avatar["id"] as? String)

        let job = try server.json("/api/jobs", post: #"{"text": "Hello! This runs in the background.", "language": "en", "avatar": "\#(id)", "mode": "parallel"}"#)
        let jobID = try #require(job["id"] as? String, "\(job)")
        var state: [String: Any] = [:]
        var sawProgress = false
        for _ in 0..<600 {
            state = try server.json("/api/jobs/\(jobID)")
            if (state["frames_done"] as? Int ?? 0) > 0 && state["state"] as? String == "running" { sawProgress = true }
            if ["done", "failed"].contains(state["state"] as? String) { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(state["state"] as? String == "done", "\(state)")
        #expect(sawProgress || (state["frames_total"] as? Int ?? 0) > 0)
        let result = try #require(state["result"] as? [String: Any])
        let video = dir.appendingPathComponent("job.mp4")
        #expect(try server.curl(["-s", "\(server.base)\(result["video_url"] as? String ?? "")", "-o", video.path, "-w", "%{http_code}"]).stdout == "200")
        #expect(try Self.probe(video) == "h264\naac\n")
        // The same bad input is refused the same way by jobs and by the synchronous endpoint.
        let badJob = try server.curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "\(server.base)/api/jobs",
                                      "-H", "Content-Type: application/json", "-d", #"{"text": "hi", "voice": "nobody"}"#]).stdout
        let badSync = try server.curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "\(server.base)/api/generate",
                                       "-H", "Content-Type: application/json", "-d", #"{"text": "hi", "voice": "nobody"}"#]).stdout
        #expect(badJob == "400" && badSync == "400")
    }

    @Test func aBurstOfRequestsGets200Or429AndNever5xx() async throws {
        let server = try Server(maxJobs: 2, maxQueue: 0)
        defer { server.stop() }
        let base = server.base
        // Each request takes a couple of seconds, so the eight overlap and the pool of two fills up.
        let paragraph = try String(contentsOf: Repository.root.appendingPathComponent("scripts/samples/ru.txt"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        // Eight curl processes at once (a shell starts them in the background and waits for all).
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for index in 0..<8 {
            try #"{"text": "Запрос номер \#(index). \#(paragraph) \#(paragraph)", "language": "ru"}"#
                .write(to: dir.appendingPathComponent("body\(index).json"), atomically: true, encoding: .utf8)
        }
        let script = "for i in 0 1 2 3 4 5 6 7; do curl -s -o /dev/null -w '%{http_code}\\n' -X POST \(base)/api/generate " +
            "-H 'Content-Type: application/json' --data-binary @\(dir.path)/body$i.json & done; wait"
        let codes = try ProcessRunner.run(URL(fileURLWithPath: "/bin/bash"), ["-c", script]).stdout
            .split(separator: "\n").map(String.init)
        #expect(codes.count == 8)
        #expect(codes.allSatisfy { $0 == "200" || $0 == "429" }, "\(codes)")
        #expect(codes.contains("200") && codes.contains("429"), "\(codes)")
        #expect(try server.curl(["-sf", "\(base)/health"]).status == 0)
        let metrics = try server.curl(["-s", "\(base)/metrics"]).stdout
        #expect(metrics.contains("lipsync_generations_total{mode=\"regular\",outcome=\"rejected\"}"))
    }

    /// Russian, so the accepted requests speak through Festival (a process of its own): the server's memory
    /// is its own. (The Piper voice's buffers grow with the longest sentence it has rendered, up to a bound;
    /// the next test feeds it hostile text.)
    /// `scripts/fuzz_http.py` against `server`: its JSON report.
    static func fuzz(_ server: Server, count: Int, seed: Int, timeout: Int, language: String) throws -> [String: Any] {
        let result = try ProcessRunner.python([Repository.script("fuzz_http.py").path, "--base", server.base, "--count", "\(count)",
                                               "--seed", "\(seed)", "--pid", "\(server.process.processIdentifier)",
                                               "--timeout", "\(timeout)", "--language", language])
        try #require(result.status == 0, "\(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
    }

    @Test func aThousandHostileRequestsGetNo5xxAndMemoryStaysFlat() throws {
        let server = try Server(maxJobs: 1, maxQueue: 0)
        defer { server.stop() }
        let report = try Self.fuzz(server, count: 1000, seed: 7, timeout: 20, language: "ru")
        #expect(report["requests"] as? Int ?? 0 >= 1_000)
        #expect((report["server_errors"] as? [Any])?.isEmpty == true, "\(report["server_errors"] ?? "")")
        #expect(report["health_after"] as? Int == 200)
        let warmKB: Int = report["rss_kb_after_warmup"] as? Int ?? 0
        let endKB: Int = report["rss_kb_end"] as? Int ?? 0
        let growthKB = endKB - warmKB
        #expect(warmKB > 0 && growthKB < 20_000, "resident memory went from \(warmKB) kB to \(endKB) kB")
        // Answered, not dropped: only the few connections the fuzzer breaks on purpose (a body shorter than
        // its length, then silence) may end without an answer.
        let byStatus = report["by_status"] as? [String: Int] ?? [:]
        let answered = byStatus.filter { Int($0.key) ?? 0 >= 100 }.values.reduce(0, +)
        let requests = report["requests"] as? Int ?? 0
        #expect(requests - answered <= 8, "\(byStatus)")
        #expect(server.process.isRunning)
    }

    /// Hostile text for the neural English voice: whatever its length or alphabet, an answer below 500.
    @Test func hostileTextForThePiperVoiceGetsNo5xx() throws {
        let server = try Server(maxJobs: 1, maxQueue: 0)
        defer { server.stop() }
        let report = try Self.fuzz(server, count: 300, seed: 11, timeout: 30, language: "en")
        #expect((report["server_errors"] as? [Any])?.isEmpty == true, "\(report["server_errors"] ?? "")")
        #expect((report["by_status"] as? [String: Int])?["200"] ?? 0 >= 5, "some requests were spoken: \(report["by_status"] ?? "")")
        #expect(report["health_after"] as? Int == 200)
    }

    @Test func afterKill9TheNextStartRemovesTheLeftoversAndServes() throws {
        let data = try Repository.temporaryDirectory("lipsync-kill-data")
        defer { try? FileManager.default.removeItem(at: data) }
        let first = try Server(dataDirectory: data)
        let paragraph = try String(contentsOf: Repository.root.appendingPathComponent("scripts/samples/ru.txt"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let job = try first.json("/api/jobs", post: #"{"text": "\#(paragraph) \#(paragraph)", "language": "ru", "mode": "parallel", "chunks": 2}"#)
        let jobID = try #require(job["id"] as? String, "\(job)")
        // Kill it in the middle of rendering, once the run has files on disk.
        var rendering = false
        for _ in 0..<600 {
            let state = try first.json("/api/jobs/\(jobID)")
            if (state["frames_done"] as? Int ?? 0) > 20 { rendering = true; break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        try #require(rendering, "the job never started rendering")
        first.kill()
        let manager = FileManager.default
        func files(_ folder: String) -> [String] {
            (manager.enumerator(atPath: data.appendingPathComponent(folder).path)?.allObjects as? [String]) ?? []
        }
        let left = files("scratch") + files("videos")
        #expect(!left.isEmpty, "a killed run leaves its files behind")
        first.stop(removeData: false)

        let second = try Server(dataDirectory: data)
        defer { second.stop(removeData: false) }
        #expect(second.logText.contains("leftover files of a previous run"), "\(second.logText)")
        // None of the killed run's files is left (the new run's own helpers, such as Festival's log, may be there).
        #expect(Set(files("scratch")).isDisjoint(with: left) && files("videos").isEmpty, "\(files("scratch")) \(files("videos"))")
        let output = data.appendingPathComponent("after-restart.mp4")
        #expect(try Self.seedCurl(second, output: output) == "200")
        #expect(try Self.probe(output) == "h264\naac\n")
    }
}
