import Foundation

/// Avatars clients can name: `default` (the built-in one) and the uploaded ones, stored by id in the
/// data directory. An upload is written under a partial name and published by a rename once it has
/// been analysed, so a half-written or rejected file is never listed.
final class AvatarLibrary: Sendable {
    static let extensions = ["png", "jpg", "jpeg", "webp", "bmp", "mp4", "mov", "webm", "mkv", "avi"]
    static let contentTypes = ["image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/bmp": "bmp",
                               "video/mp4": "mp4", "video/webm": "webm", "video/quicktime": "mov"]
    /// Uploads in progress: hidden names (never listed), removed at start-up if a run died mid-upload.
    static let partialPrefix = ".upload-"
    let directory: URL
    let defaultAvatar: URL

    init(directory: URL, defaultAvatar: URL) {
        self.directory = directory
        self.defaultAvatar = defaultAvatar
    }

    func list() -> [AvatarDTO] {
        let uploaded = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return [AvatarDTO(id: "default", file: defaultAvatar.lastPathComponent)] + uploaded.sorted().compactMap { name in
            guard !name.hasPrefix(".") else { return nil }
            let url = URL(fileURLWithPath: name)
            guard Self.extensions.contains(url.pathExtension.lowercased()) else { return nil }
            return AvatarDTO(id: url.deletingPathExtension().lastPathComponent, file: name)
        }
    }

    /// The file of avatar `id` (nil or "default": the built-in one). Ids are matched against the list,
    /// never used as paths.
    func file(for id: String?) throws -> URL {
        guard let id, id != "default" else { return defaultAvatar }
        let avatars = list()
        guard let entry = avatars.first(where: { $0.id == id }) else {
            let shown = id.count > 64 ? String(id.prefix(64)) + "…" : id
            throw ServiceError(.badRequest, "unknown avatar '\(shown)'; available: \(avatars.map(\.id).joined(separator: ", "))")
        }
        return directory.appendingPathComponent(entry.file)
    }

    /// The extension of an upload, from `?name=` or its content type; nil when neither says.
    static func fileExtension(name: String?, contentType: String?) -> String? {
        let fromName = URL(fileURLWithPath: name ?? "").pathExtension.lowercased()
        if extensions.contains(fromName) { return fromName }
        let type = contentType?.lowercased() ?? ""
        return contentTypes.first { type.hasPrefix($0.key) }?.value
    }

    /// A new upload: its id, the partial file to write and the final one.
    func reserve(fileExtension: String) -> (id: String, partial: URL, final: URL) {
        let id = "avatar-" + UUID().uuidString.lowercased().prefix(8)
        let final = directory.appendingPathComponent("\(id).\(fileExtension)")
        let partial = directory.appendingPathComponent("\(Self.partialPrefix)\(id).\(fileExtension)")
        return (String(id), partial, final)
    }
}
