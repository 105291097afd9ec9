import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
@testable import Server
import ServiceLifecycle
import Testing
import TestSupport

/// One throwaway PostgreSQL cluster for the queue tests (each test gets a database of its own), removed
/// when the test process exits.
enum QueueCluster {
    static let shared: Result<PostgresCluster, any Error> = {
        let result = Result { try PostgresCluster() }
        atexit {
            if case .success(let cluster) = QueueCluster.shared { cluster.remove() }
        }
        return result
    }()

    static var cluster: PostgresCluster { get throws { try shared.get() } }

    /// A new empty database on the shared cluster (started on first use, off the cooperative pool).
    static func database() async throws -> QueueAddress {
        try await offPool {
            let cluster = try cluster
            if !cluster.isRunning { try cluster.start() }   // a test that stopped it failed before starting it again
            let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
            _ = try cluster.sql("CREATE DATABASE \(name)")
            return try QueueAddress("postgres://postgres@127.0.0.1:\(cluster.port)/\(name)")
        }
    }

    /// SQL through psql, off the cooperative pool.
    static func sql(_ statement: String, in address: QueueAddress) async throws -> String {
        try await offPool { try cluster.sql(statement, database: address.database) }
    }

    /// Ends the lease of job `id` now, as if its worker had stopped renewing it long ago (no sleeping, so a
    /// loaded machine cannot make a lease run out early or late).
    static func expireLease(_ id: String, in address: QueueAddress) async throws {
        _ = try await sql("UPDATE lipsync_jobs SET lease_expires = clock_timestamp() - interval '1 second' WHERE id = '\(id)'", in: address)
    }

    /// A queue client. The operation timeout is generous: when the whole suite runs, tests that block the
    /// cooperative pool can hold up these for a long time, and a timeout would then read as an outage.
    static func queue(_ address: QueueAddress, lease: Int = 60, maxAttempts: Int = 3, timeout: Duration = .seconds(120),
                      syncWait: Duration = .seconds(600)) -> JobQueue {
        var settings = QueueSettings()
        settings.syncWaitLimit = syncWait
        settings.lease = .seconds(lease)
        settings.maxAttempts = maxAttempts
        settings.operationTimeout = timeout
        var logger = Logger(label: "queue-test")
        logger.logLevel = .warning
        return JobQueue(address: address, settings: settings, logger: logger)
    }
}

