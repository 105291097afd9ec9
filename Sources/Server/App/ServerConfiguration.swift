import LipSync
import Foundation
import Inference
import SpeechSynthesis

/// A setting of the service, given on the command line (`--max-jobs 2`), in the environment
/// (`LIPSYNC_MAX_JOBS=2`) or left at its default: in that order of precedence, resolved in one place.
package enum ServerSetting: String, CaseIterable, Sendable {
    case host
    case port
    case models
    case voices
    case avatar
    case dataDir = "data-dir"
    case maxJobs = "max-jobs"
    case maxQueue = "max-queue"
    case maxCharacters = "max-characters"
    case maxUploadMB = "max-upload-mb"
    case videoLifetime = "video-lifetime"
    case workers
    case drainTimeout = "drain-timeout"
    case precision
    case queue
    case maxAttempts = "max-attempts"
    case lease

    /// `LIPSYNC_MAX_JOBS` for `max-jobs`.
    package var environmentName: String { "LIPSYNC_" + rawValue.uppercased().replacingOccurrences(of: "-", with: "_") }
}

/// Everything the service is started with. Defaults suit one machine serving a few users.
package struct ServerConfiguration: Sendable, Equatable {
    package var host = "0.0.0.0"
    package var port = 3000
    /// Folder with the Wav2Lip models (ONNX exports or .pth/.pt checkpoints).
    package var modelsDirectory: URL
    /// Folder with Piper voices (NAME.onnx + NAME.onnx.json), searched before the bundled ones.
    package var voicesDirectory: URL
    /// The voices setup extracts (en_US-joe-medium), always searched.
    package var bundledVoicesDirectory: URL?
    /// Converts checkpoints found there (once, cached); nil: checkpoints are reported as not loadable.
    package var checkpointConverter: CheckpointConverter?
    /// The avatar used when a request names none.
    package var defaultAvatar: URL
    /// MediaPipe .tflite files.
    package var assetsDirectory: URL
    /// Prepared avatars (a cache by content hash, shared with the CLI).
    package var avatarCacheDirectory: URL
    /// Videos, uploaded avatars and temporary files of the running service (see `DataDirectory`).
    package var dataDirectory: URL
    /// Generations running at once.
    package var maxConcurrentJobs = 1
    /// Generations allowed to wait for a slot; more are refused with 429.
    package var maxQueuedJobs = 4
    package var maxTextCharacters = 5_000
    package var maxUploadBytes = 50 * 1024 * 1024
    /// The largest JSON body accepted.
    package var maxJSONBytes = 256 * 1024
    /// Finished videos are deleted this long after they were made.
    package var videoLifetime: Duration = .seconds(600)
    /// Parallel workers in `same` mode.
    package var workers = 2
    /// At shutdown, background jobs still running get this long to finish before they are cancelled.
    package var drainTimeout: Duration = .seconds(30)
    /// Inference precision of the Wav2Lip models: auto (bf16 where the CPU has it), f32 or bf16.
    package var precision: CompileOptions.PrecisionChoice = .auto
    package var fps = 25.0
    /// Queue mode: the PostgreSQL job queue (`--queue postgres://...`); nil: everything in this process.
    package var queue: QueueAddress?
    /// Queue mode: the lease and attempts of jobs.
    package var queueSettings = QueueSettings()
    /// Queue mode: jobs waiting for a worker, across all API nodes, before new ones get 429 (`--max-queue`
    /// given explicitly wins).
    package static let defaultMaxQueuedJobsInQueue = 64

    package init(modelsDirectory: URL, defaultAvatar: URL, assetsDirectory: URL, avatarCacheDirectory: URL, dataDirectory: URL) {
        self.modelsDirectory = modelsDirectory
        voicesDirectory = modelsDirectory.deletingLastPathComponent().appendingPathComponent("voices")
        self.defaultAvatar = defaultAvatar
        self.assetsDirectory = assetsDirectory
        self.avatarCacheDirectory = avatarCacheDirectory
        self.dataDirectory = dataDirectory
    }

    /// The defaults of a checkout: models/, voices/ (and the bundled .cache/voices), .cache/assets,
    /// .cache/avatars, .cache/data.
    package static func defaults(projectRoot root: URL) -> ServerConfiguration {
        var configuration = ServerConfiguration(
            modelsDirectory: root.appendingPathComponent("models"),
            defaultAvatar: root.appendingPathComponent(".cache/assets/astronaut.png"),
            assetsDirectory: root.appendingPathComponent(".cache/assets"),
            avatarCacheDirectory: root.appendingPathComponent(".cache/avatars"),
            dataDirectory: root.appendingPathComponent(".cache/data"))
        configuration.checkpointConverter = .project(root: root)
        configuration.voicesDirectory = root.appendingPathComponent("voices")
        configuration.bundledVoicesDirectory = VoiceCatalog.bundledFolder(root: root)
        return configuration
    }

    /// The configuration from command-line values, else the environment's `LIPSYNC_*`, else the defaults.
    /// Values from both sources go through the same parsing, so both get the same messages.
    package static func resolve(arguments: [ServerSetting: String], environment: [String: String] = ProcessInfo.processInfo.environment,
                               projectRoot: URL) throws -> ServerConfiguration {
        var configuration = defaults(projectRoot: projectRoot)
        for setting in ServerSetting.allCases {
            let source: String
            let value: String
            if let given = arguments[setting] {
                (source, value) = ("--\(setting.rawValue)", given)
            } else if let given = environment[setting.environmentName], !given.isEmpty {
                (source, value) = (setting.environmentName, given)
            } else {
                continue
            }
            try configuration.apply(setting, value, source: source)
        }
        let maxQueueGiven = arguments[.maxQueue] != nil || !(environment[ServerSetting.maxQueue.environmentName] ?? "").isEmpty
        if configuration.queue != nil && !maxQueueGiven { configuration.maxQueuedJobs = defaultMaxQueuedJobsInQueue }
        return configuration
    }

    mutating func apply(_ setting: ServerSetting, _ value: String, source: String) throws {
        func integer(_ range: ClosedRange<Int>) throws -> Int {
            guard let number = Int(value.trimmingCharacters(in: .whitespaces)), range.contains(number) else {
                throw ConfigurationError("\(source): '\(value)' is not a whole number in \(range.lowerBound)...\(range.upperBound)")
            }
            return number
        }
        func path() throws -> URL {
            guard !value.isEmpty else { throw ConfigurationError("\(source): a path is needed") }
            return URL(fileURLWithPath: value)
        }
        switch setting {
        case .host:
            guard !value.isEmpty, !value.contains(" ") else { throw ConfigurationError("\(source): '\(value)' is not a host name or address") }
            host = value
        case .port: port = try integer(0...65_535)
        case .models: modelsDirectory = try path()
        case .voices: voicesDirectory = try path()
        case .avatar: defaultAvatar = try path()
        case .dataDir: dataDirectory = try path()
        case .maxJobs: maxConcurrentJobs = try integer(1...64)
        case .maxQueue: maxQueuedJobs = try integer(0...10_000)
        case .maxCharacters: maxTextCharacters = try integer(1...100_000)
        case .maxUploadMB: maxUploadBytes = try integer(1...2_048) * 1024 * 1024
        case .videoLifetime: videoLifetime = .seconds(try integer(1...604_800))
        case .workers: workers = try integer(1...16)
        case .drainTimeout: drainTimeout = .seconds(try integer(0...3_600))
        case .precision:
            guard let choice = CompileOptions.PrecisionChoice(rawValue: value.lowercased()) else {
                throw ConfigurationError("\(source): '\(value)' is not a precision; choose \(CompileOptions.PrecisionChoice.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            precision = choice
        case .queue:
            guard !value.isEmpty else { return }
            queue = try QueueAddress(value)
        case .maxAttempts: queueSettings.maxAttempts = try integer(1...100)
        case .lease: queueSettings.lease = .seconds(try integer(2...3_600))
        }
    }
}

/// A setting that cannot be used, with the place it came from.
package struct ConfigurationError: Error, CustomStringConvertible {
    package var description: String
    init(_ description: String) { self.description = description }
}
