import ArgumentParser
import Foundation
import Logging
import Server

/// The job queue on PostgreSQL: claim latency with idle workers, per-job overhead and throughput of two
/// workers against the in-process service, measured in one run (`make bench-queue` starts a throwaway
/// PostgreSQL for it).
struct QueueBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Enqueue->claim latency, per-job overhead and throughput of the PostgreSQL job queue (viseme engine)."
    )

    @Option(help: "The queue's database: postgres://user@host:port/database (or LIPSYNC_QUEUE). Its lipsync_* tables are used.") var queue: String?
    @Option(help: "Jobs run one at a time (latency and per-job time).") var samples: Int = 30
    @Option(help: "Jobs enqueued at once for the throughput figure.") var jobs: Int = 20

    func run() async throws {
        var configuration = try ServerConfiguration.resolve(arguments: queue.map { [.queue: $0] } ?? [:], projectRoot: ProjectPaths.root)
        guard let address = configuration.queue else { throw ValidationError("--queue postgres://... (or LIPSYNC_QUEUE) is required") }
        configuration.modelsDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("lipsync-bench-no-models")
        var logger = Logger(label: "lipsync-bench")
        logger.logLevel = .error
        let cores = ProcessInfo.processInfo.activeProcessorCount
        print("Job queue on PostgreSQL at \(address), viseme engine, text \"\(QueueBench.text)\", \(cores) cores, one run")
        let report = try await QueueBench.run(configuration: configuration, address: address, samples: samples, jobs: jobs, logger: logger)

        func percentile(_ values: [Double], _ p: Double) -> Double {
            let sorted = values.sorted()
            guard !sorted.isEmpty else { return .nan }
            return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
        }
        func mean(_ values: [Double]) -> Double { values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count) }
        let ms = { (value: Double) in format(value * 1000, digits: 1) }
        print("")
        print("enqueue -> claim, idle workers (\(report.claimLatencies.count) jobs): p50 \(ms(percentile(report.claimLatencies, 0.5))) ms, p95 \(ms(percentile(report.claimLatencies, 0.95))) ms, max \(ms(report.claimLatencies.max() ?? .nan)) ms")
        print("")
        print("| one job at a time, \(cell("\(samples) each", 18)) | mean ms | p50 ms  | p95 ms  |")
        print("|\(String(repeating: "-", count: 39))|---------|---------|---------|")
        for (label, values) in [("in-process (serve)", report.localSequential), ("queue (serve --queue + worker)", report.queuedSequential)] {
            print("| \(cell(label, 37)) | \(cell(ms(mean(values)), 7)) | \(cell(ms(percentile(values, 0.5)), 7)) | \(cell(ms(percentile(values, 0.95)), 7)) |")
        }
        print("per-job overhead of the queue: \(ms(mean(report.queuedSequential) - mean(report.localSequential))) ms (mean difference)")
        print("")
        print("| \(cell("\(jobs) jobs at once", 37)) | wall s  | jobs/s  |")
        print("|\(String(repeating: "-", count: 39))|---------|---------|")
        for (label, seconds) in [("in-process, 2 renders at a time", report.localConcurrent), ("queue, 2 workers", report.queuedConcurrent)] {
            print("| \(cell(label, 37)) | \(cell(format(seconds), 7)) | \(cell(format(Double(jobs) / seconds), 7)) |")
        }
        print("(throughput gain of the queue: \(format((report.localConcurrent / report.queuedConcurrent - 1) * 100, digits: 1))%; negative: slower)")
    }
}
