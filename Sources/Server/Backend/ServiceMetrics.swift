import Foundation

/// Counters and sums exposed at /metrics in Prometheus' text format.
final class ServiceMetrics: @unchecked Sendable {
    private let lock = NSLock()
    private var requests: [String: Int] = [:]          // "route|status"
    private var durationSum: [String: Double] = [:]     // route
    private var durationCount: [String: Int] = [:]
    private var framesGenerated = 0
    private var generations: [String: Int] = [:]        // "mode|outcome"

    func recordRequest(route: String, status: Int, seconds: Double) {
        lock.withLock {
            requests["\(route)|\(status)", default: 0] += 1
            durationSum[route, default: 0] += seconds
            durationCount[route, default: 0] += 1
        }
    }

    func recordGeneration(mode: String, outcome: String, frames: Int) {
        lock.withLock {
            generations["\(mode)|\(outcome)", default: 0] += 1
            framesGenerated += frames
        }
    }

    func render(running: Int, queued: Int) -> String {
        lock.withLock {
            var lines: [String] = []
            lines.append("# HELP lipsync_http_requests_total HTTP requests by route and status.")
            lines.append("# TYPE lipsync_http_requests_total counter")
            for (key, count) in requests.sorted(by: { $0.key < $1.key }) {
                let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
                lines.append("lipsync_http_requests_total{route=\"\(parts[0])\",status=\"\(parts[1])\"} \(count)")
            }
            lines.append("# HELP lipsync_http_request_duration_seconds Time to answer requests, by route.")
            lines.append("# TYPE lipsync_http_request_duration_seconds summary")
            for (route, sum) in durationSum.sorted(by: { $0.key < $1.key }) {
                lines.append("lipsync_http_request_duration_seconds_sum{route=\"\(route)\"} \(sum)")
                lines.append("lipsync_http_request_duration_seconds_count{route=\"\(route)\"} \(durationCount[route] ?? 0)")
            }
            lines.append("# HELP lipsync_generations_total Generations by mode and outcome.")
            lines.append("# TYPE lipsync_generations_total counter")
            for (key, count) in generations.sorted(by: { $0.key < $1.key }) {
                let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
                lines.append("lipsync_generations_total{mode=\"\(parts[0])\",outcome=\"\(parts[1])\"} \(count)")
            }
            lines.append("# HELP lipsync_frames_generated_total Video frames generated.")
            lines.append("# TYPE lipsync_frames_generated_total counter")
            lines.append("lipsync_frames_generated_total \(framesGenerated)")
            lines.append("# HELP lipsync_jobs_running Generations running now.")
            lines.append("# TYPE lipsync_jobs_running gauge")
            lines.append("lipsync_jobs_running \(running)")
            lines.append("# HELP lipsync_jobs_queued Generations waiting for a slot.")
            lines.append("# TYPE lipsync_jobs_queued gauge")
            lines.append("lipsync_jobs_queued \(queued)")
            return lines.joined(separator: "\n") + "\n"
        }
    }
}
