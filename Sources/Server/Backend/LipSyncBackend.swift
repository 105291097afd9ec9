import Foundation
import Pipeline

/// What the HTTP layer needs from whatever renders the videos. `PipelineBackend` is the real one
/// (speech, lip-sync engines, avatars, ffmpeg); router tests use an in-memory fake that answers in
/// microseconds. Limits, jobs, storage, metrics and errors live above it, in `GenerationService`, so
/// they behave the same whatever renders.
package protocol LipSyncBackend: Sendable {
    /// Everything a request needs to render, decided (and checked) before it takes a slot.
    associatedtype Plan: Sendable

    /// Start-up work before the server listens: compiling models, preparing the default avatar.
    func start() async throws
    func models() -> ModelList
    func voices() async -> VoiceList
    /// Checks a request completely and decides how it renders; throws for bad input. Nothing runs yet.
    func plan(_ request: GenerateRequest, mode: GenerationMode, avatar: URL) async throws -> Plan
    /// Renders to `output` (an MP4 file, a file with a live HLS playlist, or a stream of fragmented MP4
    /// bytes), reporting progress. Partial files of a failed render are removed by the service, which owns
    /// the video store. Streamed and HLS outputs of a
    /// parallel plan deal 1 s fragments to the workers in turn; a parallel file joins chunks with concat.
    func render(_ plan: Plan, to output: VideoOutput, progress: @escaping ProgressHandler) async throws -> RenderOutcome
    /// Face analysis of an uploaded avatar (cached, so the first generation with it starts at once).
    func analyseAvatar(_ file: URL) async throws -> AvatarAnalysis
}
