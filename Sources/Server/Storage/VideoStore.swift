import Foundation
import ServiceLifecycle

/// Finished videos, by id, in the data directory's videos/ folder. Files older than `lifetime` are
/// removed by `sweep`, which `VideoSweeper` runs periodically as a service of the application.
final class VideoStore: Sendable {
    let directory: URL
    let lifetime: Duration

    init(directory: URL, lifetime: Duration) {
        self.directory = directory
        self.lifetime = lifetime
    }

    /// A new id: lower-case UUID, the only shape `file(for:)` accepts.
    static func newID() -> String { UUID().uuidString.lowercased() }

    /// Where the video of `id` is written.
    func destination(for id: String) -> URL { directory.appendingPathComponent("\(id).mp4") }

    /// Where the live HLS playlist and segments of `id` are written (swept with the video).
    func hlsDirectory(for id: String) -> URL { directory.appendingPathComponent("\(id).hls") }

    /// A file of the HLS stream of `id`: the playlist, the init segment or a media segment, nothing else.
    func hlsFile(for id: String, name: String) -> URL? {
        guard Self.isID(id), name.range(of: #"^(stream\.m3u8|init\.mp4|seg_[0-9]{5}\.m4s)$"#, options: .regularExpression) != nil else {
            return nil
        }
        let url = hlsDirectory(for: id).appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    /// Removes the video of `id` and its stream, if any.
    func remove(_ id: String) {
        try? FileManager.default.removeItem(at: destination(for: id))
        try? FileManager.default.removeItem(at: hlsDirectory(for: id))
    }

    static func isID(_ id: String) -> Bool { UUID(uuidString: id) != nil && id == id.lowercased() }

    /// The finished video of `id`, or nil for an unknown, expired or malformed id (never a path outside
    /// the folder: ids are checked against the shape this store gives out).
    func file(for id: String) -> URL? {
        guard Self.isID(id) else { return nil }
        let url = destination(for: id)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    func size(of url: URL) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
    }

    /// Removes videos older than the lifetime; returns how many.
    @discardableResult
    func sweep(now: Date = Date()) -> Int {
        let manager = FileManager.default
        let seconds = Double(lifetime.components.seconds) + Double(lifetime.components.attoseconds) * 1e-18
        var removed = 0
        for name in (try? manager.contentsOfDirectory(atPath: directory.path)) ?? [] {
            let url = directory.appendingPathComponent(name)
            guard let modified = (try? manager.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date,
                  now.timeIntervalSince(modified) > seconds else { continue }
            if (try? manager.removeItem(at: url)) != nil { removed += 1 }
        }
        return removed
    }
}

/// Runs `VideoStore.sweep` every `interval` until the application shuts down.
struct VideoSweeper: Service {
    let store: VideoStore
    let interval: Duration

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            store.sweep()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
