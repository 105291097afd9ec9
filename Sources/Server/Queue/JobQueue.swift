import Foundation
import LipSync
import Logging
import PostgresNIO
import ServiceLifecycle

/// How a queue behaves; the same values on every process of a deployment make the most sense.
package struct QueueSettings: Sendable, Equatable {
    /// How long a claim holds a job without a heartbeat; a worker that dies loses the job after this.
    package var lease: Duration = .seconds(15)
    /// Claims of one job before it fails for good (a worker dying mid-job, or a server-side failure).
    package var maxAttempts = 3
    /// The longest one database operation may take before the queue counts as unavailable.
    package var operationTimeout: Duration = .seconds(3)
    /// The largest video a worker stores in the queue (a bytea value); a larger one fails its job.
    package var maxVideoBytes = 512 * 1024 * 1024
    /// How long /api/generate waits for its job on an API node before answering 504 (the job goes on and
    /// can be followed at /api/jobs/{id}): with no worker running, a request must not hang forever.
    package var syncWaitLimit: Duration = .seconds(600)
    /// Heartbeats per lease: a worker renews its lease this often (lease / 3 by default).
    package var heartbeat: Duration { lease / 3 }

    package init() {}
}

/// A job as the queue holds it: what API nodes show for GET /api/jobs/{id}.
package struct QueuedJob: Sendable, Equatable {
    package var id: String
    package var mode: GenerationMode
    package var state: JobState
    package var stage: String
    package var framesDone: Int
    package var framesTotal: Int
    package var created: Date
    package var attempt: Int
    package var worker: String?
    package var summary: GenerationSummary?
    package var error: String?
    package var errorStatus: Int?

    var dto: JobDTO {
        var job = JobDTO(id: id, mode: mode, state: state, stage: stage, framesDone: framesDone, framesTotal: framesTotal, created: created,
                         streamUrl: nil)
        job.result = summary
        job.error = error
        job.errorStatus = errorStatus
        job.worker = worker
        job.attempts = attempt
        return job
    }
}

/// A job a worker holds under a lease: everything it needs to render, and the (attempt, worker) pair
/// that every later write of the worker is conditional on.
package struct ClaimedJob: Sendable, Equatable {
    package var id: String
    package var mode: GenerationMode
    package var request: GenerateRequest
    package var avatarSHA256: String
    package var attempt: Int
    package var worker: String
}

