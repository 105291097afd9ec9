import Foundation
import Pipeline

// Queue mode of the service (`serve --queue`): the same checks as in-process mode (the backend's `plan`,
// so bad input is refused with the same 4xx before anything is enqueued), then a job in PostgreSQL that a
// worker renders. Lookups of jobs, videos and uploaded avatars fall back to the database, so any API
// node answers for a job any other node created, and a restarted node loses nothing.
extension GenerationService {
    /// Checks a request, publishes its avatar by content hash and enqueues it; 429 when the queue
    /// already holds `--max-queue` jobs waiting for a worker.
    func enqueue(_ request: GenerateRequest, mode: GenerationMode, in frontend: QueueFrontend) async throws -> String {
        guard !isDraining else { throw ServiceError(.serviceUnavailable, "the server is shutting down", retryAfter: 10) }
        let avatar = try await avatarFile(for: request.avatar)
        _ = try await backend.plan(request, mode: mode, avatar: avatar)
        let queue = frontend.queue
        let hash = try await queue.publishAvatar(avatar)
        let waiting = try await queue.queuedCount()
        guard waiting < configuration.maxQueuedJobs else {
            metrics.recordGeneration(mode: mode.rawValue, outcome: "rejected", frames: 0)
            throw ServiceError(.tooManyRequests, "the queue is full (\(waiting) jobs waiting for a worker); try again shortly", retryAfter: 5)
        }
        var job = request
        job.avatar = nil   // the job names its avatar by content hash
        let id = VideoStore.newID()
        try await queue.enqueue(id: id, mode: mode, request: job, avatarSHA256: hash)
        return id
    }

    /// A synchronous generation on an API node: enqueued, waited for, its video kept here like any other.
    func generateQueued(_ request: GenerateRequest, mode: GenerationMode) async throws -> GenerationSummary {
        guard let frontend = queue else { preconditionFailure("queue mode only") }
        let id = try await enqueue(request, mode: mode, in: frontend)
        do {
            let job = try await frontend.wait(for: id) { _ in }
            guard var summary = job.summary, let video = try await frontend.queue.video(id) else {
                throw ServiceError(.internalServerError, ServiceError.internalMessage)
            }
            try video.write(to: videos.destination(for: id))
            summary.bytes = video.count
            metrics.recordGeneration(mode: mode.rawValue, outcome: "ok", frames: summary.frames)
            return summary
        } catch {
            videos.remove(id)
            metrics.recordGeneration(mode: mode.rawValue, outcome: "failed", frames: 0)
            throw error
        }
    }

    /// A background job on an API node: in the queue once this returns (202), followed at GET /api/jobs/{id}.
    func submitQueued(_ request: GenerateRequest, mode: GenerationMode) async throws -> JobDTO {
        guard let frontend = queue else { preconditionFailure("queue mode only") }
        let id = try await enqueue(request, mode: mode, in: frontend)
        guard let job = try await frontend.queue.job(id) else { throw ServiceError(.internalServerError, ServiceError.internalMessage) }
        return job.dto
    }

    /// A job by id: this process's own, or (queue mode) the queue's.
    func job(_ id: String) async throws -> JobDTO? {
        guard let queue else { return jobs.get(id) }
        guard VideoStore.isID(id) else { return nil }
        return try await queue.queue.job(id)?.dto
    }

    /// The file of a finished video: kept here, or (queue mode) fetched from the queue once.
    func videoFile(_ id: String) async throws -> URL? {
        if let file = videos.file(for: id) { return file }
        guard let queue, VideoStore.isID(id), let data = try await queue.queue.video(id) else { return nil }
        let file = videos.destination(for: id)
        let partial = videos.directory.appendingPathComponent(".\(id).\(UUID().uuidString).partial")
        return try Self.publish(data, at: file, through: partial) ? file : nil
    }

    /// The file of avatar `id`: the default, one uploaded here, or (queue mode) one uploaded to another API node.
    func avatarFile(for id: String?) async throws -> URL {
        do {
            return try avatars.file(for: id)
        } catch let error as ServiceError {
            guard let queue, let id, let (name, data) = try await queue.queue.upload(id),
                  name == URL(fileURLWithPath: name).lastPathComponent, !name.hasPrefix(".") else { throw error }
            let file = avatars.directory.appendingPathComponent(name)
            let partial = avatars.directory.appendingPathComponent("\(AvatarLibrary.partialPrefix)\(UUID().uuidString)-\(name)")
            guard try Self.publish(data, at: file, through: partial) else { throw error }
            return file
        }
    }

    /// Writes `data` to `partial` and renames it to `file`, so readers never see half a file; false (and
    /// nothing left behind) when the rename fails.
    private static func publish(_ data: Data, at file: URL, through partial: URL) throws -> Bool {
        try data.write(to: partial)
        guard rename(partial.path, file.path) == 0 else {
            try? FileManager.default.removeItem(at: partial)
            return false
        }
        return true
    }

    /// Every avatar clients can name: this node's, and (queue mode) those uploaded to any API node.
    func avatarList() async throws -> [AvatarDTO] {
        var list = avatars.list()
        guard let queue else { return list }
        let known = Set(list.map(\.id))
        list += try await queue.queue.uploads().filter { !known.contains($0.id) }.map { AvatarDTO(id: $0.id, file: $0.file) }
        return list
    }
}
