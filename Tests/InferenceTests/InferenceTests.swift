import AudioFeatures
import Foundation
import Imaging
import Inference
import LipSync
import Media
import SpeechSynthesis
import Testing
import TestSupport

enum TestModels {
    static let tiny = Repository.root.appendingPathComponent(".cache/models/wav2lip_tiny.onnx")
    static let full = Repository.root.appendingPathComponent(".cache/models/wav2lip_random.onnx")
    static var runtime: InferenceRuntime { get throws { try InferenceRuntime.shared.get() } }

    /// A deterministic batch: varied face crops and mel windows.
    static func batch(_ count: Int, seed: UInt64 = 7) -> LipSyncBatch {
        var state = seed
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let faces = (0..<count).map { _ in RGBImage(width: 96, height: 96, pixels: (0..<96 * 96 * 3).map { _ in UInt8(next() % 256) }) }
        let windows = (0..<count).map { _ in (0..<1280).map { _ in Float(next() % 8000) / 1000 - 4 } }
        return LipSyncBatch(frames: Array(0..<count), melWindows: windows, faces: faces)
    }
}

@Suite struct InferenceRuntimeTests {
    @Test func readsNamesAndShapesAndFixesTheBatch() throws {
        let dynamic = try TestModels.runtime.compile(TestModels.tiny)
        #expect(dynamic.inputs.map(\.name).sorted() == ["image", "mel"])
        #expect(dynamic.inputs.first { $0.name == "mel" }?.shape == [nil, 1, 80, 16])
        #expect(dynamic.outputs.first?.shape == [nil, 3, 96, 96])

        let fixed = try TestModels.runtime.compile(TestModels.tiny, options: CompileOptions(batchSize: 4))
        #expect(fixed.inputs.first { $0.name == "image" }?.shape == [4, 6, 96, 96])
        #expect(fixed.outputs.first?.shape == [4, 3, 96, 96])
    }

    @Test func errorsCarryOpenVINOsMessageAndTheFile() throws {
        #expect(throws: InferenceError.self) { try TestModels.runtime.compile(URL(fileURLWithPath: "/nonexistent/model.onnx")) }
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let garbage = dir.appendingPathComponent("garbage.onnx")
        try Data("this is not a model".utf8).write(to: garbage)
        do {
            _ = try TestModels.runtime.compile(garbage)
            Issue.record("expected an error")
        } catch let error as InferenceError {
            #expect(error.message.contains("garbage.onnx"))
        }
        let model = try TestModels.runtime.compile(TestModels.tiny, options: CompileOptions(batchSize: 2))
        #expect(throws: InferenceError.self) { try model.inferBlocking([:]) }
        let wrong = ["mel": Tensor(shape: [3, 1, 80, 16], values: [Float](repeating: 0, count: 3 * 1280)),
                     "image": Tensor(shape: [3, 6, 96, 96], values: [Float](repeating: 0, count: 3 * 6 * 9216))]
        #expect(throws: InferenceError.self) { try model.inferBlocking(wrong) }
    }

