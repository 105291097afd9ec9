import Avatar
import Foundation
import Testing
import TestSupport

/// The avatar cache after a crash: analyses a killed process never finished are removed, running ones not.
@Suite struct AvatarCacheTests {
    @Test func stagingFoldersOfDeadProcessesAreRemovedAndLiveOnesKept() throws {
        let cache = try Repository.temporaryDirectory("lipsync-avatar-cache")
        defer { try? FileManager.default.removeItem(at: cache) }
        // A process that has exited: its pid is free.
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let dead = cache.appendingPathComponent(".0123abcd-\(finished.processIdentifier)-\(UUID().uuidString)")
        let live = cache.appendingPathComponent(".0123abcd-\(getpid())-\(UUID().uuidString)")
        let finishedAvatar = cache.appendingPathComponent("0123abcd")
        for folder in [dead, live, finishedAvatar] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data("x".utf8).write(to: folder.appendingPathComponent("frames.rgb"))
        }
        let store = try Fixtures.store(cache)
        #expect(store.removeAbandonedStaging() == 1)
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: cache.path))
        #expect(left == [live.lastPathComponent, finishedAvatar.lastPathComponent])
    }
}
