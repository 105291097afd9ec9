import AsyncAlgorithms
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

extension HTTPField.Name {
    static func timing(_ stage: String) -> HTTPField.Name { HTTPField.Name("X-Timing-\(stage)")! }
    static let engine = HTTPField.Name("X-Engine")!
    static let frames = HTTPField.Name("X-Frames")!
    static let videoID = HTTPField.Name("X-Video-Id")!
    static let precision = HTTPField.Name("X-Precision")!
    static let voice = HTTPField.Name("X-Voice")!
    static let mode = HTTPField.Name("X-Mode")!
}

/// POST /api/generate and /api/generate_parallel (the MP4, or its summary as JSON), and
/// GET /api/videos/{id} for videos made earlier.
struct GenerationController<Backend: LipSyncBackend> {
    let service: GenerationService<Backend>
    let fileIO = FileIO()

    func addRoutes(to router: Router<AppRequestContext>) {
        for (path, mode) in [("/api/generate", GenerationMode.regular), ("/api/generate_parallel", .parallel)] {
            router.post(RouterPath(path)) { request, context in
                let body = try await decodeGenerateRequest(request, limit: service.configuration.maxJSONBytes)
                let summary = try await service.generate(body, mode: mode)
                if (request.headers[.accept] ?? "").contains("application/json") {
                    return try jsonResponse(summary)
                }
                return try await video(summary.id, summary: summary, context: context)
            }
        }
        router.post("/api/generate_stream") { request, context in
            let body = try await decodeGenerateRequest(request, limit: service.configuration.maxJSONBytes)
            let (mode, run) = try await service.admitStream(body)
            // Checked and admitted: from here the answer is 200 and the body is the fragmented MP4 as it is
            // encoded.
            return Response(status: .ok, headers: [.contentType: "video/mp4", .cacheControl: "no-store", .mode: mode.rawValue],
                            body: streamedBody(run, channel: context.channel, logger: context.logger))
        }
        router.get("/api/videos/:id") { _, context in
            try await video(context.parameters.get("id") ?? "", summary: nil, context: context)
        }
    }

    /// The body of a streamed generation: the generation hands fragments over a channel to the task that
    /// owns the writer. It is cancelled as soon as the client leaves (`DisconnectWatcher`), or when a
    /// write fails: leaving the task group cancels it.
    func streamedBody(_ run: @escaping @Sendable (@escaping @Sendable (Data) async throws -> Void) async throws -> GenerationSummary,
                      channel: any Channel, logger: Logger) -> ResponseBody {
        ResponseBody { writer in
            let fragments = AsyncThrowingChannel<Data, Error>()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    do {
                        _ = try await DisconnectWatcher.cancellingOnDisconnect(channel) {
                            try await run { data in await fragments.send(data) }
                        }
                        fragments.finish()
                    } catch {
                        if ServiceError(mapping: error).isServerFault { logger.error("stream failed: \(String(reflecting: error))") }
                        fragments.fail(error)
                    }
                }
                for try await data in fragments {
                    try await writer.write(ByteBuffer(bytes: data))
                }
                try await group.waitForAll()
            }
            try await writer.finish(nil)
        }
    }

    /// The MP4 streamed from disk with its length, and the timings as headers when known.
    func video(_ id: String, summary: GenerationSummary?, context: AppRequestContext) async throws -> Response {
        guard let file = try await service.videoFile(id) else {
            throw ServiceError(.notFound, "no video with that id (videos are kept for \(service.configuration.videoLifetime))")
        }
        var headers = HTTPFields()
        headers[.contentType] = "video/mp4"
        headers[.contentLength] = String(service.videos.size(of: file))
        headers[.videoID] = id
        if let summary {
            headers[.engine] = summary.engine
            headers[.frames] = String(summary.frames)
            if let precision = summary.precision { headers[.precision] = precision }
            if let voice = summary.voice { headers[.voice] = voice }
            for (stage, seconds) in summary.timings.headerRows {
                headers[.timing(stage)] = String(format: "%.3f", seconds)
            }
            if let parallel = summary.parallel {
                headers[.timing("Planning")] = String(format: "%.3f", parallel.planning)
                headers[.timing("Concat")] = String(format: "%.3f", parallel.concat)
            }
        }
        let body = try await fileIO.loadFile(path: file.path, context: context)
        return Response(status: .ok, headers: headers, body: body)
    }
}

/// The JSON body of a generation request, read up to `limit` bytes.
func decodeGenerateRequest(_ request: Request, limit: Int) async throws -> GenerateRequest {
    let data = Data(buffer: try await request.body.collect(upTo: limit))
    do {
        return try WireJSON.decoder().decode(GenerateRequest.self, from: data)
    } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
        // Foundation reports a number too large for its field like broken JSON; say which field it is.
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            for field in ["rate", "chunks"] where object[field] is NSNumber && Int(exactly: (object[field] as! NSNumber).doubleValue) == nil {
                throw ServiceError(.badRequest, "malformed JSON: '\(field)' has the wrong type or is out of range")
            }
            throw ServiceError(.badRequest, "malformed JSON: a value has the wrong type or is out of range")
        }
        throw ServiceError(.badRequest, "malformed JSON: the body is not valid JSON")
    }
}
