import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Pipeline
import Server
import Testing
import TestSupport

/// Every endpoint through the router, in process.
@Suite(.serialized) struct RouterTests {
    static func service(models: URL? = nil, maxJobs: Int = 1, maxQueue: Int = 4, maxText: Int = 5_000) async throws -> (LipSyncService, URL) {
        let dir = try Repository.temporaryDirectory()
        var configuration = ServerConfiguration.project(root: Repository.root)
        configuration.modelsDirectory = models ?? dir.appendingPathComponent("models")
        configuration.avatarCacheDirectory = dir.appendingPathComponent("avatars")
        configuration.uploadedAvatarsDirectory = dir.appendingPathComponent("uploads")
        configuration.videosDirectory = dir.appendingPathComponent("videos")
        configuration.maxConcurrentJobs = maxJobs
        configuration.maxQueuedJobs = maxQueue
        configuration.maxTextCharacters = maxText
        configuration.maxUploadBytes = 2 * 1024 * 1024
        return (try await LipSyncService(configuration: configuration), dir)
    }

    static func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any] ?? [:]
    }

    static let post: HTTPFields = [.contentType: "application/json"]

    @Test func generateReturnsAnMP4WithTimingHeaders() async throws {
        let (service, dir) = try await Self.service()
        defer { try? FileManager.default.removeItem(at: dir) }
        let app = Application(router: buildRouter(service: service))
        try await app.test(.router) { client in
            let body = ByteBuffer(string: #"{"text": "Привет! Это проверка.", "language": "ru"}"#)
            try await client.execute(uri: "/api/generate", method: .post, headers: Self.post, body: body) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "video/mp4")
                #expect(response.headers[.contentLength] == String(response.body.readableBytes))
                #expect(response.headers[HTTPField.Name("X-Engine")!] == "viseme")
                #expect(Double(response.headers[HTTPField.Name("X-Timing-Total")!] ?? "") ?? 0 > 0)
                #expect(Data(buffer: response.body).range(of: Data("ftyp".utf8)) != nil)
            }
            // JSON for clients that ask for it, with a URL to fetch the video.
            var headers = Self.post
            headers[.accept] = "application/json"
            let summary = try await client.execute(uri: "/api/generate_parallel", method: .post, headers: headers, body: body) { response in
                #expect(response.status == .ok)
                return try Self.json(response.body)
            }
            let url = try #require(summary["video_url"] as? String)
            #expect((summary["timings"] as? [String: Any])?["total"] != nil)
            #expect(((summary["parallel"] as? [String: Any])?["fallbackReason"] as? String) != nil)
            try await client.execute(uri: url, method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "video/mp4" && response.body.readableBytes > 1000)
            }
        }
    }

    @Test func badRequestsGetAClearJSONError() async throws {
        let (service, dir) = try await Self.service(maxText: 50)
        defer { try? FileManager.default.removeItem(at: dir) }
        let app = Application(router: buildRouter(service: service))
        let cases: [(String, HTTPResponse.Status, String)] = [
            ("{not json", .badRequest, "malformed JSON"),
            (#"["text"]"#, .badRequest, "malformed JSON"),
            (#"{"language": "ru"}"#, .badRequest, "missing 'text'"),
            (#"{"text": "   ", "language": "ru"}"#, .badRequest, "text is empty"),
            (#"{"text": "\#(String(repeating: "a", count: 51))", "language": "ru"}"#, .badRequest, "limit is 50"),
            (#"{"text": "hi", "language": "xx"}"#, .badRequest, "unknown language 'xx'"),
            (#"{"text": "hi", "model": "wav2lip_gan"}"#, .badRequest, "not installed"),
            (#"{"text": "hi", "model": "gpt"}"#, .badRequest, "unknown model 'gpt'"),
            (#"{"text": "hi", "engine": "magic"}"#, .badRequest, "unknown engine 'magic'"),
            (#"{"text": "hi", "avatar": "nobody"}"#, .badRequest, "unknown avatar 'nobody'"),
            (#"{"text": "hi", "assign": "split"}"#, .badRequest, "needs both wav2lip and wav2lip_gan"),
            (#"{"text": "hi", "assign": "diagonal"}"#, .badRequest, "unknown assign"),
            (#"{"text": "hi", "chunks": 99}"#, .badRequest, "'chunks' must be"),
            (#"{"text": 5}"#, .badRequest, "'text' has the wrong type"),
        ]
        try await app.test(.router) { client in
            for (body, status, message) in cases {
                try await client.execute(uri: "/api/generate_parallel", method: .post, headers: Self.post, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == status, "\(body)")
                    #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
                    let error = try Self.json(response.body)["error"] as? String
                    #expect(error?.contains(message) == true, "\(body): \(error ?? "no error field")")
                }
            }
            try await client.execute(uri: "/api/jobs/nope", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/videos/../../etc/passwd", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/jobs", method: .post, headers: Self.post, body: ByteBuffer(string: #"{"text": "hi", "mode": "fast"}"#)) {
                #expect($0.status == .badRequest)
            }
            // Still serving.
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func infoEndpointsAndMetrics() async throws {
        let (service, dir) = try await Self.service()
        defer { try? FileManager.default.removeItem(at: dir) }
        let app = Application(router: buildRouter(service: service))
        try await app.test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                let body = try Self.json(response.body)
                #expect(response.status == .ok && body["status"] as? String == "ok")
            }
            try await client.execute(uri: "/api/models", method: .get) { response in
                let models = try Self.json(response.body)["models"] as? [[String: Any]]
                #expect(models?.contains { $0["name"] as? String == "viseme" } == true)
            }
            try await client.execute(uri: "/api/voices", method: .get) { response in
                let languages = try Self.json(response.body)["languages"] as? [String]
                #expect(languages?.contains("ru") == true && languages?.contains("en") == true)
            }
            try await client.execute(uri: "/api/avatars", method: .get) { response in
                let avatars = try Self.json(response.body)["avatars"] as? [[String: Any]]
                #expect(avatars?.first?["id"] as? String == "default")
            }
            try await client.execute(uri: "/parallel_test", method: .get) { response in
                #expect(response.status == .ok && String(buffer: response.body).contains("/api/jobs"))
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains("lipsync_http_requests_total{route=\"/health\",status=\"200\"} 1"))
                #expect(text.contains("lipsync_jobs_queued 0") && text.contains("lipsync_frames_generated_total"))
            }
        }
    }

    @Test func avatarsUploadOnceAndCanBeUsed() async throws {
        let (service, dir) = try await Self.service()
        defer { try? FileManager.default.removeItem(at: dir) }
        let app = Application(router: buildRouter(service: service))
        let picture = try Data(contentsOf: Repository.root.appendingPathComponent(".cache/assets/astronaut.png"))
        try await app.test(.router) { client in
            let id = try await client.execute(uri: "/api/avatars?name=me.png", method: .post, headers: [.contentType: "image/png"],
                                              body: ByteBuffer(bytes: picture)) { response in
                #expect(response.status == .created)
                let body = try Self.json(response.body)
                #expect(body["faces"] as? Int == 1)
                return body["id"] as? String
            }
            let avatar = try #require(id)
            try await client.execute(uri: "/api/generate", method: .post, headers: Self.post,
                                     body: ByteBuffer(string: #"{"text": "Hello.", "language": "en", "avatar": "\#(avatar)"}"#)) {
                #expect($0.status == .ok)
            }
            // Too large: 413. Not a picture: 422. No face: 422. No type: 415.
            try await client.execute(uri: "/api/avatars?name=big.png", method: .post, headers: [.contentType: "image/png"],
                                     body: ByteBuffer(bytes: [UInt8](repeating: 1, count: 3 * 1024 * 1024))) { response in
                #expect(response.status == .contentTooLarge)
                let body = try Self.json(response.body)
                #expect(body["error"] != nil)
            }
            try await client.execute(uri: "/api/avatars?name=x.png", method: .post, headers: [.contentType: "image/png"],
                                     body: ByteBuffer(string: "not a picture")) { #expect($0.status == .unprocessableContent) }
            try await client.execute(uri: "/api/avatars", method: .post, body: ByteBuffer(string: "x")) { #expect($0.status == .unsupportedMediaType) }
        }
    }

    @Test func jobsReportProgressAndAFullQueueGets429() async throws {
        let (service, dir) = try await Self.service(maxJobs: 1, maxQueue: 0)
        defer { try? FileManager.default.removeItem(at: dir) }
        let app = Application(router: buildRouter(service: service))
        try await app.test(.router) { client in
            let body = ByteBuffer(string: #"{"text": "Добрый день! Это фоновая задача с прогрессом.", "language": "ru", "mode": "parallel"}"#)
            let id = try await client.execute(uri: "/api/jobs", method: .post, headers: Self.post, body: body) { response in
                #expect(response.status == .accepted)
                return try Self.json(response.body)["id"] as? String
            }
            let job = try #require(id)
            // While it runs, the one slot is taken and nothing may wait: 429 with Retry-After.
            var sawBusy = false, state = ""
            for _ in 0..<200 {
                let status = try await client.execute(uri: "/api/jobs/\(job)", method: .get) { try Self.json($0.body) }
                state = status["state"] as? String ?? ""
                if state == "running" && !sawBusy {
                    try await client.execute(uri: "/api/generate", method: .post, headers: Self.post,
                                             body: ByteBuffer(string: #"{"text": "Ещё.", "language": "ru"}"#)) { response in
                        if response.status == .tooManyRequests {
                            sawBusy = true
                            #expect(response.headers[.retryAfter] != nil)
                        }
                    }
                }
                if state == "done" || state == "failed" { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(state == "done")
            #expect(sawBusy)
        }
    }
}