/// Runs `body` while `services` run (the connection pools, listeners, workers), then shuts them down.
func whileRunning<T: Sendable>(_ services: [any Service], _ body: @Sendable () async throws -> T) async throws -> T {
    var logger = Logger(label: "queue-test")
    logger.logLevel = .warning
    let group = ServiceGroup(configuration: .init(services: services, logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        do {
            let result = try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            try? await tasks.waitForAll()
            throw error
        }
    }
}

/// The job queue against a real PostgreSQL: claims, leases, complete-once, bounded attempts, migrations,
/// and an API node (the router over the fake backend) with a worker, including the database going away.
/// Serialized: the last test stops and restarts the shared cluster.
@Suite(.serialized) struct QueueTests {
    static let request = GenerateRequest(text: "Привет!", language: "ru")

    @Test func migrationsAreVersionedAndRunOnceEvenWhenProcessesStartTogether() async throws {
        let address = try await QueueCluster.database()
        let queues = (0..<3).map { _ in QueueCluster.queue(address) }
        try await whileRunning(queues.map(\.service)) {
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for queue in queues { group.addTask { try await queue.migrate(patience: .seconds(600)) } }
                return try await group.reduce(into: [[Int]]()) { $0.append($1) }
            }
            #expect(applied.filter { !$0.isEmpty } == [[QueueSchema.latestVersion]], "\(applied)")
            #expect(try await queues[0].migrate(patience: .seconds(600)).isEmpty)
            #expect(try await queues[1].schemaVersion() == QueueSchema.latestVersion)
        }
        #expect(try await QueueCluster.sql("SELECT count(*) FROM lipsync_schema", in: address) == "\(QueueSchema.latestVersion)")
    }

    @Test func concurrentClaimsSkipLockedJobsSoNoJobIsTakenTwice() async throws {
        let address = try await QueueCluster.database()
        let queue = QueueCluster.queue(address)
        try await whileRunning([queue.service]) {
            try await queue.migrate(patience: .seconds(600))
            let avatar = try await queue.publishAvatar(Repository.root.appendingPathComponent(".cache/assets/astronaut.png"))
            let ids = (0..<40).map { _ in UUID().uuidString.lowercased() }
            for id in ids { try await queue.enqueue(id: id, mode: .regular, request: Self.request, avatarSHA256: avatar) }
            // Four workers claim and complete until the queue is empty.
            let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        var mine: [String] = []
                        while let job = try await queue.claim(worker: "w\(worker)") {
                            mine.append(job.id)
                            #expect(job.attempt == 1 && job.request == Self.request && job.avatarSHA256 == avatar)
                            #expect(try await queue.complete(job, summary: Self.summary(job), video: Data("video \(job.id)".utf8)))
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            #expect(claimed.count == ids.count && Set(claimed) == Set(ids), "\(claimed.count) claims of \(Set(claimed).count) jobs")
            for id in ids.prefix(5) {
                #expect(try await queue.job(id)?.state == .done)
                #expect(try await queue.video(id) == Data("video \(id)".utf8))
            }
        }
    }

    static func summary(_ job: ClaimedJob) -> GenerationSummary {
        var summary = GenerationSummary(id: job.id, mode: job.mode,
                                        outcome: RenderOutcome(frames: 10, fps: 25, duration: 0.4, engine: "viseme", avatarCached: true, timings: TimingsDTO()),
                                        bytes: 5)
        summary.worker = job.worker
        return summary
    }

    @Test func anExpiredLeaseHandsTheJobOverAndOnlyTheCurrentClaimCompletesIt() async throws {
        let address = try await QueueCluster.database()
        let queue = QueueCluster.queue(address)
        try await whileRunning([queue.service]) {
            try await queue.migrate(patience: .seconds(600))
            let id = UUID().uuidString.lowercased()
            try await queue.enqueue(id: id, mode: .parallel, request: Self.request, avatarSHA256: "0")
            let first = try #require(try await queue.claim(worker: "a"))
            #expect(first.id == id && first.attempt == 1 && first.mode == .parallel)
            // Held: nobody else gets it while the lease runs, and a heartbeat renews it.
            #expect(try await queue.claim(worker: "b") == nil)
            #expect(try await queue.heartbeat(first))
            #expect(try await queue.progress(first, stage: "rendering", framesDone: 3, framesTotal: 10))
            #expect(try await queue.job(id)?.framesDone == 3)
            // "a" stops renewing (as if killed): once the lease is over, "b" takes it as attempt 2.
            try await QueueCluster.expireLease(id, in: address)
            let second = try #require(try await queue.claim(worker: "b"))
            #expect(second.id == id && second.attempt == 2)
            // "a" wakes up: its heartbeat, progress and result are refused.
            #expect(try await queue.heartbeat(first) == false)
            #expect(try await queue.progress(first, stage: "rendering", framesDone: 9, framesTotal: 10) == false)
            // Both finish at once: exactly one result is stored, the current claim's.
            async let late = queue.complete(first, summary: Self.summary(first), video: Data("from a".utf8))
            async let current = queue.complete(second, summary: Self.summary(second), video: Data("from b".utf8))
            let (lateTaken, currentTaken) = try await (late, current)
            #expect(!lateTaken && currentTaken)
            #expect(try await queue.complete(second, summary: Self.summary(second), video: Data("again".utf8)) == false)
            let job = try #require(try await queue.job(id))
            #expect(job.state == .done && job.worker == "b" && job.summary?.worker == "b" && job.attempt == 2)
            #expect(try await queue.video(id) == Data("from b".utf8))
            let events = try await queue.events(id).map { "\($0.event):\($0.worker ?? "-"):\($0.attempt)" }
            #expect(events == ["claimed:a:1", "claimed:b:2", "completed:b:2"])
        }
    }

    @Test func attemptsAreBoundedAndFailuresKeepTheirReasonAndStatus() async throws {
        let address = try await QueueCluster.database()
        let queue = QueueCluster.queue(address, maxAttempts: 2)
        try await whileRunning([queue.service]) {
            try await queue.migrate(patience: .seconds(600))
            // Abandoned twice (workers dying): failed with the reason once the attempts are spent.
            let abandoned = UUID().uuidString.lowercased()
            try await queue.enqueue(id: abandoned, mode: .regular, request: Self.request, avatarSHA256: "0")
            _ = try #require(try await queue.claim(worker: "a"))
            #expect(try await queue.failAbandoned().isEmpty)   // the lease runs: nothing to do
            try await QueueCluster.expireLease(abandoned, in: address)
            #expect(try await queue.failAbandoned().isEmpty)   // attempts left: it is claimable again
            let again = try #require(try await queue.claim(worker: "b"))
            #expect(again.attempt == 2)
            try await QueueCluster.expireLease(abandoned, in: address)
            #expect(try await queue.claim(worker: "c") == nil)
            #expect(try await queue.failAbandoned() == [abandoned])
            let failed = try #require(try await queue.job(abandoned))
            #expect(failed.state == .failed && failed.errorStatus == 500 && (failed.error ?? "").contains("abandoned by its worker 2 times"), "\(failed)")

            // A server-side failure is retried while attempts last, then fails with its message.
            let flaky = UUID().uuidString.lowercased()
            try await queue.enqueue(id: flaky, mode: .regular, request: Self.request, avatarSHA256: "0")
            let one = try #require(try await queue.claim(worker: "a"))
            #expect(try await queue.fail(one, message: "internal error", status: 500, retry: true) == .queued)
            let two = try #require(try await queue.claim(worker: "b"))
            #expect(two.id == flaky && two.attempt == 2)
            #expect(try await queue.fail(two, message: "internal error", status: 500, retry: true) == .failed)
            #expect(try await queue.fail(two, message: "again", status: 500, retry: true) == nil)

            // A client error is final at once, with its status.
            let bad = UUID().uuidString.lowercased()
            try await queue.enqueue(id: bad, mode: .regular, request: Self.request, avatarSHA256: "0")
            let claim = try #require(try await queue.claim(worker: "a"))
            #expect(try await queue.fail(claim, message: "no face found", status: 422, retry: false) == .failed)
            let job = try #require(try await queue.job(bad))
            #expect(job.state == .failed && job.errorStatus == 422 && job.error == "no face found" && job.attempt == 1)
        }
    }

    /// An API node (the real router and service in queue mode, over the fake backend) and a worker.
    final class Node: @unchecked Sendable {
        let dir: URL
        let service: GenerationService<FakeBackend>
        let worker: QueueWorker<FakeBackend>
        let queue: JobQueue

        init(address: QueueAddress, maxQueue: Int = 64, timeout: Duration = .seconds(120), syncWait: Duration = .seconds(600)) throws {
            dir = try Repository.temporaryDirectory("lipsync-queue-node")
            var configuration = ServerConfiguration.defaults(projectRoot: dir)
            configuration.dataDirectory = dir.appendingPathComponent("data")
            configuration.defaultAvatar = Repository.root.appendingPathComponent(".cache/assets/astronaut.png")
            configuration.maxQueuedJobs = maxQueue
            var logger = Logger(label: "queue-node")
            logger.logLevel = .warning
            queue = QueueCluster.queue(address, timeout: timeout, syncWait: syncWait)
            service = GenerationService(backend: FakeBackend(), configuration: configuration, data: try DataDirectory(root: configuration.dataDirectory),
                                        logger: logger, queue: queue)
            let workerQueue = QueueCluster.queue(address, timeout: timeout)
            worker = QueueWorker(queue: workerQueue, backend: FakeBackend(), name: "worker-1", avatarDirectory: dir.appendingPathComponent("worker-avatars"),
                                 idlePoll: .milliseconds(500), logger: logger)
        }

        var services: [any Service] { service.services + worker.services }
        var app: some ApplicationProtocol { Application(router: buildRouter(service: service)) }
        func close() { try? FileManager.default.removeItem(at: dir) }
    }

    @Test func anAPINodeEnqueuesChecksInputFirstAndAWorkerRendersWhatItServes() async throws {
        let address = try await QueueCluster.database()
        let node = try Node(address: address)
        defer { node.close() }
        try await whileRunning(node.services) {
            try await node.queue.migrate(patience: .seconds(600))   // (the application does this before it listens)
            try await node.app.test(.router) { client in
                let body = ByteBuffer(string: #"{"text": "Привет!", "language": "ru"}"#)
                try await client.execute(uri: "/api/generate", method: .post, headers: Harness.post, body: body) { response in
                    #expect(response.status == .ok)
                    #expect(response.headers[.contentType] == "video/mp4")
                    #expect(String(buffer: response.body).contains("ftyp"))
                }
                let summary = try await client.execute(uri: "/api/generate_parallel", method: .post, headers: Harness.postJSON, body: body) { response in
                    #expect(response.status == .ok)
                    return try Harness.json(response.body)
                }
                #expect(summary["worker"] as? String == "worker-1" && summary["mode"] as? String == "parallel", "\(summary)")
                // Bad input: the same 4xx as in-process mode, and nothing enqueued.
                let before = try await QueueCluster.sql("SELECT count(*) FROM lipsync_jobs", in: address)
                for (bad, status) in [(#"{"text": "hi", "language": "xx"}"#, HTTPResponse.Status.badRequest), (#"{"language": "ru"}"#, .badRequest),
                                      (#"{"text": "hi", "avatar": "nobody"}"#, .badRequest), (#"{"text": "#, .badRequest)] {
                    try await client.execute(uri: "/api/jobs", method: .post, headers: Harness.post, body: ByteBuffer(string: bad)) { response in
                        #expect(response.status == status, "\(bad)")
                        #expect((try? Harness.json(response.body))?["error"] is String)
                    }
                }
                #expect(try await QueueCluster.sql("SELECT count(*) FROM lipsync_jobs", in: address) == before)
                // A failure on the worker: the status the same request gets in-process, sync and as a job.
                let faceless = ByteBuffer(string: #"{"text": "faceless"}"#)
                try await client.execute(uri: "/api/generate", method: .post, headers: Harness.post, body: faceless) { response in
                    #expect(response.status == .unprocessableContent)
                }
                // A job: 202, followed to done, its worker shown; its video served by any node (from the database).
                let created = try await client.execute(uri: "/api/jobs", method: .post, headers: Harness.post, body: body) { response in
                    #expect(response.status == .accepted)
                    return try Harness.json(response.body)
                }
                let id = try #require(created["id"] as? String)
                // Read back after the insert: an idle worker may have claimed it already.
                #expect(["queued", "running", "done"].contains(created["state"] as? String ?? "") && created.keys.contains("worker")
                        && created.keys.contains("attempts"), "\(created)")
                var job: [String: Any] = [:]
                let deadline = ContinuousClock.now + .seconds(180)
                while ContinuousClock.now < deadline {
                    job = try await client.execute(uri: "/api/jobs/\(id)", method: .get) { try Harness.json($0.body) }
                    if job["state"] as? String == "done" { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(job["state"] as? String == "done" && job["worker"] as? String == "worker-1" && job["attempts"] as? Int == 1, "\(job)")
                // A job's video is not on the API node until asked for: then it comes from the queue.
                #expect(!FileManager.default.fileExists(atPath: node.service.videos.destination(for: id).path))
                try await client.execute(uri: "/api/videos/\(id)", method: .get) { response in
                    #expect(response.status == .ok && String(buffer: response.body).contains("ftyp"))
                }
                #expect(FileManager.default.fileExists(atPath: node.service.videos.destination(for: id).path))
                try await client.execute(uri: "/api/generate_stream", method: .post, headers: Harness.post, body: body) { response in
                    #expect(response.status == .notImplemented)
                    #expect(((try? Harness.json(response.body))?["error"] as? String ?? "").contains("queue"))
                }
                // Uploaded avatars are shared through the database: listed, and usable by a job.
                let png = try Data(contentsOf: Repository.root.appendingPathComponent(".cache/assets/astronaut.png"))
                let upload = try await client.execute(uri: "/api/avatars?name=me.png", method: .post, headers: [.contentType: "image/png"],
                                                      body: ByteBuffer(bytes: png)) { try Harness.json($0.body) }
                let avatar = try #require(upload["id"] as? String)
                #expect(try await QueueCluster.sql("SELECT count(*) FROM lipsync_uploads WHERE id = '\(avatar)'", in: address) == "1")
                try await client.execute(uri: "/api/generate", method: .post, headers: Harness.post,
                                         body: ByteBuffer(string: #"{"text": "Привет!", "avatar": "\#(avatar)"}"#)) { response in
                    #expect(response.status == .ok)
                }
            }
        }
    }

    @Test func withNoWorkerASynchronousRequestGets504InTimeAndAFullQueue429() async throws {
        let address = try await QueueCluster.database()
        let node = try Node(address: address, maxQueue: 2, syncWait: .seconds(1))
        defer { node.close() }
        // The API node only: nobody renders.
        try await whileRunning(node.service.services) {
            try await node.queue.migrate(patience: .seconds(600))
            try await node.app.test(.router) { client in
                let body = ByteBuffer(string: #"{"text": "Привет!", "language": "ru"}"#)
                let message = try await client.execute(uri: "/api/generate", method: .post, headers: Harness.post, body: body) { response in
                    #expect(response.status == .gatewayTimeout)
                    return (try? Harness.json(response.body))?["error"] as? String ?? ""
                }
                let id = try #require(message.split(separator: "/").last.map(String.init), "\(message)")
                #expect(try await node.queue.job(id)?.state == .queued, "\(message)")
                // Two jobs wait (--max-queue 2): the next is refused with 429, and nothing is created.
                try await client.execute(uri: "/api/jobs", method: .post, headers: Harness.post, body: body) { #expect($0.status == .accepted) }
                try await client.execute(uri: "/api/jobs", method: .post, headers: Harness.post, body: body) { response in
                    #expect(response.status == .tooManyRequests)
                    #expect(response.headers[.retryAfter] == "5")
                }
                #expect(try await QueueCluster.sql("SELECT count(*) FROM lipsync_jobs", in: address) == "2")
            }
        }
    }

    @Test func theDatabaseGoingAwayGives503WithRetryAfterAndServiceResumesWhenItIsBack() async throws {
        let address = try await QueueCluster.database()
        // The real outage timeout here (3 s): the answers while the database is away are what is tested.
        let node = try Node(address: address, timeout: .seconds(3))
        defer { node.close() }
        let cluster = try QueueCluster.cluster
        try await whileRunning(node.services) {
            try await node.queue.migrate(patience: .seconds(600))
            try await node.app.test(.router) { client in
                let body = ByteBuffer(string: #"{"text": "Привет!", "language": "ru"}"#)
                let id = try await client.execute(uri: "/api/jobs", method: .post, headers: Harness.post, body: body) { response in
                    #expect(response.status == .accepted)
                    return try Harness.json(response.body)["id"] as? String ?? ""
                }
                try await offPool { cluster.stop() }
                for (method, uri) in [(HTTPRequest.Method.post, "/api/jobs"), (.post, "/api/generate"), (.get, "/api/jobs/\(id)")] {
                    try await client.execute(uri: uri, method: method, headers: Harness.post, body: method == .post ? body : nil) { response in
                        #expect(response.status == .serviceUnavailable, "\(method) \(uri)")
                        #expect(response.headers[.retryAfter] == "5")
                        #expect(((try? Harness.json(response.body))?["error"] as? String ?? "").contains("unavailable"))
                    }
                }
                try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
                try await offPool { try cluster.start() }
                // Back: the pool reconnects, the worker resumes, the first job is still there.
                var status = HTTPResponse.Status.serviceUnavailable
                let deadline = ContinuousClock.now + .seconds(180)
                while status != .ok && ContinuousClock.now < deadline {
                    status = try await client.execute(uri: "/api/generate", method: .post, headers: Harness.post, body: body) { $0.status }
                    if status != .ok { try await Task.sleep(for: .milliseconds(200)) }
                }
                #expect(status == .ok)
                var state = ""
                while state != "done" && ContinuousClock.now < deadline {
                    state = try await client.execute(uri: "/api/jobs/\(id)", method: .get) { try Harness.json($0.body)["state"] as? String ?? "" }
                    if state != "done" { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(state == "done")
            }
        }
    }
}
