import Foundation
import Testing
import TestSupport

/// The real `lipsync serve` process on a free port, driven like a user would: the seed's curl command,
/// the README's Python example, and a burst of concurrent requests.
@Suite(.serialized) struct LiveServerTests {
    final class Server {
        let process = Process()
        let port: Int
        let log: URL

        init(maxJobs: Int, maxQueue: Int) throws {
            let free = try ProcessRunner.python(["-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
            port = Int(free.stdout.trimmingCharacters(in: .whitespacesAndNewlines))!
            log = FileManager.default.temporaryDirectory.appendingPathComponent("lipsync-serve-\(port).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process.executableURL = Repository.lipsync
            process.arguments = ["serve", "--host", "127.0.0.1", "--port", "\(port)", "--max-jobs", "\(maxJobs)", "--max-queue", "\(maxQueue)",
                                 "--models", FileManager.default.temporaryDirectory.appendingPathComponent("no-models-\(port)").path]
            process.standardOutput = try FileHandle(forWritingTo: log)
            process.standardError = process.standardOutput
            try process.run()
            // Ready once /health answers (models and the avatar are loaded before it listens).
            for _ in 0..<300 {
                if (try? curl(["-sf", "\(base)/health"]).status) == 0 { return }
                Thread.sleep(forTimeInterval: 0.1)
            }
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "server did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")"])
        }

        var base: String { "http://127.0.0.1:\(port)" }

        func curl(_ arguments: [String]) throws -> ProcessResult {
            try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/curl"), arguments)
        }

        func stop() {
            process.interrupt()  // SIGINT: graceful shutdown
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: log)
        }
    }

    static func probe(_ file: URL) throws -> String {
        try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/ffprobe"),
                              ["-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", file.path]).stdout
    }

    @Test func theSeedsCurlCommandAndTheReadmesPythonExampleWork() throws {
        let server = try Server(maxJobs: 1, maxQueue: 4)
        defer { server.stop() }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }

        // The seed: curl -X POST .../api/generate_parallel -H "Content-Type: application/json" -d '{...}' --output result.mp4
        let curlOutput = dir.appendingPathComponent("result.mp4")
        let curl = try server.curl(["-s", "-X", "POST", "\(server.base)/api/generate_parallel", "-H", "Content-Type: application/json",
                                    "-d", #"{"text": "Длинный текст для проверки параллельного режима.", "language": "ru"}"#,
                                    "--output", curlOutput.path, "-w", "%{http_code}"])
        #expect(curl.stdout == "200")
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
}
