import Foundation
import HTTPTypes
import Hummingbird
import Imaging
import LipSync
import Media
import Pipeline

/// The request context: Hummingbird's basics with the upload limit avatars need.
public struct LipSyncRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public init(source: Source) { coreContext = .init(source: source) }
    /// Bodies are read with explicit limits per route; this bounds JSON decoding.
    public var maxUploadSize: Int { 1024 * 1024 }
}

extension HTTPField.Name {
    static func timing(_ stage: String) -> HTTPField.Name { HTTPField.Name("X-Timing-\(stage)")! }
    static let engine = HTTPField.Name("X-Engine")!
    static let frames = HTTPField.Name("X-Frames")!
    static let videoID = HTTPField.Name("X-Video-Id")!
}

public func buildRouter(service: LipSyncService) -> Router<LipSyncRequestContext> {
    let router = Router(context: LipSyncRequestContext.self)
    router.add(middleware: ErrorMiddleware(metrics: service.metrics))
    let fileIO = FileIO()

    router.get("/health") { _, _ -> Response in
        let body = ["status": "ok", "running": "\(await service.limiter.running)", "queued": "\(await service.limiter.queued)"]
        return try jsonResponse(body)
    }

    router.get("/metrics") { _, _ -> Response in
        let text = service.metrics.render(running: await service.limiter.running, queued: await service.limiter.queued)
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    router.get("/api/models") { _, _ -> Response in
        struct Model: Encodable { var name: String; var engine: String; var description: String; var file: String?; var inputs: [String] }
        var models = service.wav2lip.keys.sorted().map { name -> Model in
            let engine = service.wav2lip[name]!
            let summary = ModelCatalog.knownModels.first { $0.name == name }?.summary ?? "Wav2Lip"
            return Model(name: name, engine: "wav2lip", description: summary, file: engine.file.lastPathComponent,
                         inputs: engine.ports.inputs.map(\.description))
        }
        models.append(Model(name: "viseme", engine: "viseme", description: "Phoneme-driven mouth shapes; needs no model weights", file: nil, inputs: []))
        return try jsonResponse(["models": models])
    }

    router.get("/api/voices") { _, _ -> Response in
        struct Voices: Encodable { var languages: [String]; var variants: [String] }
        return try jsonResponse(Voices(languages: await service.synthesizer.languages(), variants: await service.synthesizer.variants()))
    }

    router.get("/api/avatars") { _, _ -> Response in
        try jsonResponse(["avatars": service.uploads.list()])
    }

    router.post("/api/avatars") { request, context -> Response in
        let name = request.uri.queryParameters.get("name") ?? ""
        let fromName = URL(fileURLWithPath: name).pathExtension.lowercased()
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        let fromType = ["image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4", "video/webm": "webm",
                        "video/quicktime": "mov"].first { contentType.hasPrefix($0.key) }?.value
        guard let fileExtension = AvatarLibrary.extensions.contains(fromName) ? fromName : fromType else {
            throw ServiceError(.unsupportedMediaType, "send an image or video as the body, with its Content-Type or ?name=file.png")
        }
        let body = try await request.body.collect(upTo: service.configuration.maxUploadBytes)
        guard body.readableBytes > 0 else { throw ServiceError(.badRequest, "the upload is empty") }
        let (id, url) = try service.uploads.store(Data(buffer: body), fileExtension: fileExtension)
        do {
            let (avatar, _) = try await Generator.offPool { try service.avatars.prepare(url) }
            struct Uploaded: Encodable { var id: String; var width: Int; var height: Int; var frames: Int; var faces: Int; var box: PixelRect? }
            return try jsonResponse(Uploaded(id: id, width: avatar.width, height: avatar.height, frames: avatar.frameCount,
                                             faces: avatar.metadata.faces.compactMap { $0 }.count,
                                             box: avatar.metadata.faces.compactMap { $0 }.first?.box), status: .created)
        } catch {
            service.uploads.remove(url)
            if error is MediaError { throw ServiceError(.unprocessableContent, "the upload is not an image or video ffmpeg can read") }
            throw error
        }
    }

    for (path, mode) in [("/api/generate", GenerationMode.regular), ("/api/generate_parallel", .parallel)] {
        router.post(RouterPath(path)) { request, context -> Response in
            let body = try await decodeBody(request)
            let validated = try service.validate(body, mode: mode)
            let summary = try await service.generate(validated)
            if (request.headers[.accept] ?? "").contains("application/json") {
                return try jsonResponse(summary)
            }
            return try await videoResponse(summary.id, summary: summary, service: service, fileIO: fileIO, context: context)
        }
    }

    router.post("/api/jobs") { request, context -> Response in
        let body = try await decodeBody(request)
        guard let mode = GenerationMode(rawValue: body.mode ?? "regular") else {
            throw ServiceError(.badRequest, "'mode' is regular or parallel")
        }
        let validated = try service.validate(body, mode: mode)
        let job = service.jobs.create(mode: mode)
        let running = await service.limiter.running, queued = await service.limiter.queued
        if running >= service.limiter.maxRunning && queued >= service.limiter.maxQueued {
            throw ServiceError(.tooManyRequests, "the server is busy; try again shortly", retryAfter: 5)
        }
        Task {
            do {
                let summary = try await service.generate(validated, id: job.id) { progress in
                    service.jobs.update(job.id) {
                        $0.state = "running"
                        $0.stage = progress.stage
                        $0.framesDone = progress.framesDone
                        $0.framesTotal = progress.framesTotal
                    }
                }
                service.jobs.update(job.id) { $0.state = "done"; $0.stage = "done"; $0.result = summary }
            } catch {
                // Clients see why their request failed, never internal details.
                let message = (error as? ServiceError)?.message ?? "generation failed"
                service.jobs.update(job.id) { $0.state = "failed"; $0.error = message }
                service.logger.error("job \(job.id) failed: \(String(reflecting: error))")
            }
        }
        return try jsonResponse(job, status: .accepted)
    }

    router.get("/api/jobs/:id") { _, context -> Response in
        let id = context.parameters.get("id") ?? ""
        guard let job = service.jobs.get(id) else { throw ServiceError(.notFound, "no job '\(id)'") }
        return try jsonResponse(job)
    }

    router.get("/api/videos/:id") { _, context -> Response in
        try await videoResponse(context.parameters.get("id") ?? "", summary: nil, service: service, fileIO: fileIO, context: context)
    }

    router.get("/parallel_test") { _, _ -> Response in
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: TestPage.html)))
    }
    router.get("/") { _, _ -> Response in
        Response(status: .seeOther, headers: [.location: "/parallel_test"])
    }
    return router
}

