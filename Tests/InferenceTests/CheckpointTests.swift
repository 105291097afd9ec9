import AudioFeatures
import Foundation
import Inference
import LipSync
import Testing
import TestSupport

/// Checkpoints converted without PyTorch. The fixture (Tests/Fixtures/checkpoints, written once by
/// scripts/make_checkpoint_fixtures.py in a throwaway PyTorch environment) is a reduced-channel Wav2Lip
/// generator (every width / 16, the same 51 convolutions and 50 batch norms, random weights and batch-norm
/// statistics) saved in the three formats, with fixed inputs and PyTorch's own output for them.
enum CheckpointFixtures {
    static let directory = Repository.root.appendingPathComponent("Tests/Fixtures/checkpoints")
    static let zip = directory.appendingPathComponent("wav2lip_small_zip.pth")
    static let legacy = directory.appendingPathComponent("wav2lip_small_legacy.pth")
    static let torchScript = directory.appendingPathComponent("wav2lip_small_torchscript.pt")

    static func converter(cache: URL) -> CheckpointConverter {
        CheckpointConverter(python: Repository.python, script: Repository.script("convert_wav2lip.py"), cacheDirectory: cache)
    }

    /// The converted model's output on the fixture's inputs, by OpenVINO, and PyTorch's.
    static func outputs(of model: URL) throws -> (ours: Tensor, pytorch: (values: [Float], shape: [Int])) {
        let mel = try NPYFile.read(directory.appendingPathComponent("mel.npy"))
        let face = try NPYFile.read(directory.appendingPathComponent("face.npy"))
        let compiled = try InferenceRuntime.shared.get().compile(model, options: CompileOptions(batchSize: mel.shape[0]))
        let melName = compiled.inputs.first { $0.shape.dropFirst() == [1, 80, 16] }!.name
        let faceName = compiled.inputs.first { $0.shape.dropFirst() == [6, 96, 96] }!.name
        let result = try compiled.inferBlocking([melName: Tensor(shape: mel.shape, values: mel.values),
                                                 faceName: Tensor(shape: face.shape, values: face.values)])
        return (result[compiled.outputs[0].name]!, try NPYFile.read(directory.appendingPathComponent("output.npy")))
    }

    /// Writes a torch-zip checkpoint of the given float32 tensors (name -> shape) without PyTorch: a
    /// stand-in `torch` module lets Python's pickle write the same globals torch.save writes.
    static func writeStateDict(_ tensors: [(String, [Int])], to url: URL, wrapper: String = "{'state_dict': sd}") throws {
        let spec = tensors.map { "(\"\($0.0)\", \($0.1))" }.joined(separator: ", ")
        let result = try ProcessRunner.python(["-c", """
            import collections, io, pickle, sys, types, zipfile
            import numpy as np
            torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
            class FloatStorage: pass
            FloatStorage.__module__ = "torch"; torch.FloatStorage = FloatStorage
            def _rebuild_tensor_v2(*args): pass
            _rebuild_tensor_v2.__module__ = "torch._utils"; utils._rebuild_tensor_v2 = _rebuild_tensor_v2
            sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils
            class T:
                def __init__(self, key, shape): self.key, self.shape = key, shape
                def __reduce__(self):
                    stride, s = [], 1
                    for n in reversed(self.shape): stride.insert(0, s); s *= n
                    return (_rebuild_tensor_v2, (S(self.key, s), 0, tuple(self.shape), tuple(stride), False, collections.OrderedDict()))
            class S:
                def __init__(self, key, n): self.key, self.n = key, n
            class P(pickle.Pickler):
                def persistent_id(self, obj):
                    return ("storage", FloatStorage, obj.key, "cpu", obj.n) if isinstance(obj, S) else None
            spec = [\(spec)]
            sd = collections.OrderedDict((name, T(str(i), shape)) for i, (name, shape) in enumerate(spec))
            buffer = io.BytesIO(); P(buffer, protocol=2).dump(\(wrapper))
            rng = np.random.default_rng(0)
            with zipfile.ZipFile(sys.argv[1], "w") as z:
                z.writestr("archive/data.pkl", buffer.getvalue())
                for i, (name, shape) in enumerate(spec):
                    z.writestr(f"archive/data/{i}", rng.standard_normal(int(np.prod(shape))).astype("<f4").tobytes())
            """, url.path])
        try #require(result.status == 0, "\(result.stderr)")
    }
}

