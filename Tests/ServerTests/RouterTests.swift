import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
@testable import Server
import Testing
import TestSupport

/// A service over the fake backend, in its own data directory, with its job runner running.
final class Harness: @unchecked Sendable {
    let dir: URL
    let backend: FakeBackend
    let data: DataDirectory
    let service: GenerationService<FakeBackend>
    private var runnerTask: Task<Void, Never>?

    init(maxJobs: Int = 1, maxQueue: Int = 4, maxUploadMB: Int = 1, maxCharacters: Int = 200) throws {
        dir = try Repository.temporaryDirectory("lipsync-router")
        backend = FakeBackend(maxCharacters: maxCharacters)
        var configuration = ServerConfiguration.defaults(projectRoot: dir)
        configuration.dataDirectory = dir.appendingPathComponent("data")
        configuration.maxConcurrentJobs = maxJobs
        configuration.maxQueuedJobs = maxQueue
        configuration.maxUploadBytes = maxUploadMB * 1024 * 1024
        data = try DataDirectory(root: configuration.dataDirectory)
        service = GenerationService(backend: backend, configuration: configuration, data: data, logger: Logger(label: "test"))
        let runner = service.runner
        runnerTask = Task { try? await runner.run() }
    }

    var app: some ApplicationProtocol { Application(router: buildRouter(service: service)) }

    func close() {
        backend.gate.open()
        runnerTask?.cancel()
        try? FileManager.default.removeItem(at: dir)
    }

    static func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any] ?? [:]
    }

    static let post: HTTPFields = [.contentType: "application/json"]
    static let postJSON: HTTPFields = [.contentType: "application/json", .accept: "application/json"]
}

