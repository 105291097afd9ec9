import ArgumentParser
import Foundation
import Media
import Pipeline
import SpeechSynthesis

/// Streaming as a client sees it: `lipsync serve` started for each engine, then POST /api/generate_stream
/// for each length and mode, read with curl as the bytes arrive. For each run: time to first frame
/// (request sent -> first complete fragment received), throughput as a multiple of real time, and the
/// stalls a player starting at that moment and playing at 1x would have seen.
struct StreamBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Time to first frame, throughput and stalls of streamed generation, over HTTP, for 10/30/60 s of speech."
    )

    @Option(help: "Seconds of speech to measure, comma-separated.")
    var durations: String = "10,30,60"

    @Option(help: "Engines, comma-separated: viseme and/or wav2lip (the --model file as both wav2lip and wav2lip_gan).")
    var engines: String = "viseme,wav2lip"

    @Option(help: "Wav2Lip model file (its .face/.decoder split is used when it sits beside it).")
    var model: String = ".cache/models/wav2lip_random.onnx"

    @Option(help: "Inference precision for Wav2Lip: auto, f32 or bf16.")
    var precision: String = "auto"

    @Option(help: "Modes, comma-separated: regular and/or parallel.")
    var modes: String = "regular,parallel"

    func run() async throws {
        let synthesizer = try EspeakSynthesizer(limits: SpeechLimits(maxCharacters: 100_000))
        let targets = durations.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        let modeList = modes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        print("engine    mode      speech(s)  frames  first frame(s)  done(s)  throughput(x rt)  stalls  stalled(s)")
        for engine in engines.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            let scratch = try ScratchSpace.makeFolder("lipsync-bench-stream")
            defer { try? FileManager.default.removeItem(at: scratch) }
            let models = scratch.appendingPathComponent("models")
            try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
            if engine == "wav2lip" {
                try Self.install(URL(fileURLWithPath: model), into: models)
            } else if engine != "viseme" {
                throw ValidationError("--engines takes viseme and wav2lip")
            }
            let server = try BenchServer(models: models, data: scratch.appendingPathComponent("data"), precision: precision)
            defer { server.stop() }
            // Warm-up: the avatar, espeak-ng and the models' first inference.
            _ = try server.stream(#"{"text": "Проверка.", "language": "ru"}"#)
            for seconds in targets {
                let text = try await BenchText.russian(seconds: seconds, synthesizer: synthesizer)
                for mode in modeList {
                    let body = String(decoding: try JSONSerialization.data(withJSONObject: ["text": text, "language": "ru", "mode": mode]),
                                      as: UTF8.self)
                    let arrivals = try server.stream(body)
                    let report = PlaybackReport(arrivals: arrivals, fps: 25)
                    let frames = arrivals.map(\.fragment.videoFrames).reduce(0, +)
                    let throughput = report.mediaSeconds / max(1e-9, report.finished)
                    print([engine.padding(toLength: 9, withPad: " ", startingAt: 0), mode.padding(toLength: 9, withPad: " ", startingAt: 0),
                           format(report.mediaSeconds, digits: 1).leftPadded(9), String(frames).leftPadded(7),
                           format(report.firstFrame).leftPadded(15), format(report.finished).leftPadded(8),
                           format(throughput).leftPadded(17), String(report.stalls).leftPadded(7),
                           format(report.stalledSeconds).leftPadded(11)].joined(separator: " "))
                }
            }
        }
    }

    /// The model as wav2lip and wav2lip_gan (and its split pair, when there is one).
    static func install(_ file: URL, into models: URL) throws {
        let stem = file.deletingPathExtension().path
        for name in ["wav2lip", "wav2lip_gan"] {
            try FileManager.default.createSymbolicLink(at: models.appendingPathComponent("\(name).onnx"), withDestinationURL: file)
            for part in ["face", "decoder"] where FileManager.default.fileExists(atPath: "\(stem).\(part).onnx") {
                try FileManager.default.createSymbolicLink(at: models.appendingPathComponent("\(name).\(part).onnx"),
                                                           withDestinationURL: URL(fileURLWithPath: "\(stem).\(part).onnx"))
            }
        }
    }
}

/// `lipsync serve` on a free local port, for benchmarks.
final class BenchServer {
    let process: ToolProcess
    let port: Int

    init(models: URL, data: URL, precision: String) throws {
        port = try Self.freePort()
        let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        process = try ToolProcess(executable, ["serve", "--host", "127.0.0.1", "--port", "\(port)", "--models", models.path,
                                               "--data-dir", data.path, "--precision", precision])
        for _ in 0..<600 {
            if (try? ToolProcess.runBlocking(try ToolProcess.locate("curl"), ["-sf", "http://127.0.0.1:\(port)/health"])) != nil { return }
            guard process.process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw ValidationError("the server did not start: \(process.errorTail)")
    }

    /// POSTs to /api/generate_stream and reads the answer as it arrives: each fragment with the seconds
    /// since the request was sent.
    func stream(_ body: String) throws -> [(time: Double, fragment: FragmentScanner.Fragment)] {
        let output = Pipe()
        let start = Date()
        let curl = try ToolProcess(try ToolProcess.locate("curl"), ["-sN", "-X", "POST", "http://127.0.0.1:\(port)/api/generate_stream",
                                                                    "-H", "Content-Type: application/json", "--data-binary", body],
                                   stdout: output)
        var scanner = FragmentScanner()
        var arrivals: [(time: Double, fragment: FragmentScanner.Fragment)] = []
        while true {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            let now = Date().timeIntervalSince(start)
            arrivals += scanner.feed(chunk).map { (now, $0) }
        }
        curl.process.waitUntilExit()
        guard scanner.initComplete, !arrivals.isEmpty else { throw ValidationError("no stream came back: \(curl.errorTail)") }
        return arrivals
    }

    func stop() {
        kill(process.process.processIdentifier, SIGINT)
        process.process.waitUntilExit()
    }

    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 && getsockname(descriptor, $0, &length) == 0 }
        }
        guard bound else { throw ValidationError("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
