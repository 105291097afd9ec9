import Foundation

/// Everything the service is started with. Defaults suit one machine serving a few users.
public struct ServerConfiguration: Sendable {
    public var host = "0.0.0.0"
    public var port = 3000
    /// Folder with wav2lip.onnx / wav2lip_gan.onnx.
    public var modelsDirectory: URL
    /// The avatar used when a request names none.
    public var defaultAvatar: URL
    /// MediaPipe .tflite files.
    public var assetsDirectory: URL
    /// Prepared avatars (cache) and uploaded avatars.
    public var avatarCacheDirectory: URL
    public var uploadedAvatarsDirectory: URL
    /// Where finished videos wait to be fetched.
    public var videosDirectory: URL
    /// Generations running at once.
    public var maxConcurrentJobs = 1
    /// Generations allowed to wait for a slot; more are refused with 429.
    public var maxQueuedJobs = 4
    public var maxTextCharacters = 5_000
    public var maxUploadBytes = 50 * 1024 * 1024
    /// Finished videos are deleted this long after they were made.
    public var videoLifetime: Duration = .seconds(600)
    public var fps = 25.0

    public init(modelsDirectory: URL, defaultAvatar: URL, assetsDirectory: URL, avatarCacheDirectory: URL,
                uploadedAvatarsDirectory: URL, videosDirectory: URL) {
        self.modelsDirectory = modelsDirectory
        self.defaultAvatar = defaultAvatar
        self.assetsDirectory = assetsDirectory
        self.avatarCacheDirectory = avatarCacheDirectory
        self.uploadedAvatarsDirectory = uploadedAvatarsDirectory
        self.videosDirectory = videosDirectory
    }

    /// The layout of a checkout: models/, .cache/assets, .cache/avatars, and a fresh videos folder in
    /// the temporary directory.
    public static func project(root: URL) -> ServerConfiguration {
        ServerConfiguration(
            modelsDirectory: root.appendingPathComponent("models"),
            defaultAvatar: root.appendingPathComponent(".cache/assets/astronaut.png"),
            assetsDirectory: root.appendingPathComponent(".cache/assets"),
            avatarCacheDirectory: root.appendingPathComponent(".cache/avatars"),
            uploadedAvatarsDirectory: root.appendingPathComponent(".cache/uploaded-avatars"),
            videosDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("lipsync-videos-\(UUID().uuidString)"))
    }
}
