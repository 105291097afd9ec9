import Foundation
import HTTPTypes
import Hummingbird

/// GET /api/avatars and POST /api/avatars (an image or video as the body, streamed to disk).
struct AvatarsController<Backend: LipSyncBackend> {
    let service: GenerationService<Backend>
    let fileIO = FileIO()

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/api/avatars") { _, _ in
            try jsonResponse(AvatarList(avatars: try await service.avatarList()))
        }
        router.post("/api/avatars") { request, context in
            try await upload(request, context: context)
        }
    }

    func upload(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard !service.isDraining else { throw ServiceError(.serviceUnavailable, "the server is shutting down", retryAfter: 10) }
        let name = request.uri.queryParameters.get("name")
        guard let fileExtension = AvatarLibrary.fileExtension(name: name, contentType: request.headers[.contentType]) else {
            throw ServiceError(.unsupportedMediaType,
                               "send an image or video as the body, with its Content-Type (image/png, image/jpeg, video/mp4, ...) or ?name=file.png")
        }
        let limit = service.configuration.maxUploadBytes
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            throw ServiceError(.contentTooLarge, "the upload is larger than the limit of \(limit / 1024 / 1024) MB")
        }
        let library = service.avatars
        let (id, partial, final) = library.reserve(fileExtension: fileExtension)
        defer { try? FileManager.default.removeItem(at: partial) }
        // Streamed to the partial file chunk by chunk, counting, so memory never holds the upload. FileIO
        // wraps errors of the body in its own; the counter keeps the original (413, a broken request).
        let counter = ByteCounter(limit: limit)
        do {
            try await fileIO.writeFile(contents: CountedBody(base: request.body, counter: counter), path: partial.path, context: context)
        } catch {
            throw counter.failure ?? error
        }
        guard counter.total > 0 else { throw ServiceError(.badRequest, "the upload is empty") }
        let analysis: AvatarAnalysis
        do {
            analysis = try await service.backend.analyseAvatar(partial)
        } catch let error as ServiceError {
            throw error
        } catch {
            let failure = ServiceError(mapping: error)
            if failure.isServerFault { throw error }
            throw ServiceError(.unprocessableContent, "the upload is not a usable avatar: \(failure.message)")
        }
        // Queue mode: stored in the queue's database too, so every API node and worker can use it.
        try await service.queue?.queue.publishUpload(id: id, file: partial, name: final.lastPathComponent)
        try FileManager.default.moveItem(at: partial, to: final)
        return try jsonResponse(UploadedAvatarDTO(id: id, analysis: analysis), status: .created)
    }
}

/// Counts the bytes of a streamed body, stops it at the limit (413) and remembers why it stopped.
final class ByteCounter: @unchecked Sendable {
    let limit: Int
    private var count = 0
    private var stored: Error?
    private let lock = NSLock()

    init(limit: Int) { self.limit = limit }

    var total: Int { lock.withLock { count } }
    /// The error that ended the body early, as the body threw it.
    var failure: Error? { lock.withLock { stored } }

    func add(_ bytes: Int) throws {
        let total = lock.withLock { () -> Int in
            count += bytes
            return count
        }
        guard total <= limit else {
            throw record(ServiceError(.contentTooLarge, "the upload is larger than the limit of \(limit / 1024 / 1024) MB"))
        }
    }

    func record(_ error: Error) -> Error {
        lock.withLock { if stored == nil { stored = error } }
        return error
    }
}

/// A request body passed through a `ByteCounter`.
struct CountedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: RequestBody
    let counter: ByteCounter

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        let counter: ByteCounter

        mutating func next() async throws -> ByteBuffer? {
            let buffer: ByteBuffer?
            do {
                buffer = try await base.next()
            } catch {
                throw counter.record(error)
            }
            if let buffer { try counter.add(buffer.readableBytes) }
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), counter: counter) }
}