/// The MP4, streamed from disk with its length, and the timings as headers when known.
func videoResponse(_ id: String, summary: GenerationSummary?, service: LipSyncService, fileIO: FileIO,
                   context: LipSyncRequestContext) async throws -> Response {
    guard let file = service.videoFile(id) else { throw ServiceError(.notFound, "no video '\(id)' (videos are kept for \(service.configuration.videoLifetime))") }
    let size = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
    var headers = HTTPFields()
    headers[.contentType] = "video/mp4"
    headers[.contentLength] = String(size)
    headers[.videoID] = id
    if let summary {
        headers[.engine] = summary.engine
        headers[.frames] = String(summary.frames)
        for (stage, seconds) in summary.timings.rows {
            headers[.timing(stage.replacingOccurrences(of: "/", with: "-").capitalized)] = String(format: "%.3f", seconds)
        }
        if let parallel = summary.parallel {
            headers[.timing("Split")] = String(format: "%.3f", parallel.split)
            headers[.timing("Concat")] = String(format: "%.3f", parallel.concat)
        }
    }
    let body = try await fileIO.loadFile(path: file.path, context: context)
    return Response(status: .ok, headers: headers, body: body)
}

/// The JSON body of a generation request; decoding errors reach the error middleware as they are, so
/// the client learns which field was wrong.
func decodeBody(_ request: Request) async throws -> GenerateRequestBody {
    let buffer = try await request.body.collect(upTo: 1024 * 1024)
    return try JSONDecoder().decode(GenerateRequestBody.self, from: Data(buffer: buffer))
}

func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    var headers = HTTPFields()
    headers[.contentType] = "application/json; charset=utf-8"
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
}
