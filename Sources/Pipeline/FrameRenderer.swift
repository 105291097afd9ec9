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
    let compositor = Compositor()

    struct Busy {
        var inference = 0.0
        var compositing = 0.0
        var sink = 0.0
    }

    /// The engine's input for `frames`: 96x96 cached crops for Wav2Lip, full-resolution face boxes with
    /// landmarks for engines that deform the face themselves.
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
                faces.append(avatar.frame(source).cropped(to: face.box))
                landmarks.append(face.landmarks.map { Point(x: $0.x - Double(face.box.x), y: $0.y - Double(face.box.y)) })
            }
            return LipSyncBatch(frames: frames, melWindows: melWindows, faces: faces, landmarks: landmarks, cues: cues)
        }
    }

    func render(_ frames: Range<Int>, sink: @Sendable (Int, RGBImage) async throws -> Void) async throws -> Busy {
        let batchSize = max(1, engine.preferredBatchSize)
        let batches = stride(from: frames.lowerBound, to: frames.upperBound, by: batchSize).map {
            $0..<min(frames.upperBound, $0 + batchSize)
        }
        let channel = AsyncThrowingChannel<(Range<Int>, [Int: RGBImage], Double), Error>()
        let avatar = self.avatar, windows = self.windows, engine = self.engine, cues = self.cues
        let producer = Task {
            do {
                for range in batches {
                    try Task.checkCancellation()
                    // Only frames with a face go through the engine; the others pass through untouched.
                    let withFace = range.filter { avatar.face(avatar.sourceFrame(forOutputFrame: $0)) != nil }
                    var patches: [Int: RGBImage] = [:]
                    let clock = Stopwatch()
                    if !withFace.isEmpty {
                        let batch = Self.batch(withFace, avatar: avatar, windows: windows, cues: cues, style: engine.cropStyle)
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
                    switch engine.cropStyle {
                    case .wav2lip:
                        let key = PixelRect(x: 0, y: 0, width: box.width, height: box.height)
                        let mask = masks[key] ?? compositor.mask(width: box.width, height: box.height)
                        masks[key] = mask
                        compositor.composite(patch, into: &frame, box: box, mask: mask)
                    case .fullResolution:
                        // The engine changed only what it meant to: paste the box back as it is.
                        frame.paste(patch, at: box)
                    }
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