/// Every route through the router, over the fake backend: no espeak, OpenVINO or ffmpeg involved.
@Suite struct RouterTests {
    @Test func generateAnswersTheVideoWithHeadersOrASnakeCaseSummary() async throws {
        let harness = try Harness()
        defer { harness.close() }
        try await harness.app.test(.router) { client in
            let body = ByteBuffer(string: #"{"text": "Привет!", "language": "ru"}"#)
            try await client.execute(uri: "/api/generate", method: .post, headers: Harness.post, body: body) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "video/mp4")
                #expect(response.headers[.contentLength] == String(response.body.readableBytes))
                #expect(response.headers[HTTPField.Name("X-Engine")!] == "viseme")
                #expect(response.headers[HTTPField.Name("X-Timing-Total")!] == "0.010")
                #expect(String(buffer: response.body).contains("ftyp"))
            }
            let summary = try await client.execute(uri: "/api/generate_parallel", method: .post, headers: Harness.postJSON, body: body) { response in
                #expect(response.status == .ok)
                return try Harness.json(response.body)
            }
            // snake_case throughout, every documented field present (null when empty).
            #expect(Set(summary.keys) == ["id", "mode", "video_url", "frames", "fps", "duration", "engine", "precision", "voice", "avatar_cached", "timings", "parallel", "bytes", "worker"])
            let parallel = try #require(summary["parallel"] as? [String: Any])
            #expect(parallel["fallback_reason"] as? String == "too short" && parallel["planning"] != nil)
            #expect(((parallel["chunks"] as? [[String: Any]])?.first?.keys).map(Set.init) == ["index", "worker", "model", "first_frame", "frames", "start", "end"])
            let url = try #require(summary["video_url"] as? String)
            try await client.execute(uri: url, method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "video/mp4")
            }
        }
    }

    @Test func aStreamIsCheckedAndAdmittedBeforeItsFirstByte() async throws {
        let harness = try Harness(maxJobs: 1, maxQueue: 0)
        defer { harness.close() }
        try await harness.app.test(.router) { client in
            let body = ByteBuffer(string: #"{"text": "Hello", "language": "en", "mode": "parallel"}"#)
            try await client.execute(uri: "/api/generate_stream", method: .post, headers: Harness.post, body: body) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "video/mp4")
                #expect(String(buffer: response.body) == "....ftypisom fake video")
            }
            for (bad, message) in [(#"{"text": "hi", "mode": "fast"}"#, "unknown mode 'fast'"), (#"{"text": ""}"#, "text is empty")] {
                try await client.execute(uri: "/api/generate_stream", method: .post, headers: Harness.post, body: ByteBuffer(string: bad)) { response in
                    #expect(response.status == .badRequest)
                    let error = try Harness.json(response.body)["error"] as? String
                    #expect(error?.contains(message) == true, "\(error ?? "")")
                }
            }
            // A job holds the only slot: a stream is refused with 429 before anything is sent.
            harness.backend.gate.close()
            try await client.execute(uri: "/api/jobs", method: .post, headers: Harness.post, body: body) { #expect($0.status == .accepted) }
            try await client.execute(uri: "/api/generate_stream", method: .post, headers: Harness.post, body: body) { response in
                #expect(response.status == .tooManyRequests && response.headers[.contentType]?.hasPrefix("application/json") == true)
            }
            harness.backend.gate.open()
        }
    }

    @Test func badInputIsA4xxWithAClearJSONErrorAndTheServerKeepsServing() async throws {
        let harness = try Harness(maxCharacters: 50)
        defer { harness.close() }
        let cases: [(String, HTTPResponse.Status, String)] = [
            ("{not json", .badRequest, "the body is not valid JSON"),
            (#"["text"]"#, .badRequest, "must be a JSON object"),
            ("", .badRequest, "malformed JSON"),
            (#"{"language": "ru"}"#, .badRequest, "missing 'text'"),
            (#"{"text": "   ", "language": "ru"}"#, .badRequest, "text is empty"),
            (#"{"text": "\#(String(repeating: "a", count: 51))"}"#, .badRequest, "limit is 50"),
            (#"{"text": "hi", "language": "xx"}"#, .badRequest, "unknown language 'xx'"),
            (#"{"text": "hi", "engine": "magic"}"#, .badRequest, "unknown engine 'magic'"),
            (#"{"text": "hi", "avatar": "../../etc/passwd"}"#, .badRequest, "unknown avatar '../../etc/passwd'"),
            (#"{"text": "hi", "assign": "diagonal"}"#, .badRequest, "unknown assign 'diagonal'"),
            (#"{"text": "hi", "chunks": 99}"#, .badRequest, "'chunks' must be"),
            (#"{"text": "hi", "chunks": 1e300}"#, .badRequest, "'chunks' has the wrong type or is out of range"),
            (#"{"text": "hi", "rate": 99999999999999999999999}"#, .badRequest, "'rate' has the wrong type"),
            (#"{"text": "hi", "rate": 5}"#, .badRequest, "rate 5"),
            (#"{"text": 5}"#, .badRequest, "'text' has the wrong type"),
            (#"{"text": ["a"]}"#, .badRequest, "'text' has the wrong type"),
            (String(repeating: "[", count: 5_000), .badRequest, "malformed JSON"),
            (#"{"text": "faceless"}"#, .unprocessableContent, "no face found"),
            (#"{"text": "explode"}"#, .internalServerError, "internal error"),
        ]
        try await harness.app.test(.router) { client in
            for (body, status, message) in cases {
                try await client.execute(uri: "/api/generate", method: .post, headers: Harness.post, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == status, "\(body.prefix(60))")
                    #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                    let error = try Harness.json(response.body)["error"] as? String
                    #expect(error?.contains(message) == true, "\(body.prefix(60)): \(error ?? "no error field")")
                    #expect(error?.contains("/secret") != true, "internal details stay in the log")
                }
            }
            // Invalid UTF-8 in the body.
            try await client.execute(uri: "/api/generate", method: .post, headers: Harness.post,
                                     body: ByteBuffer(bytes: Array(#"{"text": ""#.utf8) + [0xFF, 0xFE, 0x80] + Array(#""}"#.utf8))) { response in
                #expect(response.status == .badRequest)
            }
            // A body over the JSON limit: 413, not read to the end.
            try await client.execute(uri: "/api/generate", method: .post, headers: Harness.post,
                                     body: ByteBuffer(string: #"{"text": ""# + String(repeating: "x", count: 300_000) + #""}"#)) { response in
                #expect(response.status == .contentTooLarge)
            }
            try await client.execute(uri: "/api/jobs/nope", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/videos/../../etc/passwd", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/videos/%2e%2e%2fetc%2fpasswd", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
                let body = try Harness.json(response.body)
                #expect(body["error"] as? String == "no route GET /api/nothing-here")
            }
            try await client.execute(uri: "/api/generate", method: .get) { #expect($0.status.code >= 400 && $0.status.code < 500) }
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func aJobFailsWithTheSameStatusAndMessageAsTheSynchronousRequest() async throws {
        let harness = try Harness()
        defer { harness.close() }
        try await harness.app.test(.router) { client in
            for (text, status) in [("faceless", 422), ("explode", 500)] {
                let body = ByteBuffer(string: #"{"text": "\#(text)"}"#)
                let sync = try await client.execute(uri: "/api/generate", method: .post, headers: Harness.post, body: body) { response in
                    #expect(Int(response.status.code) == status)
                    return try Harness.json(response.body)["error"] as? String
                }
                let id = try await client.execute(uri: "/api/jobs", method: .post, headers: Harness.post, body: body) { response in
                    #expect(response.status == .accepted)
                    return try Harness.json(response.body)["id"] as? String
                }
                let job = try await Self.waitForJob(try #require(id), client: client)
                #expect(job["state"] as? String == "failed")
                #expect(job["error_status"] as? Int == status)
                #expect(job["error"] as? String == sync)
            }
            // Bad input is refused before a job exists: 400, as on /api/generate.
            try await client.execute(uri: "/api/jobs", method: .post, headers: Harness.post, body: ByteBuffer(string: #"{"text": "hi", "mode": "fast"}"#)) { response in
                #expect(response.status == .badRequest)
                let body = try Harness.json(response.body)
                #expect(body["error"] as? String == "unknown mode 'fast'; choose regular or parallel")
            }
        }
    }

    static func waitForJob(_ id: String, client: some TestClientProtocol) async throws -> [String: Any] {
        for _ in 0..<500 {
            let job = try await client.execute(uri: "/api/jobs/\(id)", method: .get) { try Harness.json($0.body) }
            if ["done", "failed"].contains(job["state"] as? String) { return job }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("job \(id) did not finish")
        return [:]
    }

    @Test func aFullServerAnswers429AndLeavesNothingBehind() async throws {
        let harness = try Harness(maxJobs: 1, maxQueue: 1)
        defer { harness.close() }
        harness.backend.gate.close()
        try await harness.app.test(.router) { client in
            let body = ByteBuffer(string: #"{"text": "hello", "language": "en", "mode": "parallel"}"#)
            var ids: [String] = []
            for _ in 0..<2 {   // one runs (held at the gate), one waits
                let id = try await client.execute(uri: "/api/jobs", method: .post, headers: Harness.post, body: body) { response in
                    #expect(response.status == .accepted)
                    return try Harness.json(response.body)["id"] as? String
                }
                ids.append(try #require(id))
            }
            let first = try await client.execute(uri: "/api/jobs/\(ids[0])", method: .get) { try Harness.json($0.body) }
            #expect(first["state"] as? String == "running" && first["frames_done"] as? Int == 3 && first["frames_total"] as? Int == 10)
            try await client.execute(uri: "/health", method: .get) { response in
                let health = try Harness.json(response.body)
                #expect(health["running"] as? Int == 1 && health["queued"] as? Int == 1)
            }
            let videosBefore = try FileManager.default.contentsOfDirectory(atPath: harness.data.videos.path)
            for uri in ["/api/jobs", "/api/generate", "/api/generate_parallel"] {
                try await client.execute(uri: uri, method: .post, headers: Harness.post, body: body) { response in
                    #expect(response.status == .tooManyRequests)
                    #expect(response.headers[.retryAfter] == "5")
                }
            }
            // The refusals created no job and no file, and took no place in line.
            #expect(try FileManager.default.contentsOfDirectory(atPath: harness.data.videos.path) == videosBefore)
            #expect(harness.service.limiter.queued == 1 && harness.service.limiter.running == 1)
            harness.backend.gate.open()
            for id in ids {
                let job = try await Self.waitForJob(id, client: client)
                #expect(job["state"] as? String == "done")
                let result = try #require(job["result"] as? [String: Any])
                #expect(result["mode"] as? String == "parallel")
            }
            #expect(harness.service.limiter.queued == 0 && harness.service.limiter.running == 0)
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"lipsync_generations_total{mode="parallel",outcome="rejected"} 2"#))
                #expect(text.contains(#"lipsync_generations_total{mode="regular",outcome="rejected"} 1"#))
                #expect(text.contains(#"lipsync_generations_total{mode="parallel",outcome="ok"} 2"#))
            }
        }
    }

    @Test func infoEndpointsAndMetrics() async throws {
        let harness = try Harness()
        defer { harness.close() }
        try await harness.app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                let body = try Harness.json(response.body)
                #expect(body as NSDictionary == ["status": "ok", "running": 0, "queued": 0] as NSDictionary)
            }
            try await client.execute(uri: "/api/models", method: .get) { response in
                let body = try Harness.json(response.body)
                #expect((body["models"] as? [[String: Any]])?.first?["name"] as? String == "viseme")
                #expect((body["failures"] as? [[String: Any]])?.first?["name"] as? String == "wav2lip_gan")
            }
            try await client.execute(uri: "/api/voices", method: .get) { response in
                let body = try Harness.json(response.body)
                #expect(body["default_language"] as? String == "ru")
            }
            try await client.execute(uri: "/parallel_test", method: .get) { response in
                #expect(response.status == .ok && String(buffer: response.body).contains("/api/jobs"))
            }
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .seeOther && response.headers[.location] == "/parallel_test")
            }
            for path in ["/random/\(UUID())", "/x/\(UUID())"] {
                try await client.execute(uri: path, method: .get) { #expect($0.status == .notFound) }
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"lipsync_http_requests_total{route="/health",status="200"} 1"#))
                // Unmatched paths share one label: odd paths cannot grow the metrics.
                #expect(text.contains(#"lipsync_http_requests_total{route="NotFound",status="404"} 2"#))
                #expect(text.contains("lipsync_jobs_queued 0") && text.contains("lipsync_frames_generated_total"))
            }
        }
    }

    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteAnswers() async throws {
        let harness = try Harness()
        defer { harness.close() }
        let document = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.json().utf8)) as? [String: Any])
        #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        // "METHOD /path" -> the status codes documented for it.
        var statusesOf: [String: Set<String>] = [:]
        for (path, operations) in paths {
            for (method, operation) in operations where ["get", "post", "put", "delete", "patch"].contains(method) {
                statusesOf["\(method.uppercased()) \(path)"] = Set(((operation as? [String: Any])?["responses"] as? [String: Any])?.keys ?? [:].keys)
            }
        }
        let documented = Set(statusesOf.keys)
        let documentedStatuses = statusesOf
        let router = buildRouter(service: harness.service)
        // Hummingbird writes captures as ":id"; OpenAPI as "{id}".
        let routed = Set(router.routes.map { route in
            "\(route.method) " + route.path.description.split(separator: "/", omittingEmptySubsequences: false)
                .map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")
        })
        #expect(routed == documented, "routed but undocumented: \(routed.subtracting(documented)); documented but not routed: \(documented.subtracting(routed))")
        try await harness.app.test(.router) { client in
            for entry in documented.sorted() {
                let parts = entry.split(separator: " ", maxSplits: 1)
                let uri = String(parts[1]).replacingOccurrences(of: "{id}", with: UUID().uuidString.lowercased())
                let body = parts[0] == "POST" ? ByteBuffer(string: #"{"text": "hi"}"#) : nil
                try await client.execute(uri: uri, method: HTTPRequest.Method(String(parts[0]))!, headers: Harness.post, body: body) { response in
                    // Answers as documented: a documented status code (a made-up id is a documented 404).
                    let statuses = documentedStatuses[entry] ?? []
                    #expect(statuses.contains(String(response.status.code)), "\(entry) answered \(response.status.code), documented \(statuses.sorted())")
                    #expect(response.status != .methodNotAllowed)
                }
            }
        }
    }

    @Test func avatarUploadsAreStreamedCheckedAndPublishedOnlyWhenUsable() async throws {
        let harness = try Harness(maxUploadMB: 1)
        defer { harness.close() }
        let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + Data(repeating: 7, count: 1000)
        try await harness.app.test(.router) { client in
            let id = try await client.execute(uri: "/api/avatars?name=me.png", method: .post, headers: [.contentType: "image/png"],
                                              body: ByteBuffer(bytes: png)) { response in
                #expect(response.status == .created)
                let body = try Harness.json(response.body)
                #expect(body["faces"] as? Int == 1 && (body["box"] as? [String: Any])?["width"] as? Int == 48)
                return body["id"] as? String
            }
            let avatar = try #require(id)
            try await client.execute(uri: "/api/avatars", method: .get) { response in
                let body = try Harness.json(response.body)
                let ids = (body["avatars"] as? [[String: Any]])?.compactMap { $0["id"] as? String }
                #expect(ids == ["default", avatar])
            }
            try await client.execute(uri: "/api/generate", method: .post, headers: Harness.post,
                                     body: ByteBuffer(string: #"{"text": "Hello.", "language": "en", "avatar": "\#(avatar)"}"#)) {
                #expect($0.status == .ok)
            }
            // Too large (declared, and streamed without a length): 413. Not a picture: 422. Empty: 400. No type: 415.
            let big = ByteBuffer(bytes: [UInt8](repeating: 1, count: 1024 * 1024 + 1))
            try await client.execute(uri: "/api/avatars?name=big.png", method: .post, headers: [.contentType: "image/png"], body: big) {
                #expect($0.status == .contentTooLarge)
            }
            try await client.execute(uri: "/api/avatars?name=x.png", method: .post, headers: [.contentType: "image/png"],
                                     body: ByteBuffer(string: "not a picture")) { response in
                #expect(response.status == .unprocessableContent)
                let error = try Harness.json(response.body)["error"] as? String ?? ""
                #expect(error.hasPrefix("the upload is not a usable avatar: cannot read") && error.hasSuffix("not a media file"), "\(error)")
            }
            try await client.execute(uri: "/api/avatars?name=x.png", method: .post, headers: [.contentType: "image/png"], body: ByteBuffer()) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: "/api/avatars", method: .post, body: ByteBuffer(string: "x")) { #expect($0.status == .unsupportedMediaType) }
            try await client.execute(uri: "/api/avatars?name=../../evil.png", method: .post, headers: [.contentType: "image/png"],
                                     body: ByteBuffer(bytes: png)) { response in
                // The name only gives the type: the file is stored under a new id, inside the uploads folder.
                #expect(response.status == .created)
                let body = try Harness.json(response.body)
                #expect((body["id"] as? String)?.hasPrefix("avatar-") == true)
            }
        }
        // Rejected uploads left nothing: only the two accepted files are in the folder.
        let files = try FileManager.default.contentsOfDirectory(atPath: harness.data.uploads.path)
        #expect(files.count == 2 && files.allSatisfy { $0.hasPrefix("avatar-") && $0.hasSuffix(".png") }, "\(files)")
    }

    @Test func whileShuttingDownNewWorkGets503AndHealthSaysDraining() async throws {
        let harness = try Harness()
        defer { harness.close() }
        harness.service.runner.stopAccepting()
        try await harness.app.test(.router) { client in
            for uri in ["/api/generate", "/api/jobs"] {
                try await client.execute(uri: uri, method: .post, headers: Harness.post, body: ByteBuffer(string: #"{"text": "hi"}"#)) {
                    #expect($0.status == .serviceUnavailable)
                }
            }
            try await client.execute(uri: "/health", method: .get) { response in
                let body = try Harness.json(response.body)
                #expect(body["status"] as? String == "draining")
            }
        }
    }
}
