import Hummingbird

/// The request context of every route: Hummingbird's basics. Bodies are read with explicit limits per
/// route (JSON, uploads); this bounds anything read without one.
package struct AppRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    package init(source: Source) { coreContext = .init(source: source) }
    package var maxUploadSize: Int { 1024 * 1024 }
}
