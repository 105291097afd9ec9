import Foundation

/// Background generations that clients follow at GET /api/jobs/{id}; the most recent few hundred are kept.
final class JobStore: @unchecked Sendable {
    static let capacity = 500
    private var jobs: [String: JobDTO] = [:]
    private var order: [String] = []
    private let lock = NSLock()

    func create(id: String, mode: GenerationMode, streamUrl: String? = nil) -> JobDTO {
        let job = JobDTO(id: id, mode: mode, state: .queued, stage: "queued", framesDone: 0, framesTotal: 0, created: Date(),
                         streamUrl: streamUrl)
        lock.withLock {
            jobs[id] = job
            order.append(id)
            while order.count > Self.capacity {
                // Forget the oldest finished job; a queued or running one is never dropped.
                guard let index = order.firstIndex(where: { [.done, .failed].contains(jobs[$0]?.state) }) else { break }
                jobs[order.remove(at: index)] = nil
            }
        }
        return job
    }

    func update(_ id: String, _ change: (inout JobDTO) -> Void) {
        lock.withLock {
            guard var job = jobs[id] else { return }
            change(&job)
            jobs[id] = job
        }
    }

    func get(_ id: String) -> JobDTO? { lock.withLock { jobs[id] } }
}
