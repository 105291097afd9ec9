import Foundation

/// Avatars clients can name: `default` (the built-in one) and the ones uploaded, stored by id.
final class AvatarLibrary: @unchecked Sendable {
    static let extensions = ["png", "jpg", "jpeg", "webp", "bmp", "mp4", "mov", "webm", "mkv", "avi"]
    let directory: URL
    let defaultAvatar: URL
    private let lock = NSLock()

    init(directory: URL, defaultAvatar: URL) {
        self.directory = directory
        self.defaultAvatar = defaultAvatar
    }

    struct Entry: Codable, Sendable {
        var id: String
        var file: String
    }

    func list() -> [Entry] {
        let uploaded = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return [Entry(id: "default", file: defaultAvatar.lastPathComponent)] + uploaded.sorted().compactMap { name in
            let url = URL(fileURLWithPath: name)
            guard Self.extensions.contains(url.pathExtension.lowercased()) else { return nil }
            return Entry(id: url.deletingPathExtension().lastPathComponent, file: name)
        }
    }

    /// The file of avatar `id` (nil or "default": the built-in one).
    func file(for id: String?) throws -> URL {
        guard let id, id != "default" else { return defaultAvatar }
        guard let entry = list().first(where: { $0.id == id }) else {
            throw ServiceError(.badRequest, "unknown avatar '\(id)'; available: \(list().map(\.id).joined(separator: ", "))")
        }
        return directory.appendingPathComponent(entry.file)
    }

    /// Stores uploaded bytes under a new id; `fileExtension` comes from the name or content type.
    func store(_ data: Data, fileExtension: String) throws -> (id: String, url: URL) {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let id = "avatar-" + UUID().uuidString.lowercased().prefix(8)
        let url = directory.appendingPathComponent("\(id).\(fileExtension)")
        try lock.withLock { try data.write(to: url, options: .atomic) }
        return (id, url)
    }

    func remove(_ url: URL) {
        try? FileManager.default.removeItem(at: url)
    }
}
