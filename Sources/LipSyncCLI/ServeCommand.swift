import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Server

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP service (POST /api/generate, /api/generate_parallel, GET /parallel_test, ...)."
    )

    @Option(help: "Address to listen on.")
    var host: String = "0.0.0.0"

    @Option(help: "Port to listen on.")
    var port: Int = 3000

    @OptionGroup var models: ModelOptions

    @Option(help: "Default avatar image or video (default: the bundled astronaut.png).")
    var avatar: String?

    @Option(help: "Generations running at once.")
    var maxJobs: Int = 1

    @Option(help: "Generations allowed to wait for a slot; beyond that requests get 429.")
    var maxQueue: Int = 4

    @Option(help: "Longest text accepted, in characters.")
    var maxCharacters: Int = 5_000

    @Option(help: "Largest avatar upload, in megabytes.")
    var maxUploadMB: Int = 50

    func run() async throws {
        var configuration = ServerConfiguration.project(root: ProjectPaths.root)
        configuration.host = host
        configuration.port = port
        configuration.modelsDirectory = models.catalog.directory
        if let avatar { configuration.defaultAvatar = URL(fileURLWithPath: avatar) }
        configuration.maxConcurrentJobs = maxJobs
        configuration.maxQueuedJobs = maxQueue
        configuration.maxTextCharacters = maxCharacters
        configuration.maxUploadBytes = maxUploadMB * 1024 * 1024
        var logger = Logger(label: "lipsync")
        logger.logLevel = .info
        let service = try await LipSyncService(configuration: configuration, logger: logger)
        defer { service.cleanUp() }
        logger.info("listening on http://\(host):\(port) — test page: /parallel_test")
        try await buildApplication(service: service, logger: logger).runService()
    }
}
