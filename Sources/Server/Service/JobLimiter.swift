import Foundation

/// Bounds the generations the server takes on: `maxRunning` at once and `maxQueued` more waiting for a
/// slot. Admission is decided at once, before anything is created (a refused request leaves nothing
/// behind); an admitted generation then waits for its slot in order.
final class JobLimiter: @unchecked Sendable {
    let maxRunning: Int
    let maxQueued: Int
    private let lock = NSLock()
    private var runningCount = 0
    private var admittedCount = 0   // running + waiting
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(maxRunning: Int, maxQueued: Int) {
        self.maxRunning = max(1, maxRunning)
        self.maxQueued = max(0, maxQueued)
    }

    var running: Int { lock.withLock { runningCount } }
    var queued: Int { lock.withLock { admittedCount - runningCount } }

    /// A place in line, or nil when every slot and every queue place is taken.
    func admit() -> Admission? {
        lock.withLock {
            guard admittedCount < maxRunning + maxQueued else { return nil }
            admittedCount += 1
            return Admission(limiter: self)
        }
    }

    fileprivate func waitForSlot() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now: Bool = lock.withLock {
                if runningCount < maxRunning {
                    runningCount += 1
                    return true
                }
                waiting.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    fileprivate func leave(started: Bool) {
        let next: CheckedContinuation<Void, Never>? = lock.withLock {
            admittedCount -= 1
            guard started else { return nil }
            if waiting.isEmpty {
                runningCount -= 1
                return nil
            }
            return waiting.removeFirst()   // the slot passes straight to the next in line
        }
        next?.resume()
    }
}

/// One admitted generation: wait for the slot with `run`, which gives it back however the work ends.
final class Admission: @unchecked Sendable {
    private let limiter: JobLimiter
    private let lock = NSLock()
    private var used = false

    fileprivate init(limiter: JobLimiter) { self.limiter = limiter }

    // An admission dropped without running (a response that was never written) gives its place back.
    deinit { withdraw() }

    /// Waits for a slot, runs `work` in it and frees the slot.
    func run<T: Sendable>(_ work: () async throws -> T) async throws -> T {
        precondition(lock.withLock { !used }, "an admission runs once")
        lock.withLock { used = true }
        await limiter.waitForSlot()
        defer { limiter.leave(started: true) }
        return try await work()
    }

    /// Gives the place back without running (the request failed before it started).
    func withdraw() {
        let unused = lock.withLock { () -> Bool in
            defer { used = true }
            return !used
        }
        if unused { limiter.leave(started: false) }
    }
}
