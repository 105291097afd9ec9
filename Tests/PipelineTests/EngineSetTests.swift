import Foundation
import Inference
import LipSync
import Pipeline
import Testing
import TestSupport

/// The one engine policy: which engine a request gets, what split and same mean, how models compile.
@Suite struct EngineSetTests {
    @Test func withoutModelsEverythingFallsBackToVisemes() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let engines = try EngineSet(catalog: ModelCatalog(directory: dir), runtime: try Fixtures.runtime, loadsOnDemand: true)
        #expect(try engines.engine(engine: nil, model: nil).name == "viseme")
        #expect(try engines.engine(engine: "VISEME", model: nil).name == "viseme")
        #expect(throws: LipSyncError.self) { try engines.engine(engine: "wav2lip", model: nil) }
        #expect(throws: LipSyncError.self) { try engines.engine(engine: "magic", model: nil) }
        #expect(throws: LipSyncError.self) { try engines.engine(engine: "viseme", model: "wav2lip") }
        // Split needs both models; automatic assignment falls back to same.
        #expect(throws: LipSyncError.self) { try engines.parallelWorkers(engine: nil, model: nil, assignment: .split) }
        let workers = try engines.parallelWorkers(engine: nil, model: nil, assignment: nil)
        #expect(workers.assignment == .same && workers.engines.map(\.name) == ["viseme"])
        #expect(engines.parallelOptions(workers).workers == engines.policy.workers)
    }

    @Test func bothModelsInstalledMeansSplitAlternatesNoganAndGan() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["wav2lip", "wav2lip_gan"] {
            try FileManager.default.copyItem(at: Fixtures.tinyModel, to: dir.appendingPathComponent("\(name).onnx"))
        }
        // The server's way: everything compiled up front, nothing loaded inside a request.
        let engines = try EngineSet(catalog: ModelCatalog(directory: dir), runtime: try Fixtures.runtime, loadsOnDemand: false)
        #expect(engines.preloadInstalled().isEmpty)
        #expect(engines.models.map(\.name) == ["wav2lip", "wav2lip_gan"])
        #expect(try engines.engine(engine: nil, model: nil).name == "wav2lip")
        let split = try engines.parallelWorkers(engine: nil, model: nil, assignment: nil)
        #expect(split.assignment == .split && split.engines.map(\.name) == ["wav2lip", "wav2lip_gan"])
        // One model named: same mode, that model.
        let same = try engines.parallelWorkers(engine: nil, model: "wav2lip_gan", assignment: nil)
        #expect(same.assignment == .same && same.engines.map(\.name) == ["wav2lip_gan"])
        #expect(throws: LipSyncError.self) { try engines.parallelWorkers(engine: nil, model: "wav2lip", assignment: .split) }
        // The server refuses paths and unknown names, and says what is installed.
        #expect(throws: LipSyncError.self) { try engines.model(Fixtures.tinyModel.path) }
        do {
            _ = try engines.model("gpt")
            Issue.record("an unknown model loaded")
        } catch let error as LipSyncError {
            #expect(error.description.contains("unknown model 'gpt'"))
        }
        // Each model is compiled once, with the policy's options.
        let model = try engines.model("wav2lip")
        #expect(model === (try engines.model("wav2lip")))
        #expect(engines.compileOptions.cpuPinning == false && engines.compileOptions.requests == engines.policy.workers)
        // auto: bf16 exactly where the CPU has it.
        #expect(engines.precision == (try Fixtures.runtime.cpuSupportsBF16 ? .bf16 : .f32))
        #expect(model.model.options.precision == engines.precision)
    }

    @Test func aModelThatFailsToLoadIsReportedAndTheOthersStillLoad() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: Fixtures.tinyModel, to: dir.appendingPathComponent("wav2lip.onnx"))
        try Data("not a model".utf8).write(to: dir.appendingPathComponent("wav2lip_gan.onnx"))
        let engines = try EngineSet(catalog: ModelCatalog(directory: dir), runtime: try Fixtures.runtime, loadsOnDemand: false)
        let failures = engines.preloadInstalled()
        #expect(Array(failures.keys) == ["wav2lip_gan"])
        #expect(engines.models.map(\.name) == ["wav2lip"])
        #expect(!engines.canSplit(engine: nil, model: nil))
        do {
            _ = try engines.model("wav2lip_gan")
            Issue.record("a broken model loaded")
        } catch let error as LipSyncError {
            #expect(error.description.contains("could not be loaded"))
        }
    }

    /// The server's start-up with checkpoints: a good one converts and loads, a damaged one is reported
    /// with its file and reason, and everything else still works.
    @Test func aDamagedCheckpointIsReportedAndTheGoodOneLoads() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let models = dir.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
        let fixture = Repository.root.appendingPathComponent("Tests/Fixtures/checkpoints/wav2lip_small_legacy.pth")
        try FileManager.default.copyItem(at: fixture, to: models.appendingPathComponent("wav2lip.pth"))
        try Data(try Data(contentsOf: fixture).prefix(4096)).write(to: models.appendingPathComponent("wav2lip_gan.pth"))
        let converter = CheckpointConverter(python: Repository.python, script: Repository.script("convert_wav2lip.py"),
                                            cacheDirectory: dir.appendingPathComponent("converted"))
        let engines = try EngineSet(catalog: ModelCatalog(directory: models, converter: converter), runtime: try Fixtures.runtime,
                                loadsOnDemand: false)
        let failures = engines.preloadInstalled()
        #expect(Array(failures.keys) == ["wav2lip_gan"])
        #expect(failures["wav2lip_gan"]?.contains("wav2lip_gan.pth") == true && failures["wav2lip_gan"]?.contains("truncated") == true,
                "\(failures)")
        #expect(engines.models.map(\.name) == ["wav2lip"])
        #expect(engines.models.first?.origin.description == "wav2lip.pth: NOGAN, legacy torch.save (torch < 1.6), converted to ONNX")
        let engine = try engines.engine(engine: nil, model: nil)
        #expect(engine.name == "wav2lip")
        let workers = try engines.parallelWorkers(engine: nil, model: nil, assignment: .same)
        #expect(workers.engines.map(\.name) == ["wav2lip"])
    }

    @Test func policyValidationRejectsNonsense() {
        #expect(throws: LipSyncError.self) { try EnginePolicy(workers: 0).validate() }
        #expect(throws: LipSyncError.self) { try EnginePolicy(batchSize: 0).validate() }
        #expect(throws: LipSyncError.self) { try EnginePolicy(threads: 0).validate() }
        #expect(throws: Never.self) { try EnginePolicy().validate() }
    }
}
