import Foundation

/// How a parallel generation splits its frames. Chunks are ranges of global frame indices, so every
/// chunk takes its mel windows from the one mel of the whole utterance and borders are invisible.
package struct ChunkPlan: Sendable, Equatable {
    package var chunks: [Range<Int>]
    /// Why the generation runs as one piece, when it does.
    package var fallbackReason: String?

    package var isParallel: Bool { fallbackReason == nil && chunks.count > 1 }

    /// "Smart split": one chunk per worker once the speech is long enough to gain from it; below the
    /// minimum duration, with a single worker, or when the engine is cheaper than the encoder on a
    /// machine of few cores (measured: 8-16% slower in parallel with the viseme engine on 2 cores),
    /// the generation runs in one piece and says why. A forced chunk count overrides the choice.
    package static func make(frameCount: Int, fps: Double, workers: Int, minimumDuration: Double,
                            forcedChunks: Int? = nil, inferenceBound: Bool = true,
                            cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> ChunkPlan {
        let duration = Double(frameCount) / fps
        let count: Int
        if let forcedChunks {
            count = max(1, min(forcedChunks, frameCount))
            if count == 1 { return ChunkPlan(chunks: [0..<frameCount], fallbackReason: "one chunk was requested") }
        } else if workers < 2 {
            return ChunkPlan(chunks: [0..<frameCount], fallbackReason: "only one worker is available")
        } else if !inferenceBound && cores <= 4 {
            return ChunkPlan(chunks: [0..<frameCount],
                             fallbackReason: "this engine is limited by video encoding, which already uses all \(cores) cores")
        } else if duration < minimumDuration {
            let limit = minimumDuration.formatted(.number.precision(.fractionLength(0...1)))
            return ChunkPlan(chunks: [0..<frameCount],
                             fallbackReason: "speech is \(duration.formatted(.number.precision(.fractionLength(1)))) s, under the \(limit) s where splitting pays off")
        } else {
            count = min(workers, frameCount)
        }
        let chunks = (0..<count).map { index in (index * frameCount / count)..<((index + 1) * frameCount / count) }
        return ChunkPlan(chunks: chunks, fallbackReason: nil)
    }
}