@Suite struct CheckpointConversionTests {
    /// Each format converts, and the ONNX model computes what PyTorch computed with the original
    /// architecture (batch norm folded, ConvTranspose scaled along its output axis).
    @Test(arguments: ["zip", "legacy", "torchscript"])
    func convertedModelMatchesPyTorch(format: String) throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = format == "zip" ? CheckpointFixtures.zip : format == "legacy" ? CheckpointFixtures.legacy : CheckpointFixtures.torchScript
        let output = dir.appendingPathComponent("converted.onnx")
        let info = try CheckpointFixtures.converter(cache: dir).convert(source, to: output, split: true)
        let expectedFormat = ["zip": "torch zip (torch >= 1.6)", "legacy": "legacy torch.save (torch < 1.6)", "torchscript": "TorchScript"][format]!
        #expect(info.format == expectedFormat)
        #expect(info.stateKeys == 352 && info.foldedBatchNorms == 50 && info.widthDivisor == 16)
        #expect(info.kind == "nogan")
        #expect(info.sha256 == (try FileDigest.sha256(of: source)))
        // The training checkpoints carry the step and epoch; the TorchScript module does not.
        #expect((info.globalStep == 300_000) == (format != "torchscript"))
        for suffix in ["face.onnx", "decoder.onnx"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("converted.\(suffix)").path))
        }

        let (ours, pytorch) = try CheckpointFixtures.outputs(of: output)
        #expect(ours.shape == pytorch.shape)
        let difference = zip(ours.values, pytorch.values).map { abs($0 - $1) }.max()!
        #expect(difference <= 1e-4, "max |OpenVINO - PyTorch| = \(difference)")
        // Not a degenerate output that anything would match.
        let mean = pytorch.values.reduce(0, +) / Float(pytorch.values.count)
        let spread = (pytorch.values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(pytorch.values.count)).squareRoot()
        #expect(spread > 0.05, "PyTorch's output should vary; std \(spread)")
    }

    /// The catalog converts a checkpoint it finds once, keeps it by SHA-256, and loads it as a model
    /// with its face encoder split off; GAN / NOGAN comes from the file name.
    @Test func catalogConvertsCheckpointsOnceAndCachesThem() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let models = dir.appendingPathComponent("models"), cache = dir.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: CheckpointFixtures.zip, to: models.appendingPathComponent("wav2lip_gan.pth"))
        try FileManager.default.copyItem(at: CheckpointFixtures.torchScript, to: models.appendingPathComponent("Wav2Lip-SD-NOGAN.pt"))
        let lines = LogLines()
        let catalog = ModelCatalog(directory: models, converter: CheckpointFixtures.converter(cache: cache), log: lines.append)
        #expect(catalog.installed().map(\.name) == ["wav2lip", "wav2lip_gan"])
        #expect(catalog.installed().map(\.format) == [.checkpoint, .checkpoint])

        let gan = try catalog.load("wav2lip_gan", options: CompileOptions(batchSize: 2), runtime: try TestModels.runtime)
        #expect(gan.origin.kind == "GAN" && gan.origin.format == "torch zip (torch >= 1.6)")
        #expect(gan.origin.file.lastPathComponent == "wav2lip_gan.pth" && gan.origin.conversion?.globalStep == 300_000)
        #expect(gan.split != nil, "the conversion writes the face-encoder split")
        #expect(lines.all.contains { $0.hasPrefix("converting wav2lip_gan.pth") })
        #expect(lines.all.contains { $0.hasPrefix("converted wav2lip_gan.pth") })
        let nogan = try catalog.load("wav2lip", options: CompileOptions(batchSize: 2), runtime: try TestModels.runtime)
        #expect(nogan.origin.kind == "NOGAN" && nogan.origin.format == "TorchScript")

        // The same file again: from the cache, no conversion, same output.
        let converted = try FileManager.default.contentsOfDirectory(atPath: cache.path).filter { !$0.hasPrefix(".") }
        #expect(converted.count == 2, "one cached conversion per checkpoint: \(converted)")
        let again = LogLines()
        let reloaded = try ModelCatalog(directory: models, converter: CheckpointFixtures.converter(cache: cache), log: again.append)
            .load("wav2lip_gan", options: CompileOptions(batchSize: 2), runtime: try TestModels.runtime)
        #expect(again.all.isEmpty, "a cached conversion logs nothing: \(again.all)")
        let batch = TestModels.batch(2)
        #expect(try await gan.render(batch) == (try await reloaded.render(batch)))
        // The two checkpoints hold the same weights (one fixture, three formats): same patches.
        #expect(try await gan.render(batch) == (try await nogan.render(batch)))
    }

    /// Anything that is not a Wav2Lip generator checkpoint is refused with the file's name and what was
    /// found, nothing from the file runs, and nothing half-written is left.
    @Test func foreignAndDamagedFilesAreRefusedClearly() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let zipData = try Data(contentsOf: CheckpointFixtures.zip), legacyData = try Data(contentsOf: CheckpointFixtures.legacy)
        let marker = dir.appendingPathComponent("executed")
        var cases: [(file: String, expected: String)] = []
        func add(_ name: String, _ data: Data, expecting expected: String) throws {
            try data.write(to: dir.appendingPathComponent(name))
            cases.append((name, expected))
        }
        try add("truncated_zip.pth", zipData.prefix(zipData.count / 2), expecting: "truncated")
        try add("truncated_legacy.pth", legacyData.prefix(legacyData.count - 5000), expecting: "truncated")
        try add("text.pth", Data("hello, I am not a model".utf8), expecting: "not a PyTorch checkpoint")
        // A pickle that would run a shell command if it were unpickled naively.
        let evil = try ProcessRunner.python(["-c", """
            import os, pickle, sys
            class Evil:
                def __reduce__(self): return (os.system, ("touch " + sys.argv[2],))
            open(sys.argv[1], "wb").write(pickle.dumps({"state_dict": Evil()}, protocol=2))
            """, dir.appendingPathComponent("evil.pth").path, marker.path])
        try #require(evil.status == 0, "\(evil.stderr)")
        cases.append(("evil.pth", "system"))
        // Well-formed checkpoints of other networks.
        try CheckpointFixtures.writeStateDict([("face_encoder.0.conv_block.0.weight", [32, 15, 7, 7]),
                                               ("audio_encoder.0.conv_block.0.weight", [32, 1, 3, 3])],
                                              to: dir.appendingPathComponent("syncnet.pth"))
        cases.append(("syncnet.pth", "SyncNet"))
        try CheckpointFixtures.writeStateDict([("face_encoder_blocks.0.0.conv_block.0.weight", [16, 3, 7, 7])],
                                              to: dir.appendingPathComponent("wrong_shape.pth"))
        cases.append(("wrong_shape.pth", "has shape [16, 3, 7, 7]"))
        try CheckpointFixtures.writeStateDict([("fc.weight", [4, 4])], to: dir.appendingPathComponent("other.pth"),
                                              wrapper: "{'model': sd, 'epoch': 3}")
        cases.append(("other.pth", "a dict with keys model, epoch"))

        let converter = CheckpointFixtures.converter(cache: dir.appendingPathComponent("cache"))
        for (file, expected) in cases {
            let output = dir.appendingPathComponent("out-\(file).onnx")
            do {
                try converter.convert(dir.appendingPathComponent(file), to: output, split: true)
                Issue.record("\(file) converted")
            } catch let error as LipSyncError {
                #expect(error.description.contains(file), "\(error)")
                #expect(error.description.contains(expected), "\(file): \(error)")
            }
            #expect(!FileManager.default.fileExists(atPath: output.path))
            do {
                _ = try converter.converted(dir.appendingPathComponent(file))
                Issue.record("\(file) converted into the cache")
            } catch {}
        }
        #expect(!FileManager.default.fileExists(atPath: marker.path), "the pickle's code ran")
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".onnx") || $0.contains("converting") }
        #expect(left.isEmpty, "left behind: \(left)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("cache").path)) ?? []).isEmpty)
    }
}

