import Foundation
import Logging
@testable import Server
import ServiceLifecycle
import Testing
import TestSupport

/// The parts under the routes: configuration, the data directory, the video store, the job runner.
@Suite struct ServiceTests {
    /// The framing fields of a generate request: checked before anything is created, 400 with the reason.
    @Test func framingFieldsAreCheckedInThePlan() throws {
        var request = GenerateRequest(text: "Hi", language: "en")
        request.pads = [0, 10, 0, 0]
        request.nosmooth = true
        request.paste = "BOX"
        let (settings, paste) = try PipelineBackend.framing(request)
        #expect(settings.pads?.bottom == 10 && settings.smoothingWindow == 1 && paste == .box)
        #expect(try PipelineBackend.framing(GenerateRequest(text: "Hi")).1 == .feathered)
        for (pads, box, paste, expected) in [([1, 2], nil, nil, "pads takes 4 numbers"), (nil, [5, 1, 0, 50], nil, "top < bottom"),
                                             (nil, nil, "blur", "unknown paste 'blur'")] as [([Int]?, [Int]?, String?, String)] {
            var bad = GenerateRequest(text: "Hi")
            (bad.pads, bad.box, bad.paste) = (pads, box, paste)
            do {
                _ = try PipelineBackend.framing(bad)
                Issue.record("accepted \(bad)")
            } catch let error as ServiceError {
                #expect(error.status == .badRequest && error.message.contains(expected), "\(error.message)")
            }
        }
        // Snake-case JSON decodes into the fields.
        let decoded = try JSONDecoder().decode(GenerateRequest.self, from: Data(#"{"text":"a","pads":[0,10,0,0],"box":[1,50,2,60],"nosmooth":true,"paste":"box"}"#.utf8))
        #expect(decoded.pads == [0, 10, 0, 0] && decoded.box == [1, 50, 2, 60] && decoded.nosmooth == true && decoded.paste == "box")
    }

    @Test func settingsComeFromTheCommandLineThenTheEnvironmentThenTheDefaults() throws {
        let root = URL(fileURLWithPath: "/srv/lipsync")
        let defaults = try ServerConfiguration.resolve(arguments: [:], environment: [:], projectRoot: root)
        #expect(defaults.port == 3000 && defaults.maxConcurrentJobs == 1 && defaults.dataDirectory.path == "/srv/lipsync/.cache/data")
        let environment = ["LIPSYNC_PORT": "8080", "LIPSYNC_MAX_JOBS": "3", "LIPSYNC_DATA_DIR": "/var/lib/lipsync"]
        let fromEnvironment = try ServerConfiguration.resolve(arguments: [:], environment: environment, projectRoot: root)
        #expect(fromEnvironment.port == 8080 && fromEnvironment.maxConcurrentJobs == 3 && fromEnvironment.dataDirectory.path == "/var/lib/lipsync")
        let both = try ServerConfiguration.resolve(arguments: [.port: "9000"], environment: environment, projectRoot: root)
        #expect(both.port == 9000 && both.maxConcurrentJobs == 3)
        // Bad values name their source.
        #expect { try ServerConfiguration.resolve(arguments: [.port: "http"], environment: [:], projectRoot: root) } throws: {
            "\($0)".contains("--port: 'http' is not a whole number")
        }
        #expect { try ServerConfiguration.resolve(arguments: [:], environment: ["LIPSYNC_MAX_JOBS": "0"], projectRoot: root) } throws: {
            "\($0)".contains("LIPSYNC_MAX_JOBS: '0' is not a whole number in 1...64")
        }
    }

    @Test func theDataDirectoryRemovesACrashedRunsLeftoversAndHasOneOwner() throws {
        let root = try Repository.temporaryDirectory("lipsync-data")
        defer { try? FileManager.default.removeItem(at: root) }
        // What a killed run leaves: a video, scratch files, a half-written upload; and a finished upload.
        for folder in ["videos", "scratch/lipsync-chunks-1", "uploads"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        for file in ["videos/a.mp4", "scratch/lipsync-1.wav", "scratch/lipsync-chunks-1/0.mp4", "uploads/.upload-avatar-1.png", "uploads/avatar-2.png"] {
            try Data("x".utf8).write(to: root.appendingPathComponent(file))
        }
        var data: DataDirectory? = try DataDirectory(root: root)
        #expect(data?.leftoversRemoved == 3)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("videos").path).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("scratch").path).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("uploads").path) == ["avatar-2.png"])
        // A second server on the same folder is refused while the first runs, and welcome once it is gone.
        #expect { try DataDirectory(root: root) } throws: { "\($0)".contains("is in use by another running server (pid \(getpid()))") }
        data = nil
        #expect(throws: Never.self) { try DataDirectory(root: root) }
    }

    @Test func videoIdsAreNeverPathsAndOldVideosAreSwept() throws {
        let dir = try Repository.temporaryDirectory("lipsync-videos")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = VideoStore(directory: dir, lifetime: .seconds(60))
        let id = VideoStore.newID()
        try Data("v".utf8).write(to: store.destination(for: id))
        #expect(store.file(for: id) != nil)
        for bad in ["../\(id)", id.uppercased(), "", "a/b", "%2e%2e", String(repeating: "a", count: 10_000), "\(id)\0"] {
            #expect(store.file(for: bad) == nil, "\(bad.prefix(20))")
        }
        #expect(store.sweep(now: Date().addingTimeInterval(30)) == 0)
        #expect(store.sweep(now: Date().addingTimeInterval(61)) == 1)
        #expect(store.file(for: id) == nil)
    }

    @Test func admissionCountsRunningAndWaitingAndRefusesBeyond() async throws {
        let limiter = JobLimiter(maxRunning: 1, maxQueued: 1)
        let first = try #require(limiter.admit())
        let second = try #require(limiter.admit())
        #expect(limiter.admit() == nil)
        second.withdraw()   // a request that failed before starting gives its place back
        let third = try #require(limiter.admit())
        let gate = Gate()
        gate.close()
        let running = Task { try await first.run { try await gate.pass() } }
        while limiter.running == 0 { await Task.yield() }
        let waiting = Task { try await third.run { 42 } }
        #expect(limiter.running == 1 && limiter.queued == 1)
        gate.open()
        try await running.value
        #expect(try await waiting.value == 42)
        #expect(limiter.running == 0 && limiter.queued == 0)
    }

    @Test func atShutdownRunningJobsFinishAndLateOnesAreCancelledAfterTheDrainTimeout() async throws {
        for (drain, finishes) in [(Duration.seconds(30), true), (.milliseconds(50), false)] {
            let runner = JobRunner(drainTimeout: drain)
            let group = ServiceGroup(configuration: .init(services: [runner], logger: Logger(label: "test")))
            let run = Task { try await group.run() }
            let gate = Gate()
            gate.close()
            let outcome = Outcome()
            #expect(runner.submit {
                do {
                    try await gate.pass()
                    outcome.set("finished")
                } catch {
                    outcome.set("cancelled")
                }
            })
            await group.triggerGracefulShutdown()
            while runner.isAccepting { await Task.yield() }
            #expect(!runner.submit {}, "no new jobs once shutdown began")
            if finishes {
                try await Task.sleep(for: .milliseconds(100))
                gate.open()
            }
            // Otherwise the gate stays shut: only the cancellation at the deadline lets the job out.
            try await run.value
            #expect(outcome.value == (finishes ? "finished" : "cancelled"))
        }
    }
}

final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = ""
    func set(_ value: String) { lock.withLock { stored = value } }
    var value: String { lock.withLock { stored } }
}