    @Test func concurrentInferencesMatchSequentialOnes() async throws {
        let model = try TestModels.runtime.compile(TestModels.tiny, options: CompileOptions(hint: .throughput, batchSize: 2, requests: 3))
        #expect(model.concurrentRequests == 3)
        let engine = try Wav2LipEngine(name: "tiny", model: model)
        let batches = (0..<6).map { TestModels.batch(2, seed: UInt64($0)) }
        var sequential: [[RGBImage]] = []
        for batch in batches { sequential.append(try await engine.render(batch)) }
        let concurrent = try await withThrowingTaskGroup(of: (Int, [RGBImage]).self) { group in
            for (index, batch) in batches.enumerated() { group.addTask { (index, try await engine.render(batch)) } }
            return try await group.reduce(into: [Int: [RGBImage]]()) { $0[$1.0] = $1.1 }
        }
        for index in batches.indices { #expect(concurrent[index] == sequential[index]) }
    }
}

@Suite struct Wav2LipEngineTests {
    @Test func buildsInputsLikeWav2Lip() throws {
        let engine = try Wav2LipEngine(name: "tiny", model: try TestModels.runtime.compile(TestModels.tiny, options: CompileOptions(batchSize: 4)))
        #expect(engine.melInput == "mel" && engine.faceInput == "image")
        // One pure-colour crop: R=200, G=100, B=50.
        let face = RGBImage(width: 96, height: 96, fill: (200, 100, 50))
        let window = (0..<1280).map(Float.init)
        let inputs = engine.inputs(LipSyncBatch(frames: [0, 1], melWindows: [window, window], faces: [face, face]), range: 0..<2)
        let faceTensor = inputs["image"]!, melTensor = inputs["mel"]!
        #expect(faceTensor.shape == [4, 6, 96, 96], "padded to the compiled batch")
        #expect(Array(melTensor.values[0..<1280]) == window)
        let plane = 96 * 96
        func value(_ channel: Int, _ y: Int, _ x: Int) -> Float { faceTensor.values[channel * plane + y * 96 + x] }
        // Channels 0-2: masked BGR (upper half kept, lower half zero); 3-5: unmasked reference BGR.
        #expect(value(0, 10, 10) == Float(50) / 255 && value(1, 10, 10) == Float(100) / 255 && value(2, 10, 10) == Float(200) / 255)
        #expect(value(0, 47, 95) != 0 && value(0, 48, 0) == 0 && value(2, 95, 95) == 0)
        #expect(value(3, 95, 95) == Float(50) / 255 && value(5, 60, 3) == Float(200) / 255)
    }

    @Test func rejectsAModelWithTheWrongInputsNamingTheFile() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A valid ONNX model, but no Wav2Lip: one input [N,3,8,8].
        let path = dir.appendingPathComponent("wav2lip.onnx")
        let result = try ProcessRunner.python(["-c", """
            import onnx, sys
            from onnx import helper, TensorProto
            x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 8, 8])
            y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, 8, 8])
            g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
            m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]); m.ir_version = 8
            onnx.save(m, sys.argv[1])
            """, path.path])
        try #require(result.status == 0, "\(result.stderr)")
        let catalog = ModelCatalog(directory: dir)
        do {
            _ = try catalog.load("wav2lip", runtime: try TestModels.runtime)
            Issue.record("expected an error")
        } catch let error as LipSyncError {
            #expect(error.description.contains("wav2lip.onnx"))
            #expect(error.description.contains("mel [N,1,80,16] and face [N,6,96,96]"))
            #expect(error.description.contains("found inputs x [") && error.description.contains(",3,8,8]"))
        }
    }

    @Test func catalogFindsModelsAndExplainsWhatIsMissing() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let catalog = ModelCatalog(directory: dir)
        #expect(catalog.installed().isEmpty)
        #expect(catalog.installHint.contains("wav2lip.onnx") && catalog.installHint.contains(dir.path))
        #expect(throws: LipSyncError.modelNotFound(name: "wav2lip_gan", directory: dir.path, available: [])) {
            try catalog.file(for: "wav2lip_gan")
        }
        #expect(throws: LipSyncError.self) { try catalog.file(for: "nonsense") }
        try FileManager.default.copyItem(at: TestModels.tiny, to: dir.appendingPathComponent("wav2lip_gan.onnx"))
        #expect(catalog.installed().map(\.name) == ["wav2lip_gan"])
        let engine = try catalog.load("wav2lip_gan", runtime: try TestModels.runtime)
        #expect(engine.name == "wav2lip_gan")
        // Environment and explicit folders win over the project default, in that order.
        let root = URL(fileURLWithPath: "/project")
        #expect(ModelCatalog.resolveDirectory(explicit: nil, environment: [:], projectRoot: root).path == "/project/models")
        #expect(ModelCatalog.resolveDirectory(explicit: nil, environment: ["LIPSYNC_MODELS": "/m"], projectRoot: root).path == "/m")
        #expect(ModelCatalog.resolveDirectory(explicit: "/x", environment: ["LIPSYNC_MODELS": "/m"], projectRoot: root).path == "/x")
    }

    /// The Swift/OpenVINO path computes what onnxruntime computes on the very same input tensors.
    @Test(arguments: ["tiny", "full"])
    func matchesOnnxruntime(which: String) async throws {
        let file = which == "tiny" ? TestModels.tiny : TestModels.full
        let engine = try Wav2LipEngine(name: which, model: try TestModels.runtime.compile(file, options: CompileOptions(batchSize: 3)))
        let inputs = engine.inputs(TestModels.batch(3), range: 0..<3)
        let ours = try await engine.model.infer(inputs)[engine.output]!

        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var arguments = [Repository.script("onnxruntime_infer.py").path, file.path, dir.path]
        for (name, tensor) in inputs {
            let url = dir.appendingPathComponent("in-\(name).npy")
            try NPYFile.write(tensor.values, shape: tensor.shape, to: url)
            arguments.append("\(name)=\(url.path)")
        }
        let result = try ProcessRunner.python(arguments)
        try #require(result.status == 0, "\(result.stderr)")
        let reference = try NPYFile.read(dir.appendingPathComponent("\(engine.output).npy"))
        #expect(reference.shape == ours.shape)
        let difference = zip(reference.values, ours.values).map { abs($0 - $1) }.max()!
        #expect(difference <= 1e-4, "max |OpenVINO - onnxruntime| = \(difference)")
        // Not a degenerate output: the values vary across the patch.
        #expect(Set(ours.values.prefix(9216).map { ($0 * 1000).rounded() }).count > 10)
    }
}

