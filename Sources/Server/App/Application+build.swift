import Foundation
import Hummingbird
import Logging
import Media

/// The routes of the service over any backend: the controllers, behind the error middleware.
package func buildRouter<Backend: LipSyncBackend>(service: GenerationService<Backend>) -> Router<AppRequestContext> {
    let router = Router(context: AppRequestContext.self)
    router.add(middleware: ErrorMiddleware(metrics: service.metrics))
    GenerationController(service: service).addRoutes(to: router)
    JobsController(service: service).addRoutes(to: router)
    AvatarsController(service: service).addRoutes(to: router)
    InfoController(service: service).addRoutes(to: router)
    return router
}

/// The application: the router on the configured address, the service's background services beside it,
/// and the backend's start-up work (model compilation, the default avatar) done before it listens.
package func buildApplication<Backend: LipSyncBackend>(service: GenerationService<Backend>,
                                                      logger: Logger) -> some ApplicationProtocol {
    var app = Application(
        router: buildRouter(service: service),
        configuration: .init(address: .hostname(service.configuration.host, port: service.configuration.port), serverName: "lipsync"),
        services: service.services,
        logger: logger)
    app.beforeServerStarts {
        try await service.backend.start()
        if let queue = service.queue?.queue {
            // The schema is created or migrated before the first request; a database that is not up yet is
            // waited for (a minute), a later outage only gives 503s until it is back.
            try await queue.migrate()
            logger.info("API node of the job queue at \(queue.address) (jobs are rendered by `lipsync worker`)")
        }
        logger.info("listening on http://\(service.configuration.host):\(service.configuration.port) (test page /parallel_test, API /openapi.json)")
    }
    return app
}

/// `lipsync serve`: takes the data directory (removing a crashed run's leftovers), builds the real
/// backend and runs until SIGINT/SIGTERM, then removes this run's videos and scratch files.
package func runServer(configuration: ServerConfiguration, logger: Logger) async throws {
    let data = try DataDirectory(root: configuration.dataDirectory)
    if data.leftoversRemoved > 0 {
        logger.notice("removed \(data.leftoversRemoved) leftover files of a previous run from \(data.root.path)")
    }
    try ScratchSpace.use(data.scratch)
    let backend = try PipelineBackend(configuration: configuration, logger: logger, speaks: configuration.queue == nil)
    // Queue mode: this process is an API node; workers (`lipsync worker`) render.
    let queue = configuration.queue.map { JobQueue(address: $0, settings: configuration.queueSettings, logger: logger) }
    let service = GenerationService(backend: backend, configuration: configuration, data: data, logger: logger, queue: queue)
    defer { data.removeTransientFiles() }
    try await buildApplication(service: service, logger: logger).runService()
}
