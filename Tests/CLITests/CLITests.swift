import AudioFeatures
import Foundation
import Testing
import TestSupport

/// The `lipsync` executable, run as a user runs it.
@Suite struct CLITests {
    func lipsync(_ arguments: String...) throws -> ProcessResult {
        try ProcessRunner.run(Repository.lipsync, arguments)
    }

    @Test(arguments: ["ru", "en"])
    func speakWritesA16BitWAVWhoseLengthMatchesTheTimeline(language: String) throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("speech.wav"), json = dir.appendingPathComponent("timeline.json")
        let textFile = Repository.root.appendingPathComponent("scripts/samples/\(language).txt")
        let result = try lipsync("speak", "--text-file", textFile.path, "--language", language,
                                 "-o", wav.path, "--timeline", json.path)
        try #require(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("s of speech"))
        #expect(result.stdout.contains("synthesis:"))

        let bytes = [UInt8](try Data(contentsOf: wav))
        #expect(bytes[20] == 1 && bytes[34] == 16, "PCM, 16 bits per sample")
        let audio = try WAVFile.read(wav)
        #expect(audio.duration > 10, "a paragraph takes more than 10 s")

        struct Timeline: Decodable {
            struct Event: Decodable { var kind: String; var sample: Int }
            var sampleRate: Int
            var events: [Event]
        }
        let timeline = try JSONDecoder().decode(Timeline.self, from: Data(contentsOf: json))
        #expect(timeline.sampleRate == audio.sampleRate)
        #expect(timeline.events.last?.kind == "end")
        #expect(timeline.events.last?.sample == audio.samples.count)
        #expect(timeline.events.filter { $0.kind == "word" }.count > 30)
    }

    /// `generate --timeline` then `sheet`: a labelled contact sheet of the mouth; `sheet --visemes`: one
    /// tile per viseme. The PNGs' sizes follow the tiles asked for.
    @Test func sheetDrawsTheMouthOfAVideoAndEveryViseme() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let video = dir.appendingPathComponent("out.mp4"), timeline = dir.appendingPathComponent("speech.json")
        let sheet = dir.appendingPathComponent("sheet.png"), visemes = dir.appendingPathComponent("visemes.png")
        let generated = try lipsync("generate", "--text", "Мама мыла раму.", "--engine", "viseme", "-o", video.path,
                                    "--timeline", timeline.path, "--avatar-cache", dir.appendingPathComponent("avatars").path)
        try #require(generated.status == 0, "\(generated.stderr)")
        #expect(generated.stdout.contains("timeline:"))
        let drawn = try lipsync("sheet", video.path, "--timeline", timeline.path, "-o", sheet.path, "--rate", "5",
                                "--columns", "4", "--tile", "100", "--avatar-cache", dir.appendingPathComponent("avatars").path)
        try #require(drawn.status == 0, "\(drawn.stderr)")
        // Every fifth frame of the 25 fps video.
        let words = generated.stdout.split(separator: "\n").first { $0.hasPrefix("wrote") }?.split(separator: " ") ?? []
        let position = try #require(words.firstIndex(of: "frames"))
        let frames = try #require(Int(words[position - 1]))
        #expect(drawn.stdout.contains("\((frames + 4) / 5) tiles"), "\(drawn.stdout) for \(frames) frames")
        func size(_ url: URL) throws -> String {
            try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/ffprobe"), ["-v", "error", "-show_entries", "stream=width,height",
                                                                              "-of", "csv=p=0", url.path]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try size(sheet).hasPrefix("\(4 * 104 + 4),"))
        let poses = try lipsync("sheet", "--visemes", "-o", visemes.path, "--columns", "5", "--tile", "120",
                                "--avatar-cache", dir.appendingPathComponent("avatars").path)
        try #require(poses.status == 0, "\(poses.stderr)")
        #expect(poses.stdout.contains("10 tiles"))
        #expect(try size(visemes).hasPrefix("\(5 * 124 + 4),"))
        #expect(try lipsync("sheet", "-o", sheet.path).status != 0, "neither a video nor --visemes")
    }

    @Test func melWritesANumpyArrayThatNumpyReads() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let wav = dir.appendingPathComponent("speech.wav"), npy = dir.appendingPathComponent("mel.npy")
        try #require(try lipsync("speak", "--text", "Проверка мел-спектрограммы.", "-o", wav.path).status == 0)
        let result = try lipsync("mel", wav.path, "-o", npy.path)
        try #require(result.status == 0, "\(result.stderr)")
        let duration = try WAVFile.read(wav).duration
        let check = try ProcessRunner.python(["-c", """
            import numpy, sys
            a = numpy.load(sys.argv[1])
            print(a.dtype, a.shape[0], a.shape[1], float(a.min()), float(a.max()))
            """, npy.path])
        let fields = check.stdout.split(separator: " ")
        try #require(check.status == 0 && fields.count == 5, "\(check.stderr)")
        #expect(fields[0] == "float32" && fields[1] == "80")
        #expect(Int(fields[2]) == 1 + Int(duration * 16_000) / 200 || abs(Int(fields[2])! - Int(duration * 80)) <= 1)
        #expect(Double(fields[3])! >= -4 && Double(fields[4].trimmingCharacters(in: .whitespacesAndNewlines))! <= 4)
    }

    @Test func badInputGivesAClearMessageAndNonZeroExit() throws {
        let cases: [([String], String)] = [
            (["speak", "--text", "  ", "-o", "/tmp/x.wav"], "text is empty"),
            (["speak", "-o", "/tmp/x.wav"], "--text or --text-file"),
            (["speak", "--text", "hi", "--language", "xx-nope", "-o", "/tmp/x.wav"], "unknown language 'xx-nope'; available: af"),
            (["speak", "--text", "hello there", "--max-characters", "5", "-o", "/tmp/x.wav"], "limit is 5"),
            (["speak", "--text-file", "/nonexistent.txt", "-o", "/tmp/x.wav"], "cannot read text file"),
            (["mel", "/nonexistent.wav", "-o", "/tmp/x.npy"], "cannot read audio"),
            (["mel", Repository.root.appendingPathComponent("Package.swift").path, "-o", "/tmp/x.npy"], "not a RIFF/WAVE file"),
            // Options every generation path relies on are checked up front: a message, never a crash.
            (["generate", "--text", "hi", "--parallel", "--fps", "0", "-o", "/tmp/x.mp4"], "fps must be in 1...60, got 0.0"),
            (["generate", "--text", "hi", "--parallel", "--chunks", "0", "-o", "/tmp/x.mp4"], "--chunks must be in 1...16, got 0"),
            (["generate", "--text", "hi", "--parallel", "--workers", "0", "-o", "/tmp/x.mp4"], "workers must be in 1...16, got 0"),
            (["generate", "--text", "hi", "--crf", "99", "-o", "/tmp/x.mp4"], "crf must be in 0...51, got 99"),
            (["serve", "--port", "http"], "--port: 'http' is not a whole number"),
            (["serve", "--max-jobs", "0"], "--max-jobs: '0' is not a whole number in 1...64"),
        ]
        for (arguments, message) in cases {
            let result = try ProcessRunner.run(Repository.lipsync, arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
        }
    }
}
