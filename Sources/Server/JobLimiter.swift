/// Bounds the generations the server runs: `running` at once, `queued` more waiting for a slot,
/// anything beyond refused at once (the caller answers 429 with Retry-After).
actor JobLimiter {
    let maxRunning: Int
    let maxQueued: Int
    private(set) var running = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(maxRunning: Int, maxQueued: Int) {
        self.maxRunning = max(1, maxRunning)
        self.maxQueued = max(0, maxQueued)
    }

    var queued: Int { waiting.count }

    /// Takes a slot, waiting if all are busy; false when the queue is full too.
    func acquire() async -> Bool {
        if running < maxRunning {
            running += 1
            return true
        }
        guard waiting.count < maxQueued else { return false }
        await withCheckedContinuation { waiting.append($0) }
        return true
    }

    func release() {
        if waiting.isEmpty {
            running -= 1
        } else {
            waiting.removeFirst().resume()  // the slot passes straight to the next in line
        }
    }
}
