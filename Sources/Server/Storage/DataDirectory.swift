import Foundation
import Media

/// The service's files, in one folder (`--data-dir`, default .cache/data in the checkout):
///   videos/    finished videos, kept for the configured lifetime
///   uploads/   uploaded avatars (kept across restarts: they are the users' files)
///   scratch/   temporary files of generations in progress (speech WAVs, ffmpeg logs, parallel chunks)
/// One running server owns the folder (an exclusive lock on `.lock`, released by the kernel when the
/// process ends, even by `kill -9`). Whoever takes the lock next knows the previous owner is gone, so
/// its videos and scratch files are leftovers and are removed before anything else runs.
package final class DataDirectory: @unchecked Sendable {
    package let root: URL
    package var videos: URL { root.appendingPathComponent("videos") }
    package var uploads: URL { root.appendingPathComponent("uploads") }
    package var scratch: URL { root.appendingPathComponent("scratch") }
    private let lockDescriptor: Int32

    /// Takes the folder: creates it, locks it and removes what a previous run left behind.
    /// - Returns: the number of leftover files removed.
    package init(root: URL) throws {
        self.root = root
        let manager = FileManager.default
        try manager.createDirectory(at: root, withIntermediateDirectories: true)
        let lockFile = root.appendingPathComponent(".lock")
        let descriptor = open(lockFile.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ConfigurationError("cannot open \(lockFile.path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let owner = (try? String(contentsOf: lockFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(descriptor)
            throw ConfigurationError("the data directory \(root.path) is in use by another running server (pid \(owner)); give this one its own --data-dir")
        }
        lockDescriptor = descriptor
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pid.withCString { write(descriptor, $0, strlen($0)) }
        leftoversRemoved = Self.empty(videos) + Self.empty(scratch)
        try manager.createDirectory(at: videos, withIntermediateDirectories: true)
        try manager.createDirectory(at: uploads, withIntermediateDirectories: true)
        try manager.createDirectory(at: scratch, withIntermediateDirectories: true)
        // Half-written uploads of a killed run.
        for name in (try? manager.contentsOfDirectory(atPath: uploads.path)) ?? [] where name.hasPrefix(AvatarLibrary.partialPrefix) {
            try? manager.removeItem(at: uploads.appendingPathComponent(name))
        }
    }

    /// Files a previous run left in videos/ and scratch/, removed when the folder was taken.
    package private(set) var leftoversRemoved = 0

    deinit { close(lockDescriptor) }

    /// Removes the videos and scratch files of this run (at shutdown).
    package func removeTransientFiles() {
        _ = Self.empty(videos)
        _ = Self.empty(scratch)
    }

    /// Removes everything inside `folder`; returns how many entries there were.
    private static func empty(_ folder: URL) -> Int {
        let manager = FileManager.default
        let names = (try? manager.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in names { try? manager.removeItem(at: folder.appendingPathComponent(name)) }
        return names.count
    }
}