/// The durable job queue on PostgreSQL: enqueue, claim (`FOR UPDATE SKIP LOCKED` under a lease),
/// heartbeat, progress, complete once, fail with bounded attempts, expired leases, and the shared
/// avatars and videos. Wake-ups travel by LISTEN/NOTIFY (`QueueListener`): `lipsync_jobs` (a job can be
/// claimed: workers) and `lipsync_progress` (a job moved: API nodes), each with the job id as payload.
package final class JobQueue: Sendable {
    static let jobsChannel = "lipsync_jobs"
    static let progressChannel = "lipsync_progress"

    package let address: QueueAddress
    package let settings: QueueSettings
    let client: PostgresClient
    let logger: Logger
    /// Avatar hashes known to be stored (they are never deleted), so each is sent once per process.
    private let storedAvatars = LockedSet()
    /// Content hashes of avatar files by path, size and modification time, so a file is hashed once.
    private let hashes = LockedDictionary()

    package init(address: QueueAddress, settings: QueueSettings = QueueSettings(), logger: Logger) {
        self.address = address
        self.settings = settings
        self.logger = logger
        client = PostgresClient(configuration: address.clientConfiguration, backgroundLogger: logger)
    }

    /// The connection pool: must run (as a service of the application, or in a task) for any operation to work.
    package var service: some Service { client }

    private func database<T: Sendable>(_ operation: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = self.client
        return try await withDatabase(timeout: settings.operationTimeout) { try await operation(client) }
    }

    private var leaseSeconds: Double { Double(settings.lease.components.seconds) + Double(settings.lease.components.attoseconds) * 1e-18 }

    // MARK: Schema

    /// Creates or migrates the tables; waits for the database (with backoff) until it answers or `patience` runs out.
    @discardableResult
    package func migrate(patience: Duration = .seconds(60)) async throws -> [Int] {
        let deadline = ContinuousClock.now + patience
        var delay = Duration.milliseconds(200)
        while true {
            do {
                let logger = self.logger
                let applied = try await withDatabase(timeout: max(.seconds(30), settings.operationTimeout)) { [client] in
                    try await QueueSchema.migrate(client, logger: logger)
                }
                if !applied.isEmpty { logger.notice("job queue schema migrated to version \(applied.last!) at \(address)") }
                return applied
            } catch let error as QueueUnavailable where ContinuousClock.now + delay < deadline {
                let wait = delay
                logger.warning("\(error); retrying in \(wait)")
                try await Task.sleep(for: wait)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    package func schemaVersion() async throws -> Int {
        let logger = self.logger
        return try await database { try await QueueSchema.version($0, logger: logger) }
    }

    // MARK: API nodes

    /// Adds a job and wakes a worker (the insert and the notification commit together).
    package func enqueue(id: String, mode: GenerationMode, request: GenerateRequest, avatarSHA256: String) async throws {
        let json = String(decoding: try WireJSON.encoder().encode(request), as: UTF8.self)
        let maxAttempts = settings.maxAttempts
        let logger = self.logger
        try await database { client in
            try await client.query("""
                WITH job AS (INSERT INTO lipsync_jobs (id, mode, request, avatar_sha256, max_attempts)
                             VALUES (\(id), \(mode.rawValue), \(json), \(avatarSHA256), \(maxAttempts)) RETURNING id)
                SELECT pg_notify(\(Self.jobsChannel), id) FROM job
                """, logger: logger).consume()
        }
    }

    /// Jobs waiting for a worker, across every API node.
    package func queuedCount() async throws -> Int {
        let logger = self.logger
        return try await database { client in
            for try await count in try await client.query("SELECT count(*)::int8 FROM lipsync_jobs WHERE state = 'queued'", logger: logger).decode(Int.self) {
                return count
            }
            return 0
        }
    }

    package func job(_ id: String) async throws -> QueuedJob? {
        let logger = self.logger
        let row = try await database { client -> (String, String, String, Int, Int, Date, Int, String?, String?, String?, Int?)? in
            let rows = try await client.query("""
                SELECT mode, state, stage, frames_done, frames_total, created, attempt, worker, summary, error, error_status
                FROM lipsync_jobs WHERE id = \(id)
                """, logger: logger)
            for try await row in rows.decode((String, String, String, Int, Int, Date, Int, String?, String?, String?, Int?).self) { return row }
            return nil
        }
        guard let row else { return nil }
        let summary = try row.8.map { try WireJSON.decoder().decode(GenerationSummary.self, from: Data($0.utf8)) }
        return QueuedJob(id: id, mode: GenerationMode(rawValue: row.0) ?? .regular, state: JobState(rawValue: row.1) ?? .queued, stage: row.2,
                         framesDone: row.3, framesTotal: row.4, created: row.5, attempt: row.6, worker: row.7, summary: summary,
                         error: row.9, errorStatus: row.10)
    }

    /// The finished video of job `id`, while it is kept.
    package func video(_ id: String) async throws -> Data? {
        let logger = self.logger
        return try await database { client in
            for try await data in try await client.query("SELECT video FROM lipsync_jobs WHERE id = \(id) AND state = 'done' AND video IS NOT NULL",
                                                         logger: logger).decode(Data.self) {
                return data
            }
            return nil
        }
    }

    /// Stores an avatar file under its content hash (once) and returns the hash jobs name it by.
    package func publishAvatar(_ file: URL, extension: String? = nil) async throws -> String {
        let attributes = try FileManager.default.attributesOfItem(atPath: file.path)
        let key = "\(file.path)|\(attributes[.size] ?? 0)|\((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)"
        let hash = try hashes.get(key) ?? FileDigest.sha256(of: file)
        hashes.set(key, hash)
        guard !storedAvatars.contains(hash) else { return hash }
        let data = try Data(contentsOf: file)
        let ext = (`extension` ?? file.pathExtension).lowercased()
        let logger = self.logger
        try await database { client in
            try await client.query("""
                INSERT INTO lipsync_avatars (sha256, extension, data) VALUES (\(hash), \(ext), \(data)) ON CONFLICT (sha256) DO NOTHING
                """, logger: logger).consume()
        }
        storedAvatars.insert(hash)
        return hash
    }

    /// Records an uploaded avatar under its id, so that every API node can name it.
    package func publishUpload(id: String, file: URL, name: String) async throws {
        let hash = try await publishAvatar(file, extension: URL(fileURLWithPath: name).pathExtension)
        let logger = self.logger
        try await database { client in
            try await client.query("INSERT INTO lipsync_uploads (id, file, sha256) VALUES (\(id), \(name), \(hash)) ON CONFLICT (id) DO NOTHING",
                                   logger: logger).consume()
        }
    }

    /// Uploaded avatars (id, file name), oldest first.
    package func uploads() async throws -> [(id: String, file: String)] {
        let logger = self.logger
        return try await database { client in
            var list: [(String, String)] = []
            for try await row in try await client.query("SELECT id, file FROM lipsync_uploads ORDER BY created, id", logger: logger)
                .decode((String, String).self) { list.append(row) }
            return list.map { (id: $0.0, file: $0.1) }
        }
    }

    /// The bytes of an uploaded avatar named `id`: its file name and content.
    package func upload(_ id: String) async throws -> (file: String, data: Data)? {
        let logger = self.logger
        return try await database { client in
            let rows = try await client.query("""
                SELECT u.file, a.data FROM lipsync_uploads u JOIN lipsync_avatars a ON a.sha256 = u.sha256 WHERE u.id = \(id)
                """, logger: logger)
            for try await row in rows.decode((String, Data).self) { return (file: row.0, data: row.1) }
            return nil
        }
    }

    // MARK: Workers

    /// Takes the oldest claimable job: a queued one, or a running one whose lease expired with attempts left.
    /// Jobs locked by another claim in progress are skipped, so workers never wait for each other.
    package func claim(worker: String) async throws -> ClaimedJob? {
        let lease = leaseSeconds
        let logger = self.logger
        let row = try await database { client -> (String, String, String, String, Int)? in
            let rows = try await client.query("""
                WITH next AS (
                    SELECT id FROM lipsync_jobs
                    WHERE state = 'queued' OR (state = 'running' AND lease_expires < clock_timestamp() AND attempt < max_attempts)
                    ORDER BY created
                    LIMIT 1
                    FOR UPDATE SKIP LOCKED
                ), claimed AS (
                    UPDATE lipsync_jobs j
                    SET state = 'running', stage = 'claimed', attempt = j.attempt + 1, worker = \(worker),
                        lease_expires = clock_timestamp() + make_interval(secs => \(lease)), heartbeat = clock_timestamp(),
                        claimed = clock_timestamp(), frames_done = 0, error = NULL, error_status = NULL
                    FROM next WHERE j.id = next.id
                    RETURNING j.id, j.mode, j.request, j.avatar_sha256, j.attempt
                ), event AS (
                    INSERT INTO lipsync_job_events (job, attempt, worker, event) SELECT id, attempt, \(worker), 'claimed' FROM claimed
                )
                SELECT id, mode, request, avatar_sha256, attempt FROM claimed
                """, logger: logger)
            for try await row in rows.decode((String, String, String, String, Int).self) { return row }
            return nil
        }
        guard let row else { return nil }
        let request = try WireJSON.decoder().decode(GenerateRequest.self, from: Data(row.2.utf8))
        return ClaimedJob(id: row.0, mode: GenerationMode(rawValue: row.1) ?? .regular, request: request, avatarSHA256: row.3,
                          attempt: row.4, worker: worker)
    }

    /// Fails running jobs whose lease expired with no attempts left (their last worker died); returns their ids.
    @discardableResult
    package func failAbandoned() async throws -> [String] {
        let logger = self.logger
        return try await database { client in
            let rows = try await client.query("""
                WITH failed AS (
                    UPDATE lipsync_jobs
                    SET state = 'failed', stage = 'failed', finished = clock_timestamp(), lease_expires = NULL, error_status = 500,
                        error = 'the job was abandoned by its worker ' || attempt || ' times (its worker stopped renewing the lease; last: ' || coalesce(worker, '?') || ')'
                    WHERE state = 'running' AND lease_expires < clock_timestamp() AND attempt >= max_attempts
                    RETURNING id, attempt, worker
                ), event AS (
                    INSERT INTO lipsync_job_events (job, attempt, worker, event) SELECT id, attempt, worker, 'expired' FROM failed
                )
                SELECT id, pg_notify(\(Self.progressChannel), id) FROM failed
                """, logger: logger)
            var ids: [String] = []
            for try await (id, _) in rows.decode((String, String).self) { ids.append(id) }
            return ids
        }
    }

    /// Renews the lease; false when the claim is no longer this worker's (it expired and another took it).
    package func heartbeat(_ job: ClaimedJob) async throws -> Bool {
        let lease = leaseSeconds
        let logger = self.logger
        return try await database { client in
            let rows = try await client.query("""
                UPDATE lipsync_jobs SET lease_expires = clock_timestamp() + make_interval(secs => \(lease)), heartbeat = clock_timestamp()
                WHERE id = \(job.id) AND attempt = \(job.attempt) AND worker = \(job.worker) AND state = 'running'
                RETURNING id
                """, logger: logger)
            for try await _ in rows.decode(String.self) { return true }
            return false
        }
    }

    /// Publishes progress (and tells API nodes); false when the claim is no longer this worker's.
    package func progress(_ job: ClaimedJob, stage: String, framesDone: Int, framesTotal: Int) async throws -> Bool {
        let logger = self.logger
        return try await database { client in
            let rows = try await client.query("""
                UPDATE lipsync_jobs SET stage = \(stage), frames_done = \(framesDone), frames_total = \(framesTotal)
                WHERE id = \(job.id) AND attempt = \(job.attempt) AND worker = \(job.worker) AND state = 'running'
                RETURNING pg_notify(\(Self.progressChannel), id)
                """, logger: logger)
            for try await _ in rows.decode(String.self) { return true }
            return false
        }
    }

    /// Stores the result, once: the update is conditional on this worker's claim (id, attempt, worker) and a
    /// running state, so of two workers that both rendered a job only the current claim's result is kept.
    /// - Returns: false when the result was not taken (the claim was lost).
    package func complete(_ job: ClaimedJob, summary: GenerationSummary, video: Data) async throws -> Bool {
        let json = String(decoding: try WireJSON.encoder().encode(summary), as: UTF8.self)
        let logger = self.logger
        return try await database { client in
            let rows = try await client.query("""
                WITH done AS (
                    UPDATE lipsync_jobs
                    SET state = 'done', stage = 'done', summary = \(json), video = \(video), video_bytes = \(video.count),
                        frames_done = \(summary.frames), frames_total = \(summary.frames), finished = clock_timestamp(), lease_expires = NULL
                    WHERE id = \(job.id) AND attempt = \(job.attempt) AND worker = \(job.worker) AND state = 'running'
                    RETURNING id, attempt
                ), event AS (
                    INSERT INTO lipsync_job_events (job, attempt, worker, event) SELECT id, attempt, \(job.worker), 'completed' FROM done
                )
                SELECT pg_notify(\(Self.progressChannel), id) FROM done
                """, logger: logger)
            for try await _ in rows.decode(String.self) { return true }
            return false
        }
    }

    /// Records a failed attempt. A server-side failure with attempts left puts the job back in the queue
    /// (and wakes a worker); a client error, or the last attempt, fails it with the reason and its status.
    /// - Returns: the job's new state, or nil when the claim was no longer this worker's.
    @discardableResult
    package func fail(_ job: ClaimedJob, message: String, status: Int, retry: Bool) async throws -> JobState? {
        let logger = self.logger
        return try await database { client in
            let rows = try await client.query("""
                WITH failed AS (
                    UPDATE lipsync_jobs
                    SET state = CASE WHEN \(retry) AND attempt < max_attempts THEN 'queued' ELSE 'failed' END,
                        stage = CASE WHEN \(retry) AND attempt < max_attempts THEN 'queued' ELSE 'failed' END,
                        finished = CASE WHEN \(retry) AND attempt < max_attempts THEN NULL ELSE clock_timestamp() END,
                        error = \(message), error_status = \(status), lease_expires = NULL
                    WHERE id = \(job.id) AND attempt = \(job.attempt) AND worker = \(job.worker) AND state = 'running'
                    RETURNING id, attempt, state
                ), event AS (
                    INSERT INTO lipsync_job_events (job, attempt, worker, event, detail)
                    SELECT id, attempt, \(job.worker), CASE WHEN state = 'queued' THEN 'retried' ELSE 'failed' END, \(message) FROM failed
                )
                SELECT state, pg_notify(CASE WHEN state = 'queued' THEN \(Self.jobsChannel) ELSE \(Self.progressChannel) END, id) FROM failed
                """, logger: logger)
            for try await (state, _) in rows.decode((String, String).self) { return JobState(rawValue: state) }
            return nil
        }
    }

    /// Gives a claimed job back without counting the attempt (a worker shutting down gracefully).
    package func release(_ job: ClaimedJob) async throws {
        let logger = self.logger
        try await database { client in
            try await client.query("""
                WITH released AS (
                    UPDATE lipsync_jobs SET state = 'queued', stage = 'queued', attempt = attempt - 1, lease_expires = NULL, frames_done = 0
                    WHERE id = \(job.id) AND attempt = \(job.attempt) AND worker = \(job.worker) AND state = 'running'
                    RETURNING id, attempt
                ), event AS (
                    INSERT INTO lipsync_job_events (job, attempt, worker, event) SELECT id, attempt + 1, \(job.worker), 'released' FROM released
                )
                SELECT pg_notify(\(Self.jobsChannel), id) FROM released
                """, logger: logger).consume()
        }
    }

    /// The content and file extension of the avatar with hash `sha256`.
    package func avatar(_ sha256: String) async throws -> (extension: String, data: Data)? {
        let logger = self.logger
        return try await database { client in
            for try await row in try await client.query("SELECT extension, data FROM lipsync_avatars WHERE sha256 = \(sha256)", logger: logger)
                .decode((String, Data).self) {
                return (extension: row.0, data: row.1)
            }
            return nil
        }
    }

    // MARK: Retention

    /// Clears videos older than `videoLifetime` and forgets finished jobs a day old; returns (videos, jobs).
    @discardableResult
    package func sweep(videoLifetime: Duration) async throws -> (videos: Int, jobs: Int) {
        let seconds = Double(videoLifetime.components.seconds)
        let logger = self.logger
        return try await database { client in
            var videos = 0, jobs = 0
            for try await count in try await client.query("""
                WITH cleared AS (UPDATE lipsync_jobs SET video = NULL
                                 WHERE video IS NOT NULL AND finished < clock_timestamp() - make_interval(secs => \(seconds)) RETURNING 1)
                SELECT count(*)::int8 FROM cleared
                """, logger: logger).decode(Int.self) { videos = count }
            for try await count in try await client.query("""
                WITH gone AS (DELETE FROM lipsync_jobs WHERE finished < clock_timestamp() - interval '1 day' RETURNING id),
                     events AS (DELETE FROM lipsync_job_events WHERE job IN (SELECT id FROM gone))
                SELECT count(*)::int8 FROM gone
                """, logger: logger).decode(Int.self) { jobs = count }
            return (videos, jobs)
        }
    }

    // MARK: Measurements (tests, benchmark)

    /// Events of job `id` in order: (attempt, worker, event).
    package func events(_ id: String) async throws -> [(attempt: Int, worker: String?, event: String)] {
        let logger = self.logger
        return try await database { client in
            var list: [(Int, String?, String)] = []
            for try await row in try await client.query("SELECT attempt, worker, event FROM lipsync_job_events WHERE job = \(id) ORDER BY at",
                                                        logger: logger).decode((Int, String?, String).self) { list.append(row) }
            return list.map { (attempt: $0.0, worker: $0.1, event: $0.2) }
        }
    }

    /// Seconds from enqueue to first claim of each listed job (one clock: the database's).
    package func claimLatencies(_ ids: [String]) async throws -> [Double] {
        let logger = self.logger
        return try await database { client in
            var list: [Double] = []
            let rows = try await client.query("""
                SELECT extract(epoch FROM (min(e.at) - j.created))::float8 FROM lipsync_jobs j JOIN lipsync_job_events e ON e.job = j.id
                WHERE j.id = ANY(\(ids)) AND e.event = 'claimed' GROUP BY j.id, j.created
                """, logger: logger)
            for try await seconds in rows.decode(Double.self) { list.append(seconds) }
            return list
        }
    }
}

extension PostgresRowSequence {
    /// Reads the rows to the end (a statement run for its effect).
    func consume() async throws {
        for try await _ in self {}
    }
}

/// A dictionary of strings behind a lock.
final class LockedDictionary: @unchecked Sendable {
    private var items: [String: String] = [:]
    private let lock = NSLock()
    func get(_ key: String) -> String? { lock.withLock { items[key] } }
    func set(_ key: String, _ value: String) { lock.withLock { items[key] = value } }
}

/// A set of strings behind a lock.
final class LockedSet: @unchecked Sendable {
    private var items: Set<String> = []
    private let lock = NSLock()
    func contains(_ item: String) -> Bool { lock.withLock { items.contains(item) } }
    func insert(_ item: String) { _ = lock.withLock { items.insert(item) } }
}