@Suite struct FaceEncoderSplitTests {
    /// The split model computes exactly what the whole model computes, with the encoder run once.
    @Test(arguments: ["tiny", "full"])
    func splitModelGivesTheSameOutput(which: String) async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = which == "tiny" ? TestModels.tiny : TestModels.full
        let model = dir.appendingPathComponent("wav2lip.onnx")
        try FileManager.default.copyItem(at: source, to: model)
        let catalog = ModelCatalog(directory: dir)
        let whole = try catalog.load("wav2lip", options: CompileOptions(batchSize: 4), runtime: try TestModels.runtime)
        #expect(whole.split == nil)

        let result = try ProcessRunner.python([Repository.script("split_wav2lip.py").path, model.path])
        try #require(result.status == 0, "\(result.stderr)")
        let split = try catalog.load("wav2lip", options: CompileOptions(batchSize: 4), runtime: try TestModels.runtime)
        #expect(split.split != nil)

        // Six frames of one still avatar (one crop), different mel windows.
        var batch = TestModels.batch(6)
        batch.faces = Array(repeating: batch.faces[0], count: 6)
        let a = try await whole.render(batch), b = try await split.render(batch)
        let differences = zip(a, b).map { zip($0.pixels, $1.pixels).map { abs(Int($0) - Int($1)) }.max()! }
        #expect(differences.max()! <= 1, "largest pixel difference \(differences.max()!)")
        #expect(Set(a.map(\.pixels)).count > 1, "the mel changes the output")
    }
}

@Suite struct Int8ModelTests {
    /// The opt-in int8 path: quantise (calibrated on speech and the avatar), load, render close to fp32.
    @Test func quantisedModelLoadsAndStaysCloseToFloat() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = dir.appendingPathComponent("wav2lip.onnx")
        try FileManager.default.copyItem(at: TestModels.tiny, to: model)
        let speech = try await EspeakSynthesizer().synthesize(SpeechRequest(text: "Калибровка на речи.", language: "ru"))
        let wav = dir.appendingPathComponent("speech.wav")
        try WAVFile.write(AudioBuffer(samples: speech.samples, sampleRate: speech.sampleRate), to: wav)
        let result = try ProcessRunner.python([Repository.script("quantize_wav2lip.py").path, model.path, "--audio", wav.path,
                                               "--avatar", Repository.root.appendingPathComponent(".cache/assets/astronaut.png").path,
                                               "--box", "179,70,273,180", "--samples", "16"])
        try #require(result.status == 0, "\(result.stderr)")
        let catalog = ModelCatalog(directory: dir)
        let float = try catalog.load(model.path, options: CompileOptions(batchSize: 4), runtime: try TestModels.runtime)
        let int8 = try catalog.load(dir.appendingPathComponent("wav2lip.int8.onnx").path, options: CompileOptions(batchSize: 4),
                                    runtime: try TestModels.runtime)
        // Inputs like generation's: this speech's mel windows and the avatar's face crop.
        let prepared = try LipSyncAudio.prepare(AudioBuffer(samples: speech.samples, sampleRate: speech.sampleRate))
        let windows = MelFrameWindows(mel: try MelSpectrogram().compute(prepared.samples), fps: 25)
        let avatar = try FFmpeg.decodeImage(Repository.root.appendingPathComponent(".cache/assets/astronaut.png"))
        let crop = avatar.cropped(to: PixelRect(x: 179, y: 70, width: 94, height: 110)).resized(width: 96, height: 96)
        let frames = [5, 10, 15, 20]
        let batch = LipSyncBatch(frames: frames, melWindows: frames.map(windows.window(forFrame:)), faces: Array(repeating: crop, count: 4))
        let a = try await float.render(batch), b = try await int8.render(batch)
        let total = zip(a, b).reduce(0) { sum, pair in sum + zip(pair.0.pixels, pair.1.pixels).reduce(0) { $0 + abs(Int($1.0) - Int($1.1)) } }
        let mean = Double(total) / Double(a.count * a[0].pixels.count)
        #expect(mean < 4, "mean difference from fp32: \(mean) levels")
        #expect(a != b, "the quantised model is a different model")
    }
}

