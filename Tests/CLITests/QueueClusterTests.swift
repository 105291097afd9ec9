import Foundation
import Testing
import TestSupport

/// The real `lipsync` binary as a small deployment: one API node (`serve --queue`), two workers
/// (`lipsync worker`) and a throwaway PostgreSQL. One worker is killed with SIGKILL in the middle of a
/// job, twice, and started again each time, and the API node is restarted; every job must still be done
/// exactly once, and its video must match what a single-process server makes of the same text.
@Suite(.serialized) struct QueueClusterTests {
    /// A `lipsync worker` process.
    final class Worker {
        let name: String
        let url: String
        let lease: Int
        let log: URL
        private(set) var process = Process()

        init(name: String, url: String, lease: Int, log: URL) throws {
            (self.name, self.url, self.lease, self.log) = (name, url, lease, log)
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            try start()
        }

        func start() throws {
            process = Process()
            process.executableURL = Repository.lipsync
            process.arguments = ["worker", "--queue", url, "--name", name, "--lease", "\(lease)",
                                 "--models", FileManager.default.temporaryDirectory.appendingPathComponent("no-models-\(name)").path]
            let output = try FileHandle(forWritingTo: log)
            output.seekToEndOfFile()
            process.standardOutput = output
            process.standardError = output
            try process.run()
        }

        func kill() {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func stop() {
            if process.isRunning {
                process.interrupt()
                process.waitUntilExit()
            }
        }

        var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
    }

    /// Frames of the video stream and the container's duration, as ffprobe counts them.
    static func framesAndDuration(_ file: URL) throws -> (frames: Int, duration: Double) {
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/ffprobe"),
                                           ["-v", "error", "-count_packets", "-select_streams", "v:0", "-show_entries",
                                            "stream=nb_read_packets:format=duration", "-of", "default=noprint_wrappers=1", file.path])
        var values: [String: String] = [:]
        for line in result.stdout.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        return (Int(values["nb_read_packets"] ?? "") ?? -1, Double(values["duration"] ?? "") ?? -1)
    }

    static func texts(_ count: Int) -> [String] {
        (0..<count).map { "Задание номер \($0 + 1). Очередь раздаёт работу двум исполнителям, и каждый делает своё." }
    }

    @Test func twentyJobsOverTwoWorkersSurviveTwoKilledWorkersAndMatchSingleProcessOutput() throws {
        let cluster = try PostgresCluster()
        defer { cluster.remove() }
        let dir = try Repository.temporaryDirectory("lipsync-queue-cluster")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try LiveServerTests.Server(maxQueue: 100, arguments: ["--queue", cluster.url])
        let lease = 3
        let workers = try ["worker-a", "worker-b"].map {
            try Worker(name: $0, url: cluster.url, lease: lease, log: dir.appendingPathComponent("\($0).log"))
        }
        defer { workers.forEach { $0.stop() } }

        // Twenty jobs at once, through the public API.
        let texts = Self.texts(20)
        var ids: [String] = []
        for text in texts {
            let job = try first.json("/api/jobs", post: #"{"text": "\#(text)", "language": "ru", "engine": "viseme"}"#)
            ids.append(try #require(job["id"] as? String, "\(job)"))
        }

        // The API node restarts (another data folder, nothing local kept): no job is lost.
        first.stop()
        let api = try LiveServerTests.Server(maxQueue: 100, arguments: ["--queue", cluster.url])
        defer { api.stop() }

        // Kill worker-a in the middle of a job (frames rendered, not finished), twice; start it again each time.
        var killedJobs: [String] = []
        let deadline = Date().addingTimeInterval(480)   // generous: the whole suite may be running beside it
        while killedJobs.count < 2 && Date() < deadline {
            let busy = try cluster.sql("SELECT id FROM lipsync_jobs WHERE state = 'running' AND worker = 'worker-a' AND frames_done > 0 LIMIT 1")
            if !busy.isEmpty {
                workers[0].kill()
                killedJobs.append(busy)
                try workers[0].start()
            } else {
                Thread.sleep(forTimeInterval: 0.03)
            }
        }
        #expect(killedJobs.count == 2, "worker-a was never caught mid-job: \(workers[0].logText.suffix(2_000))")

        // Every job done.
        var states: [String: [String: Any]] = [:]
        while Date() < deadline {
            for id in ids where states[id]?["state"] as? String != "done" && states[id]?["state"] as? String != "failed" {
                states[id] = try api.json("/api/jobs/\(id)")
            }
            if ids.allSatisfy({ ["done", "failed"].contains(states[$0]?["state"] as? String) }) { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let unfinished = ids.filter { states[$0]?["state"] as? String != "done" }
        #expect(unfinished.isEmpty, "not done: \(unfinished.map { states[$0] ?? [:] })\n\(workers.map(\.logText).joined())")

        // Exactly once: one stored result per job, and the killed jobs were claimed again after their lease.
        let completions = try cluster.sql("SELECT job || ':' || count(*) FROM lipsync_job_events WHERE event = 'completed' GROUP BY job")
            .split(separator: "\n").map(String.init)
        #expect(completions.count == 20 && completions.allSatisfy { $0.hasSuffix(":1") }, "\(completions)")
        for job in killedJobs {
            let events = try cluster.sql("SELECT event || ':' || coalesce(worker, '-') || ':' || attempt FROM lipsync_job_events WHERE job = '\(job)' ORDER BY at")
            #expect(events.hasPrefix("claimed:worker-a:1\nclaimed:") && events.hasSuffix(":2"), "\(job): \(events)")
        }
        // The jobs API says which worker rendered what; both took part.
        let renderedBy = ids.compactMap { (states[$0]?["result"] as? [String: Any])?["worker"] as? String }
        #expect(renderedBy.count == 20 && Set(renderedBy) == ["worker-a", "worker-b"], "\(renderedBy)")
        #expect(ids.allSatisfy { states[$0]?["worker"] as? String == (states[$0]?["result"] as? [String: Any])?["worker"] as? String })

        // The same texts rendered by one process: same frame count and duration.
        let single = try LiveServerTests.Server(maxQueue: 100)
        defer { single.stop() }
        for (index, (id, text)) in zip(ids, texts).enumerated() {
            let queued = dir.appendingPathComponent("queued-\(index).mp4")
            let local = dir.appendingPathComponent("local-\(index).mp4")
            let videoURL = (states[id]?["result"] as? [String: Any])?["video_url"] as? String ?? ""
            // Served by the restarted API node: the video comes from the database.
            #expect(try api.curl(["-s", "-o", queued.path, "-w", "%{http_code}", "\(api.base)\(videoURL)"]).stdout == "200")
            _ = try single.curl(["-s", "-X", "POST", "\(single.base)/api/generate", "-H", "Content-Type: application/json",
                                 "-d", #"{"text": "\#(text)", "language": "ru", "engine": "viseme"}"#, "-o", local.path])
            let (queuedFrames, queuedDuration) = try Self.framesAndDuration(queued)
            let (localFrames, localDuration) = try Self.framesAndDuration(local)
            // To the frame: Russian's default voice (Festival's recorded units) gives the same audio for the same
            // text in any process (espeak-ng would not: its timing drifts by tens of milliseconds between calls).
            #expect(queuedFrames > 50 && queuedFrames == localFrames, "job \(index): \(queuedFrames) frames vs \(localFrames) in-process")
            #expect(abs(queuedDuration - localDuration) < 0.001, "job \(index): \(queuedDuration) s vs \(localDuration) s in-process")
        }
    }
}
