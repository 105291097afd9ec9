import Foundation
import HTTPTypes
import Hummingbird

/// What the service is and how it is doing: /health, /metrics, /api/models, /api/voices, the OpenAPI
/// description, and the test page.
struct InfoController<Backend: LipSyncBackend> {
    let service: GenerationService<Backend>

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/health") { _, _ in
            try jsonResponse(service.health)
        }
        router.get("/metrics") { _, _ in
            let text = service.metrics.render(running: service.limiter.running, queued: service.limiter.queued)
            return Self.text(text, type: "text/plain; version=0.0.4")
        }
        router.get("/api/models") { _, _ in
            try jsonResponse(service.backend.models())
        }
        router.get("/api/voices") { _, _ in
            try jsonResponse(await service.backend.voices())
        }
        router.get("/openapi.json") { _, _ in
            Self.text(try OpenAPIDocument.json(), type: "application/json; charset=utf-8")
        }
        router.get("/parallel_test") { _, _ in
            Self.text(TestPage.html, type: "text/html; charset=utf-8")
        }
        router.get("/") { _, _ in
            Response(status: .seeOther, headers: [.location: "/parallel_test"])
        }
    }

    static func text(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

/// The OpenAPI 3.1 description of this API (Sources/Server/Resources/openapi.json), read once.
enum OpenAPIDocument {
    private static let loaded: Result<String, ServiceError> = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
              let text = try? String(contentsOf: url, encoding: .utf8) else {
            return .failure(ServiceError(.internalServerError, "the OpenAPI description is missing from this build"))
        }
        return .success(text)
    }()

    static func json() throws -> String { try loaded.get() }
}
