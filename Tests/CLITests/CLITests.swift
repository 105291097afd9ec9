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

    /// `lipsync voices`: every engine's voices with the default of each language; a voice dropped into the
    /// folder shows up with no other step, a broken one is listed with its reason and the rest still speak.
    @Test func voicesListsDroppedVoicesAndBrokenOnesWithTheirReason() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let joe = Repository.root.appendingPathComponent(".cache/voices/en_US-joe-medium.onnx")
        let dropped = dir.appendingPathComponent("en_GB-dropped-low.onnx")
        try FileManager.default.createSymbolicLink(at: dropped, withDestinationURL: joe)
        var settings = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: joe.path + ".json"))) as! [String: Any]
        settings["language"] = ["code": "en_GB"]
        settings["espeak"] = ["voice": "en-gb"]
        try JSONSerialization.data(withJSONObject: settings).write(to: URL(fileURLWithPath: dropped.path + ".json"))
        try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("half.onnx"), withDestinationURL: joe)

        let listed = try lipsync("voices", "--voices", dir.path)
        try #require(listed.status == 0, "\(listed.stderr)")
        let lines = listed.stdout.split(separator: "\n").map(String.init)
        func line(_ id: String) -> String? { lines.first { $0.hasPrefix(id + " ") } }
        #expect(line("piper/en_US-joe-medium")?.contains("22050") == true)
        #expect(line("piper/en_US-joe-medium")?.hasSuffix("en-us") == true, "\(lines)")
        #expect(line("festival/msu_ru_nsh_clunits")?.contains(" ru") == true)
        #expect(line("espeak/ru") != nil)
        // Voices in the user's folder come first: the dropped voice now also speaks plain "en".
        #expect(line("piper/en_GB-dropped-low")?.hasSuffix("en en-gb") == true, "\(lines)")
        #expect(line("piper/half")?.contains("UNUSABLE") == true && line("piper/half")?.contains("half.onnx.json") == true)
        // The dropped voice speaks en-gb now, found through the environment as well.
        let wav = dir.appendingPathComponent("gb.wav")
        let spoken = try ProcessRunner.run(Repository.lipsync, ["speak", "--text", "Good morning.", "--language", "en-gb", "-o", wav.path],
                                           environment: ["LIPSYNC_VOICES": dir.path])
        try #require(spoken.status == 0, "\(spoken.stderr)")
        #expect(spoken.stdout.contains("voice: piper/en_GB-dropped-low"), "\(spoken.stdout)")
        #expect(try WAVFile.read(wav).duration > 0.4)
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

    /// `lipsync models` says what each file is, converts checkpoints (once), and names the broken ones;
    /// `lipsync models convert` writes a model or nothing.
    @Test func modelsListsEveryFileAndConvertsCheckpoints() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let models = dir.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        let fixtures = Repository.root.appendingPathComponent("Tests/Fixtures/checkpoints")
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("wav2lip_small_legacy.pth"), to: models.appendingPathComponent("wav2lip.pth"))
        try FileManager.default.copyItem(at: Repository.root.appendingPathComponent(".cache/models/wav2lip_tiny.onnx"),
                                         to: models.appendingPathComponent("wav2lip_96.onnx"))
        try Data("PK\u{3}\u{4} not really".utf8).write(to: models.appendingPathComponent("wav2lip_gan.pth"))
        let environment = ["LIPSYNC_CONVERTED_MODELS": dir.appendingPathComponent("converted").path]
        let list = try ProcessRunner.run(Repository.lipsync, ["models", "--models", models.path], environment: environment)
        #expect(list.status == 1, "a file that cannot be used makes the listing fail")
        let lines = list.stdout
        #expect(lines.contains("wav2lip_96.onnx — wav2lip"), "\(lines)")
        #expect(lines.contains("is:        NOGAN, ONNX export") && lines.contains("this file is model wav2lip"), "\(lines)")
        #expect(lines.contains("is:        NOGAN, legacy torch.save (torch < 1.6)"), "\(lines)")
        #expect(lines.contains("converted: from wav2lip.pth: 352 state keys") && lines.contains("50 batch norms folded"), "\(lines)")
        #expect(lines.contains("trained 300000 steps") && lines.contains("not used: an earlier file gives wav2lip"), "\(lines)")
        #expect(lines.contains("wav2lip_gan.pth — wav2lip_gan") && lines.contains("error:     wav2lip_gan.pth is not a usable Wav2Lip model"), "\(lines)")
        #expect(list.stderr.contains("converting wav2lip.pth"), "\(list.stderr)")
        // Listed again: the conversion is cached.
        let again = try ProcessRunner.run(Repository.lipsync, ["models", "--models", models.path], environment: environment)
        #expect(!again.stderr.contains("converting wav2lip.pth"), "\(again.stderr)")

        let output = dir.appendingPathComponent("out.onnx")
        let convert = try lipsync("models", "convert", fixtures.appendingPathComponent("wav2lip_small_torchscript.pt").path, "-o", output.path, "--kind", "gan")
        try #require(convert.status == 0, "\(convert.stderr)")
        #expect(convert.stdout.contains("GAN, TorchScript, 352 state keys"), "\(convert.stdout)")
        for name in ["out.onnx", "out.face.onnx", "out.decoder.onnx"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(name).path), "\(name)")
        }
        let broken = dir.appendingPathComponent("broken.onnx")
        let refused = try lipsync("models", "convert", models.appendingPathComponent("wav2lip_gan.pth").path, "-o", broken.path)
        #expect(refused.status != 0 && refused.stderr.contains("wav2lip_gan.pth") && refused.stderr.contains("zip"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: broken.path))
    }

    /// A checkpoint given by path renders, with the original's framing options.
    @Test func generateTakesACheckpointAndTheFramingOptions() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let video = dir.appendingPathComponent("out.mp4")
        let checkpoint = Repository.root.appendingPathComponent("Tests/Fixtures/checkpoints/wav2lip_small_zip.pth")
        let result = try ProcessRunner.run(Repository.lipsync, [
            "generate", "--text", "Привет.", "--language", "ru", "--model", checkpoint.path, "--pads", "0", "10", "0", "0",
            "--nosmooth", "--paste", "box", "--avatar-cache", dir.appendingPathComponent("avatars").path, "-o", video.path,
        ], environment: ["LIPSYNC_CONVERTED_MODELS": dir.appendingPathComponent("converted").path])
        try #require(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("engine wav2lip"), "\(result.stdout)")
        #expect(((try? FileManager.default.attributesOfItem(atPath: video.path))?[.size] as? Int ?? 0) > 1000)
    }

    @Test func badInputGivesAClearMessageAndNonZeroExit() throws {
        let cases: [([String], String)] = [
            (["speak", "--text", "  ", "-o", "/tmp/x.wav"], "text is empty"),
            (["speak", "-o", "/tmp/x.wav"], "--text or --text-file"),
            (["speak", "--text", "hi", "--language", "xx-nope", "-o", "/tmp/x.wav"], "unknown language 'xx-nope'; available: af"),
            (["speak", "--text", "hello there", "--max-characters", "5", "-o", "/tmp/x.wav"], "limit is 5"),
            (["speak", "--text-file", "/nonexistent.txt", "-o", "/tmp/x.wav"], "cannot read text file"),
            (["speak", "--text", "hi", "--voice", "piper/nobody", "-o", "/tmp/x.wav"], "unknown voice 'piper/nobody'; available: piper/en_US-joe-medium"),
            (["speak", "--text", "привет", "--language", "ru", "--voice", "piper/en_US-joe-medium", "-o", "/tmp/x.wav"], "speaks en-us, not 'ru'"),
            (["speak", "--text", "hi", "--voices", "/nonexistent", "--voice", "piper/x", "-o", "/tmp/x.wav"], "unknown voice 'piper/x'"),
            (["mel", "/nonexistent.wav", "-o", "/tmp/x.npy"], "cannot read audio"),
            (["mel", Repository.root.appendingPathComponent("Package.swift").path, "-o", "/tmp/x.npy"], "not a RIFF/WAVE file"),
            // Options every generation path relies on are checked up front: a message, never a crash.
            (["generate", "--text", "hi", "--parallel", "--fps", "0", "-o", "/tmp/x.mp4"], "fps must be in 1...60, got 0.0"),
            (["generate", "--text", "hi", "--parallel", "--chunks", "0", "-o", "/tmp/x.mp4"], "--chunks must be in 1...16, got 0"),
            (["generate", "--text", "hi", "--parallel", "--workers", "0", "-o", "/tmp/x.mp4"], "workers must be in 1...16, got 0"),
            (["generate", "--text", "hi", "--crf", "99", "-o", "/tmp/x.mp4"], "crf must be in 0...51, got 99"),
            (["generate", "--text", "hi", "--pads", "0", "10", "-o", "/tmp/x.mp4"], "pads takes 4 numbers"),
            (["generate", "--text", "hi", "--box", "100", "50", "0", "80", "-o", "/tmp/x.mp4"], "top < bottom"),
            (["generate", "--text", "hi", "--paste", "blur", "-o", "/tmp/x.mp4"], "--paste"),
            (["models", "convert", "/nonexistent.pth", "-o", "/tmp/x.onnx"], "does not exist"),
            (["models", "convert", "/nonexistent.pth", "-o", "/tmp/x.txt"], "--output must end in .onnx"),
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
