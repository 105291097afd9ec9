import Foundation
import Inference
import LipSync

/// How Wav2Lip models are compiled and how many workers a parallel generation gets. One value, used by
/// the CLI, the server and the benchmarks alike.
package struct EnginePolicy: Sendable, Equatable {
    /// Frames per inference call: batch 8 already reaches full speed here; larger batches only cost memory.
    package var batchSize: Int
    /// Workers of a parallel generation in `same` mode (they share one model through as many infer requests).
    package var workers: Int
    /// Inference threads per model (nil: every core).
    package var threads: Int?
    /// `auto`: bf16 where the CPU computes it natively (about twice the frames per second of f32 for
    /// Wav2Lip here, within a fraction of a grey level), else f32. Parity checks ask for f32.
    package var precision: CompileOptions.PrecisionChoice

    package init(batchSize: Int = 8, workers: Int = 2, threads: Int? = nil, precision: CompileOptions.PrecisionChoice = .auto) {
        self.batchSize = batchSize
        self.workers = workers
        self.threads = threads
        self.precision = precision
    }

    /// Every model is compiled once with these options and serves regular, `same` and `split`
    /// generations. Latency hint: a regular generation has one batch in flight and should get every
    /// core. `workers` infer requests: the workers of a `same` generation queue their batches on the one
    /// model. Pinning off: in `split` mode two models run side by side, and OpenVINO would pin both to
    /// the same cores.
    package func compileOptions(precision: CompileOptions.Precision) -> CompileOptions {
        CompileOptions(hint: .latency, precision: precision, threads: threads, batchSize: batchSize,
                       requests: workers, cpuPinning: false)
    }

    package func validate() throws {
        guard (1...128).contains(batchSize) else { throw LipSyncError.badInput("batch size must be in 1...128, got \(batchSize)") }
        guard (1...ParallelOptions.maxChunks).contains(workers) else {
            throw LipSyncError.badInput("workers must be in 1...\(ParallelOptions.maxChunks), got \(workers)")
        }
        if let threads, threads < 1 { throw LipSyncError.badInput("threads must be at least 1, got \(threads)") }
    }
}

