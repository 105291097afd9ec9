import Avatar
import Foundation
import LipSync
import Media
import Pipeline
@testable import Server
import SpeechSynthesis

/// A backend that renders nothing: it checks requests the way the real one does (same error types, so
/// the same mapping applies), writes a few bytes as "the video" and can hold renders at a gate. Router
/// tests use it to run in milliseconds; LiveServerTests run the real backend.
final class FakeBackend: LipSyncBackend {
    struct Plan: Sendable {
        var text: String
        var mode: GenerationMode
        var avatar: URL
    }

    let gate = Gate()
    let maxCharacters: Int

    init(maxCharacters: Int = 200) { self.maxCharacters = maxCharacters }

    func start() async throws {}

    func models() -> ModelList {
        ModelList(models: [ModelDTO(name: "viseme", engine: "viseme", description: "fake", file: nil, inputs: [], precision: nil)],
                  failures: [ModelFailureDTO(name: "wav2lip_gan", error: "not an ONNX file")])
    }

    func voices() async -> VoiceList { VoiceList(languages: ["en", "ru"], variants: ["m3"], defaultLanguage: "ru") }

    func plan(_ request: GenerateRequest, mode: GenerationMode, avatar: URL) async throws -> Plan {
        guard let text = request.text else { throw ServiceError(.badRequest, "missing 'text'") }
        try SpeechLimits(maxCharacters: maxCharacters).validate(text)
        let language = request.language ?? "ru"
        guard ["en", "ru"].contains(language) else { throw SpeechError.unknownLanguage(language, available: ["en", "ru"]) }
        if let rate = request.rate, !(80...450).contains(rate) { throw SpeechError.invalidRate(rate, allowed: 80...450) }
        if let engine = request.engine, engine != "viseme" { throw LipSyncError.badInput("unknown engine '\(engine)'") }
        if request.model != nil { throw LipSyncError.badInput("model '\(request.model!)' is not installed") }
        _ = try PipelineBackend.assignment(request.assign)
        if let chunks = request.chunks, !(1...16).contains(chunks) { throw ServiceError(.badRequest, "'chunks' must be in 1...16") }
        return Plan(text: text, mode: mode, avatar: avatar)
    }

    func render(_ plan: Plan, to output: VideoOutput, progress: @escaping ProgressHandler) async throws -> RenderOutcome {
        progress(GenerationProgress(stage: "rendering", framesDone: 3, framesTotal: 10))
        try await gate.pass()
        // Failures that only show while rendering: a face-less avatar (the client's fault) and a broken
        // encoder (the server's).
        if plan.text.contains("faceless") { throw AvatarError.noFace("avatar.png") }
        if plan.text.contains("explode") { throw MediaError.ffmpegFailed("/secret/path: encoder crashed") }
        let video = Data("....ftypisom fake video".utf8)
        switch output {
        case .file(let url): try video.write(to: url)
        case .fileWithHLS(let url, let directory):
            try video.write(to: url)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data("#EXTM3U\n#EXT-X-ENDLIST\n".utf8).write(to: directory.appendingPathComponent("stream.m3u8"))
        case .stream(let sink):
            // In pieces, as an encoder would hand them over.
            for piece in [video.prefix(8), video.dropFirst(8)] { try await sink(Data(piece)) }
        }
        progress(GenerationProgress(stage: "done", framesDone: 10, framesTotal: 10))
        var timings = TimingsDTO()
        timings.total = 0.01
        let parallel = plan.mode == .parallel
            ? ParallelReportDTO(assignment: "same", chunks: [ChunkDTO(index: 0, worker: 0, model: "viseme", firstFrame: 0, frames: 10, start: 0, end: 0.01)],
                                planning: 0, concat: 0, fallbackReason: "too short")
            : nil
        return RenderOutcome(frames: 10, fps: 25, duration: 0.4, engine: "viseme", precision: nil, voice: "espeak/ru", avatarCached: true, timings: timings, parallel: parallel)
    }

    func analyseAvatar(_ file: URL) async throws -> AvatarAnalysis {
        let head = try FileHandle(forReadingFrom: file).read(upToCount: 8) ?? Data()
        guard head.starts(with: [0x89, 0x50, 0x4E, 0x47]) else { throw MediaError.unreadable(file: file.lastPathComponent, reason: "not a media file") }
        return AvatarAnalysis(width: 64, height: 64, frames: 1, faces: 1, box: BoxDTO(x: 8, y: 8, width: 48, height: 48))
    }
}

/// Holds renders until opened (open by default), or until the waiting task is cancelled.
final class Gate: @unchecked Sendable {
    private let lock = NSLock()
    private var closed = false
    private var waiting: [UUID: CheckedContinuation<Void, Never>] = [:]
    private var cancelled: Set<UUID> = []

    func close() { lock.withLock { closed = true } }

    func open() {
        let resumed = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            closed = false
            defer { waiting.removeAll() }
            return Array(waiting.values)
        }
        resumed.forEach { $0.resume() }
    }

    func pass() async throws {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = lock.withLock { () -> Bool in
                    guard closed, !cancelled.contains(id) else { return true }
                    waiting[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = lock.withLock { () -> CheckedContinuation<Void, Never>? in
                cancelled.insert(id)
                return waiting.removeValue(forKey: id)
            }
            waiter?.resume()
        }
        try Task.checkCancellation()
    }
}
