import HTTPTypes
import Hummingbird

/// An error a client caused or should know about: it becomes `{"error": message}` with `status`.
public struct ServiceError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var message: String
    public var retryAfter: Int?

    public init(_ status: HTTPResponse.Status, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
    }
}