/// The engines a process can render with: the Wav2Lip models of the catalog, each compiled once with
/// the policy, and the viseme engine. It answers, for a request, which engine renders a regular
/// generation and which workers render a parallel one. "split" means one thing here: a parallel
/// generation whose chunks alternate between the two models, NOGAN and GAN.
package final class EngineSet: @unchecked Sendable {
    package static let engineNames = ["wav2lip", "viseme"]
    /// The two models `split` alternates between: NOGAN, then GAN.
    package static let splitModels = ["wav2lip", "wav2lip_gan"]

    package let catalog: ModelCatalog
    package let policy: EnginePolicy
    /// The policy's precision, resolved for this CPU.
    package let precision: CompileOptions.Precision
    package var compileOptions: CompileOptions { policy.compileOptions(precision: precision) }
    /// Load models the first time a request names them (the CLI), or only those preloaded (the server,
    /// which must not compile inside a request nor load files a request names).
    package let loadsOnDemand: Bool
    package let viseme = VisemeEngine()
    private let runtime: InferenceRuntime
    private let lock = NSLock()
    private var loaded: [String: Wav2LipEngine] = [:]
    private var failures: [String: String] = [:]

    package init(catalog: ModelCatalog, policy: EnginePolicy = EnginePolicy(), runtime: InferenceRuntime, loadsOnDemand: Bool) throws {
        self.catalog = catalog
        self.policy = policy
        precision = try runtime.resolve(policy.precision)
        self.runtime = runtime
        self.loadsOnDemand = loadsOnDemand
    }

    /// Compiles every installed model now. A model that fails is reported and left out; the others load.
    @discardableResult
    package func preloadInstalled() -> [String: String] {
        for entry in catalog.installed() {
            do { _ = try load(entry.name) } catch {
                lock.withLock { failures[entry.name] = "\(error)" }
            }
        }
        return lock.withLock { failures }
    }

    /// The Wav2Lip models loaded so far, by name.
    package var models: [Wav2LipEngine] { lock.withLock { loaded.values.sorted { $0.name < $1.name } } }
    /// Installed models that failed to load, with the reason.
    package var loadFailures: [String: String] { lock.withLock { failures } }

    /// Names of the models a request may use.
    package var availableModels: [String] {
        loadsOnDemand ? catalog.installed().map(\.name) : lock.withLock { loaded.keys.sorted() }
    }

    /// A Wav2Lip model by catalog name (or, when loading on demand, by path), compiled once.
    package func model(_ nameOrPath: String) throws -> Wav2LipEngine {
        if let engine = lock.withLock({ loaded[nameOrPath] }) { return engine }
        guard loadsOnDemand else {
            let known = ModelCatalog.knownModels.map(\.name)
            if let reason = lock.withLock({ failures[nameOrPath] }) {
                throw LipSyncError.badInput("model '\(nameOrPath)' could not be loaded: \(reason)")
            }
            guard known.contains(nameOrPath) else {
                throw LipSyncError.badInput("unknown model '\(nameOrPath)'; known models: \(known.joined(separator: ", "))")
            }
            let installed = availableModels
            throw LipSyncError.badInput("model '\(nameOrPath)' is not installed; installed: \(installed.isEmpty ? "none" : installed.joined(separator: ", "))")
        }
        return try load(nameOrPath)
    }

    private func load(_ nameOrPath: String) throws -> Wav2LipEngine {
        let engine = try catalog.load(nameOrPath, options: compileOptions, runtime: runtime)
        return lock.withLock {
            // Two callers may have compiled it at once; keep the first.
            if let existing = loaded[nameOrPath] { return existing }
            loaded[nameOrPath] = engine
            return engine
        }
    }

    /// The engine of a regular generation: explicit by name; otherwise the first Wav2Lip model
    /// available, else the viseme engine (which needs no weights).
    /// - Parameters:
    ///   - engine: `wav2lip`, `viseme` or nil (automatic).
    ///   - model: a catalog name (`wav2lip`, `wav2lip_gan`), or a path when loading on demand; implies Wav2Lip.
    package func engine(engine: String?, model: String?) throws -> any LipSyncEngine {
        switch engine?.lowercased() {
        case "viseme":
            guard model == nil else { throw LipSyncError.badInput("the viseme engine takes no model; drop the model or choose engine wav2lip") }
            return viseme
        case "wav2lip":
            if let model { return try self.model(model) }
            guard let first = availableModels.first else {
                throw LipSyncError.modelNotFound(name: "wav2lip", directory: catalog.directory.path, available: [])
            }
            return try self.model(first)
        case nil:
            if let model { return try self.model(model) }
            if let first = availableModels.first { return try self.model(first) }
            return viseme
        case let other?:
            throw LipSyncError.badInput("unknown engine '\(other)'; choose one of \(Self.engineNames.joined(separator: ", "))")
        }
    }

    /// Whether `split` can run for a request: both models available, and neither one model nor the
    /// viseme engine asked for.
    package func canSplit(engine: String?, model: String?) -> Bool {
        Self.splitModels.allSatisfy(availableModels.contains) && model == nil && engine?.lowercased() != "viseme"
    }

    /// The workers of a parallel generation: `split` gives the two models (NOGAN, GAN); `same` gives one
    /// engine that `policy.workers` workers share. With no assignment asked for, split when it can run.
    package func parallelWorkers(engine: String?, model: String?, assignment: WorkerAssignment?) throws -> ParallelWorkers {
        let split = canSplit(engine: engine, model: model)
        switch assignment ?? (split ? .split : .same) {
        case .split:
            guard split else {
                throw LipSyncError.badInput("assign 'split' needs both wav2lip and wav2lip_gan installed and the Wav2Lip engine; use 'same'")
            }
            return ParallelWorkers(engines: try Self.splitModels.map { try self.model($0) }, assignment: .split)
        case .same:
            return ParallelWorkers(engines: [try self.engine(engine: engine, model: model)], assignment: .same)
        }
    }

    /// The workers of a streamed parallel generation, which deals fragments to them in turn: the two
    /// models in `split`, the one engine `policy.workers` times in `same`.
    package func fragmentWorkers(_ workers: ParallelWorkers) -> [any LipSyncEngine] {
        switch workers.assignment {
        case .split: return workers.engines
        case .same: return Array(repeating: workers.engines[0], count: policy.workers)
        }
    }

    /// The options of a parallel generation with these workers.
    package func parallelOptions(_ workers: ParallelWorkers, chunks: Int? = nil, minimumDuration: Double = 10) -> ParallelOptions {
        ParallelOptions(assignment: workers.assignment, chunks: chunks, minimumDuration: minimumDuration, workers: policy.workers)
    }
}

/// The engines of a parallel generation and how chunks go to them.
package struct ParallelWorkers: Sendable {
    package var engines: [any LipSyncEngine]
    package var assignment: WorkerAssignment
}
