import Foundation

/// Where temporary files go (speech WAVs, ffmpeg logs, parallel chunks). The system's temporary
/// directory unless the process names another: the server points it into its data directory, so the
/// files a crashed run leaves behind are found and removed at the next start.
package enum ScratchSpace {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var chosen: URL?

    package static var directory: URL {
        lock.withLock { chosen } ?? FileManager.default.temporaryDirectory
    }

    /// Uses `url` (created if needed) from now on.
    package static func use(_ url: URL) throws {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        lock.withLock { chosen = url }
    }

    /// A new empty folder in the scratch directory, for work that makes several files.
    package static func makeFolder(_ label: String) throws -> URL {
        let url = directory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
