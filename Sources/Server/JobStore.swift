import Foundation
import Pipeline

/// Background generations that clients follow by polling GET /api/jobs/{id}.
public struct JobStatus: Codable, Sendable {
    public var id: String
    public var mode: GenerationMode
    public var state: String          // queued, running, done, failed
    public var stage: String
    public var framesDone: Int
    public var framesTotal: Int
    public var created: Date
    public var result: GenerationSummary?
    public var error: String?

    enum CodingKeys: String, CodingKey {
        case id, mode, state, stage, framesDone = "frames_done", framesTotal = "frames_total", created, result, error
    }
}

final class JobStore: @unchecked Sendable {
    private var jobs: [String: JobStatus] = [:]
    private let lock = NSLock()

    func create(mode: GenerationMode) -> JobStatus {
        let job = JobStatus(id: UUID().uuidString.lowercased(), mode: mode, state: "queued", stage: "queued",
                            framesDone: 0, framesTotal: 0, created: Date())
        lock.withLock {
            // Keep the last few hundred jobs.
            if jobs.count > 500, let oldest = jobs.values.min(by: { $0.created < $1.created }) { jobs[oldest.id] = nil }
            jobs[job.id] = job
        }
        return job
    }

    func update(_ id: String, _ change: (inout JobStatus) -> Void) {
        lock.withLock {
            guard var job = jobs[id] else { return }
            change(&job)
            jobs[id] = job
        }
    }

    func get(_ id: String) -> JobStatus? { lock.withLock { jobs[id] } }
}
