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
    let cues: SpeechCues
    let engine: any LipSyncEngine
    var compositor = Compositor()

    struct Busy {
        var inference = 0.0
        var compositing = 0.0
        var sink = 0.0
        /// Frames the engine rendered, and frames that showed a reused patch instead.
        var inferred = 0
        var reused = 0

        mutating func add(_ other: Busy) {
            inference += other.inference
            compositing += other.compositing
            sink += other.sink
            inferred += other.inferred
            reused += other.reused
        }
    }

    /// The engine's input for `frames`: 96x96 cached crops for Wav2Lip, full-resolution face regions
    /// (`CropStyle.region`) with landmarks for engines that deform the face themselves.
    static func batch(_ frames: [Int], avatar: PreparedAvatar, windows: MelFrameWindows, cues: SpeechCues,
                      style: CropStyle) -> LipSyncBatch {
        let sources = frames.map(avatar.sourceFrame(forOutputFrame:))
        let melWindows = frames.map { windows.window(forFrame: $0) }
        switch style {
        case .wav2lip:
            return LipSyncBatch(frames: frames, melWindows: melWindows, faces: sources.map(avatar.crop), cues: cues)
        case .fullResolution:
            var faces: [RGBImage] = [], landmarks: [[Point]] = []
            for source in sources {
                let face = avatar.face(source)!
                let region = style.region(for: face.box, frameWidth: avatar.width, frameHeight: avatar.height)
                faces.append(avatar.frame(source).cropped(to: region))
                landmarks.append(face.landmarks.map { Point(x: $0.x - Double(region.x), y: $0.y - Double(region.y)) })
            }
            return LipSyncBatch(frames: frames, melWindows: melWindows, faces: faces, landmarks: landmarks, cues: cues)
        }
    }

    /// Reuse the patch of silent frames: a mel window that is all silence floor gives the same input,
    /// hence the same output, for every frame showing the same avatar frame, so only the first is inferred.
    var reuseSilence = true

    /// True when `window` is digital silence at the mel floor (exactly: only then is reuse exact).
    static func isSilent(_ window: [Float]) -> Bool {
        let floor = -Float(MelParameters.wav2lip.maxAbsValue)
        return window.allSatisfy { $0 == floor }
    }

    func render(_ frames: Range<Int>, sink: @Sendable (Int, RGBImage) async throws -> Void) async throws -> Busy {
        let batchSize = max(1, engine.preferredBatchSize)
        let channel = AsyncThrowingChannel<(Range<Int>, [Int: RGBImage], Double), Error>()
        let avatar = self.avatar, windows = self.windows, engine = self.engine, cues = self.cues
        let reuse = reuseSilence && engine.isInferenceBound
        let counters = RenderCounters()
        let producer = Task {
            do {
                // Frames go out in order, in runs that end once a full batch has been inferred. Frames
                // without a face pass through untouched; silent frames reuse a patch when one exists.
                var runStart = frames.lowerBound
                var toInfer: [Int] = []
                var reused: [Int: Int] = [:]              // frame -> source frame whose silent patch it shows
                var silentPatches: [Int: RGBImage] = [:]  // source frame -> patch for a silent window
                var silentPending: [Int: Int] = [:]       // source frame -> the frame inferred for it
                func flush(through end: Int) async throws {
                    var patches: [Int: RGBImage] = [:]
                    let clock = Stopwatch()
                    if !toInfer.isEmpty {
                        try Task.checkCancellation()
                        let batch = Self.batch(toInfer, avatar: avatar, windows: windows, cues: cues, style: engine.cropStyle)
                        let rendered = try await engine.render(batch)
                        for (frame, patch) in zip(toInfer, rendered) { patches[frame] = patch }
                        for (source, frame) in silentPending { silentPatches[source] = patches[frame] }
                    }
                    for (frame, source) in reused { patches[frame] = silentPatches[source] }
                    await counters.add(inferred: toInfer.count, reused: reused.count)
                    await channel.send((runStart..<end, patches, clock.seconds))
                    runStart = end
                    toInfer.removeAll(keepingCapacity: true)
                    reused.removeAll()
                    silentPending.removeAll()
                }
                for frame in frames {
                    let source = avatar.sourceFrame(forOutputFrame: frame)
                    guard avatar.face(source) != nil else { continue }
                    if reuse && Self.isSilent(windows.window(forFrame: frame)) {
                        if silentPatches[source] != nil || silentPending[source] != nil {
                            reused[frame] = source
                            continue
                        }
                        silentPending[source] = frame
                    }
                    toInfer.append(frame)
                    if toInfer.count == batchSize { try await flush(through: frame + 1) }
                }
                if runStart < frames.upperBound { try await flush(through: frames.upperBound) }
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
                    switch engine.cropStyle {
                    case .wav2lip:
                        let key = PixelRect(x: 0, y: 0, width: box.width, height: box.height)
                        let mask = masks[key] ?? compositor.mask(width: box.width, height: box.height)
                        masks[key] = mask
                        compositor.composite(patch, into: &frame, box: box, mask: mask)
                    case .fullResolution:
                        // The engine changed only what it meant to: paste its region back as it is.
                        frame.paste(patch, at: engine.cropStyle.region(for: box, frameWidth: frame.width, frameHeight: frame.height))
                    }
                }
                busy.compositing += clock.seconds
                let sinkClock = Stopwatch()
                try await sink(index, frame)
                busy.sink += sinkClock.seconds
            }
        }
        // A cancelled channel just ends: a cancelled render must not pass for a finished one.
        try Task.checkCancellation()
        busy.inferred = await counters.inferred
        busy.reused = await counters.reused
        return busy
    }
}

actor RenderCounters {
    var inferred = 0
    var reused = 0

    func add(inferred: Int, reused: Int) {
        self.inferred += inferred
        self.reused += reused
    }
}
