import AsyncAlgorithms
import AudioFeatures
import Avatar
import Compositing
import Foundation
import Imaging
import LipSync

/// Renders a range of video frames: batches the frames that show a face through a lip-sync engine
/// and composites the patches into avatar frames, handing each finished frame to `sink` in order.
/// Inference runs one batch ahead of compositing (a rendezvous channel between them), so memory holds
/// about two batches however long the video.
struct FrameRenderer: Sendable {
    let avatar: PreparedAvatar
    let windows: MelFrameWindows
    let engine: any LipSyncEngine
    let compositor = Compositor()

    struct Busy {
        var inference = 0.0
        var compositing = 0.0
        var sink = 0.0
    }

    func render(_ frames: Range<Int>, sink: @Sendable (Int, RGBImage) async throws -> Void) async throws -> Busy {
        let batchSize = max(1, engine.preferredBatchSize)
        let batches = stride(from: frames.lowerBound, to: frames.upperBound, by: batchSize).map {
            $0..<min(frames.upperBound, $0 + batchSize)
        }
        let channel = AsyncThrowingChannel<(Range<Int>, [Int: FacePatch], Double), Error>()
        let avatar = self.avatar, windows = self.windows, engine = self.engine
        let producer = Task {
            do {
                for range in batches {
                    try Task.checkCancellation()
                    // Only frames with a face go through the engine; the others pass through untouched.
                    let withFace = range.filter { avatar.face(avatar.sourceFrame(forOutputFrame: $0)) != nil }
                    var patches: [Int: FacePatch] = [:]
                    let clock = Stopwatch()
                    if !withFace.isEmpty {
                        let batch = LipSyncBatch(
                            melWindows: withFace.map { windows.window(forFrame: $0) },
                            faces: withFace.map { avatar.crop(avatar.sourceFrame(forOutputFrame: $0)) })
                        let rendered = try await engine.render(batch)
                        for (frame, patch) in zip(withFace, rendered) { patches[frame] = patch }
                    }
                    await channel.send((range, patches, clock.seconds))
                }
                channel.finish()
            } catch {
                channel.fail(error)
            }
        }
        defer { producer.cancel() }

        var busy = Busy()
        var masks: [PixelRect: [Float]] = [:]
        for try await (range, patches, inferenceSeconds) in channel {
            busy.inference += inferenceSeconds
            for index in range {
                let clock = Stopwatch()
                let source = avatar.sourceFrame(forOutputFrame: index)
                var frame = avatar.frame(source)
                if let patch = patches[index], let face = avatar.face(source) {
                    let box = face.box
                    let key = PixelRect(x: 0, y: 0, width: box.width, height: box.height)
                    let mask = masks[key] ?? compositor.mask(width: box.width, height: box.height)
                    masks[key] = mask
                    compositor.composite(patch, into: &frame, box: box, mask: mask)
                }
                busy.compositing += clock.seconds
                let sinkClock = Stopwatch()
                try await sink(index, frame)
                busy.sink += sinkClock.seconds
            }
        }
        return busy
    }
}
