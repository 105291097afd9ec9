import Foundation
import Hummingbird
import Media

/// POST /api/jobs (a background generation, followed by polling) and GET /api/jobs/{id}.
struct JobsController<Backend: LipSyncBackend> {
    let service: GenerationService<Backend>
    let fileIO = FileIO()

    func addRoutes(to router: Router<AppRequestContext>) {
        router.post("/api/jobs") { request, _ in
            let body = try await decodeGenerateRequest(request, limit: service.configuration.maxJSONBytes)
            return try jsonResponse(try await service.submitJob(body), status: .accepted)
        }
        router.get("/api/jobs/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let job = try await service.job(id) else { throw ServiceError(.notFound, "no job with that id") }
            return try jsonResponse(job)
        }
        // The live HLS stream of a job: the playlist grows while the job renders (an EVENT playlist,
        // ended by #EXT-X-ENDLIST), the segments are fMP4.
        router.get("/api/jobs/:id/:file") { _, context in
            try await hlsFile(id: context.parameters.get("id") ?? "", name: context.parameters.get("file") ?? "", context: context)
        }
    }

    func hlsFile(id: String, name: String, context: AppRequestContext) async throws -> Response {
        guard let job = service.jobs.get(id), job.streamUrl != nil else {
            throw ServiceError(.notFound, "no streamed job with that id (regular jobs stream; parallel ones when created with \"stream\": true)")
        }
        var file = service.videos.hlsFile(for: id, name: name)
        // ffmpeg writes the playlist once the first segment is complete: a player asking earlier waits.
        if file == nil && name == EncoderDestination.playlistName {
            for _ in 0..<100 where file == nil {
                guard let state = service.jobs.get(id)?.state, state == .queued || state == .running else { break }
                try await Task.sleep(for: .milliseconds(100))
                file = service.videos.hlsFile(for: id, name: name)
            }
        }
        guard let file else { throw ServiceError(.notFound, "no such file in the stream of this job") }
        let type = name.hasSuffix(".m3u8") ? "application/vnd.apple.mpegurl" : "video/mp4"
        let body = try await fileIO.loadFile(path: file.path, context: context)
        return Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: body)
    }
}
