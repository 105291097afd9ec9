import ArgumentParser
import Foundation
import Logging
import Server

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP service (POST /api/generate, /api/generate_parallel, GET /parallel_test, /openapi.json, ...).",
        discussion: """
        Every option can also be set in the environment as LIPSYNC_<NAME> (e.g. LIPSYNC_MAX_JOBS=2); the \
        command line wins over the environment, which wins over the defaults.
        """
    )

    @Option(help: "Address to listen on (default 0.0.0.0).") var host: String?
    @Option(help: "Port to listen on (default 3000).") var port: String?
    @Option(help: "Folder with wav2lip.onnx / wav2lip_gan.onnx (default: models/ in the project).") var models: String?
    @Option(help: "Folder with Piper voices, NAME.onnx + NAME.onnx.json (default: voices/ in the project; the bundled .cache/voices are always found).") var voices: String?
    @Option(help: "Default avatar image or video (default: the bundled astronaut.png).") var avatar: String?
    @Option(help: "Folder for videos, uploaded avatars and temporary files (default: .cache/data in the project).") var dataDir: String?
    @Option(help: "Generations running at once (default 1).") var maxJobs: String?
    @Option(help: "Generations allowed to wait for a slot; beyond that requests get 429 (default 4).") var maxQueue: String?
    @Option(help: "Longest text accepted, in characters (default 5000).") var maxCharacters: String?
    @Option(help: "Largest avatar upload, in megabytes (default 50).") var maxUploadMb: String?
    @Option(help: "Seconds a finished video is kept (default 600).") var videoLifetime: String?
    @Option(help: "Parallel workers in same mode (default 2).") var workers: String?
    @Option(help: "Seconds background jobs get to finish at shutdown before they are cancelled (default 30).") var drainTimeout: String?
    @Option(help: "Wav2Lip inference precision: auto (bf16 where the CPU has it, else f32), f32 or bf16 (default auto).") var precision: String?
    @Option(help: "Run as an API node of a PostgreSQL job queue (postgres://user@host:port/database): `lipsync worker` processes render. Default: render in this process.") var queue: String?
    @Option(help: "Queue mode: claims of a job before it fails for good (default 3).") var maxAttempts: String?

    func run() async throws {
        let configuration = try Self.resolve([
            (.host, host), (.port, port), (.models, models), (.voices, voices), (.avatar, avatar), (.dataDir, dataDir), (.maxJobs, maxJobs),
            (.maxQueue, maxQueue), (.maxCharacters, maxCharacters), (.maxUploadMB, maxUploadMb), (.videoLifetime, videoLifetime),
            (.workers, workers), (.drainTimeout, drainTimeout), (.precision, precision), (.queue, queue), (.maxAttempts, maxAttempts),
        ])
        var logger = Logger(label: "lipsync")
        logger.logLevel = .info
        try await runServer(configuration: configuration, logger: logger)
    }

    /// The configuration from the options given on the command line (nil: not given), the environment and
    /// the defaults; a bad value is a usage error. Shared by `serve` and `worker`.
    static func resolve(_ options: [(ServerSetting, String?)]) throws -> ServerConfiguration {
        let given = Dictionary(uniqueKeysWithValues: options.compactMap { setting, value in value.map { (setting, $0) } })
        do {
            return try ServerConfiguration.resolve(arguments: given, projectRoot: ProjectPaths.root)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}
