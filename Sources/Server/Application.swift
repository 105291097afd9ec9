import Hummingbird
import Logging

/// The HTTP application: the service loaded first (models, avatar), then the router on the configured address.
public func buildApplication(service: LipSyncService, logger: Logger = Logger(label: "lipsync")) -> some ApplicationProtocol {
    let router = buildRouter(service: service)
    return Application(
        router: router,
        configuration: .init(address: .hostname(service.configuration.host, port: service.configuration.port), serverName: "lipsync"),
        logger: logger)
}