/// bf16, which `auto` picks on CPUs that compute it natively: how far it is from f32 on speech.
@Suite struct PrecisionTests {
    static var bf16Available: Bool { (try? TestModels.runtime.cpuSupportsBF16) ?? false }

    @Test func autoResolvesToWhatTheCPUHasAndBF16IsRefusedWhereItIsMissing() throws {
        let runtime = try TestModels.runtime
        #expect(try runtime.resolve(.f32) == .f32)
        #expect(try runtime.resolve(.auto) == (runtime.cpuSupportsBF16 ? .bf16 : .f32))
        if runtime.cpuSupportsBF16 {
            #expect(try runtime.resolve(.bf16) == .bf16)
        } else {
            #expect(throws: InferenceError.self) { try runtime.resolve(.bf16) }
        }
    }

    @Test(.enabled(if: bf16Available, "this CPU has no native bf16"))
    func bf16StaysWithinAGreyLevelOfF32OnSpeech() async throws {
        // Speech-like inputs: mel windows of real speech and crops of a real face.
        let speech = try await EspeakSynthesizer().synthesize(SpeechRequest(text: "Папа купил маме букет, и мы пошли в парк.", language: "ru"))
        let prepared = try LipSyncAudio.prepare(AudioBuffer(samples: speech.samples, sampleRate: speech.sampleRate))
        let windows = MelFrameWindows(mel: try MelSpectrogram().compute(prepared.samples), fps: 25)
        let avatar = try FFmpeg.decodeImage(Repository.root.appendingPathComponent(".cache/assets/astronaut.png"))
        let count = 16
        let frames = Array(stride(from: 5, to: 5 + 3 * count, by: 3))
        let faces = frames.indices.map { index in
            avatar.cropped(to: PixelRect(x: 150 + index, y: 40 + index, width: 200, height: 200)).resized(width: 96, height: 96)
        }
        let batch = LipSyncBatch(frames: frames, melWindows: frames.map { windows.window(forFrame: $0) }, faces: faces)
        var patches: [CompileOptions.Precision: [RGBImage]] = [:]
        for precision in [CompileOptions.Precision.f32, .bf16] {
            let model = try TestModels.runtime.compile(TestModels.full, options: CompileOptions(precision: precision, batchSize: 8))
            patches[precision] = try await Wav2LipEngine(name: "wav2lip", model: model).render(batch)
        }
        var total = 0.0, largest = 0
        var count8 = 0
        for (a, b) in zip(patches[.f32]!, patches[.bf16]!) {
            for (x, y) in zip(a.pixels, b.pixels) {
                let difference = abs(Int(x) - Int(y))
                total += Double(difference)
                largest = max(largest, difference)
                count8 += 1
            }
        }
        let mean = total / Double(count8)
        // Measured here: about 0.04 grey levels on average, 0.36 at most (before rounding to 8 bits).
        #expect(mean < 0.5, "mean |bf16 - f32| = \(mean) grey levels")
        #expect(largest <= 3, "max |bf16 - f32| = \(largest) grey levels")
    }
}
