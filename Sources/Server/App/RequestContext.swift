import Hummingbird

/// The request context of every route: Hummingbird's basics. Bodies are read with explicit limits per
/// route (JSON, uploads); this bounds anything read without one.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public init(source: Source) { coreContext = .init(source: source) }
    public var maxUploadSize: Int { 1024 * 1024 }
}