@Suite struct ExportFormatTests {
    /// FaceFusion's export names (`wav2lip_gan_96.onnx`, inputs `source` / `target`), float16 inputs and
    /// outputs, and a graph that pins batch 1: recognised, converted to float32 by OpenVINO, compiled at
    /// batch 1 when the policy's batch cannot be set, and rendering what the float32 model renders.
    @Test func faceFusionFloat16StaticBatchExportLoadsAndMatchesFloat32() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("wav2lip_gan_96.onnx")
        let result = try ProcessRunner.python(["-c", """
            import sys, onnx
            from onnx import helper, TensorProto
            m = onnx.load(sys.argv[1]); g = m.graph
            rename = {"mel": "source32", "image": "target32"}
            for node in g.node:
                node.input[:] = [rename.get(i, i) for i in node.input]
                node.output[:] = ["output32" if o == "output" else o for o in node.output]
            # float16 at the boundary, a reshape that pins batch 1 at the end
            casts = [helper.make_node("Cast", [n], [n + "32"], to=TensorProto.FLOAT) for n in ("source", "target")]
            shape = helper.make_tensor("pinned", TensorProto.INT64, [4], [1, 3, 96, 96])
            tail = [helper.make_node("Reshape", ["output32", "pinned"], ["reshaped"]),
                    helper.make_node("Cast", ["reshaped"], ["output"], to=TensorProto.FLOAT16)]
            nodes = casts + list(g.node) + tail
            inputs = [helper.make_tensor_value_info("source", TensorProto.FLOAT16, [1, 1, 80, 16]),
                      helper.make_tensor_value_info("target", TensorProto.FLOAT16, [1, 6, 96, 96])]
            outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT16, [1, 3, 96, 96])]
            graph = helper.make_graph(nodes, "ff", inputs, outputs, list(g.initializer) + [shape])
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]); model.ir_version = 8
            onnx.checker.check_model(model); onnx.save(model, sys.argv[2])
            """, TestModels.tiny.path, file.path])
        try #require(result.status == 0, "\(result.stderr)")
        let described = try TestModels.runtime.describe(file)
        #expect(described.inputs.map(\.elementType) == ["f16", "f16"] && described.outputs.map(\.elementType) == ["f16"])

