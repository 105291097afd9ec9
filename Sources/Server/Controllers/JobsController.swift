import Foundation
import Hummingbird

/// POST /api/jobs (a background generation, followed by polling) and GET /api/jobs/{id}.
struct JobsController<Backend: LipSyncBackend> {
    let service: GenerationService<Backend>

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("/api/jobs") { request, _ in
            let body = try await decodeGenerateRequest(request, limit: service.configuration.maxJSONBytes)
            return try jsonResponse(try await service.submitJob(body), status: .accepted)
        }
        router.get("/api/jobs/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let job = service.jobs.get(id) else { throw ServiceError(.notFound, "no job with that id") }
            return try jsonResponse(job)
        }
    }
}