        let lines = LogLines()
        let catalog = ModelCatalog(directory: dir, log: lines.append)
        #expect(catalog.installed().map(\.name) == ["wav2lip_gan"])
        let engine = try catalog.load("wav2lip_gan", options: CompileOptions(batchSize: 8), runtime: try TestModels.runtime)
        #expect(engine.preferredBatchSize == 1, "a graph pinned to batch 1 runs at batch 1")
        #expect(lines.all.contains { $0.contains("using the export's batch of 1") })
        #expect(engine.origin.floatConversion && engine.origin.description.contains("float16"))
        #expect(engine.melInput == "source" && engine.faceInput == "target")

        let reference = try Wav2LipEngine(name: "f32", model: try TestModels.runtime.compile(TestModels.tiny, options: CompileOptions(batchSize: 3)))
        let batch = TestModels.batch(3)
        let half = try await engine.render(batch), full = try await reference.render(batch)
        let largest = zip(half, full).map { zip($0.pixels, $1.pixels).map { abs(Int($0) - Int($1)) }.max()! }.max()!
        #expect(largest <= 2, "float16 rounding only: largest difference \(largest) levels")
        #expect(Set(half.map(\.pixels)).count == 3)
    }

    /// Integer ports: the runtime compiles int64 ones (a voice's phoneme ids) and refuses a float tensor for
    /// them with the port's type; a Wav2Lip-shaped model with an integer input is refused at load.
    @Test func integerInputsAreTypedAndRefusedForWav2Lip() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("int.onnx")
        let result = try ProcessRunner.python(["-c", """
            import sys, onnx
            from onnx import helper, TensorProto
            x = helper.make_tensor_value_info("x", TensorProto.INT64, [1, 4])
            y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
            g = helper.make_graph([helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)], "g", [x], [y])
            m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]); m.ir_version = 8
            onnx.save(m, sys.argv[1])
            # Wav2Lip's shapes, with an int64 mel.
            mel = helper.make_tensor_value_info("mel", TensorProto.INT64, [1, 1, 80, 16])
            face = helper.make_tensor_value_info("face", TensorProto.FLOAT, [1, 6, 96, 96])
            out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 96, 96])
            starts, ends, axes = (helper.make_tensor(n, TensorProto.INT64, [1], [v]) for n, v in (("s", 0), ("e", 3), ("a", 1)))
            g = helper.make_graph([helper.make_node("Slice", ["face", "s", "e", "a"], ["out"])], "w", [mel, face], [out],
                                  initializer=[starts, ends, axes])
            m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]); m.ir_version = 8
            onnx.save(m, sys.argv[2])
            """, file.path, dir.appendingPathComponent("intmel.onnx").path])
        try #require(result.status == 0, "\(result.stderr)")
        let model = try TestModels.runtime.compile(file)
        #expect(model.inputs.first?.elementType == "i64")
        #expect(try model.inferBlocking(["x": Tensor(shape: [1, 4], int64: [1, 2, 3, 4])])["y"]?.values == [1, 2, 3, 4])
        #expect(throws: InferenceError("input 'x' is f32; the model takes i64")) {
            try model.inferBlocking(["x": Tensor(shape: [1, 4], values: [1, 2, 3, 4])])
        }
        let wav2lipShaped = try TestModels.runtime.compile(dir.appendingPathComponent("intmel.onnx"))
        #expect(throws: LipSyncError.self) { try Wav2LipEngine(name: "intmel", model: wav2lipShaped) }
    }
}

/// Collects log lines from a catalog.
final class LogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    var append: @Sendable (String) -> Void { { [self] line in lock.withLock { lines.append(line) } } }
    var all: [String] { lock.withLock { lines } }
}
