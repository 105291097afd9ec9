import AudioFeatures
import Avatar
import Foundation
import HTTPTypes
import Hummingbird
import Inference
import LipSync
import Media
import NIOCore
import NIOHTTP1
import Pipeline
import SpeechSynthesis

/// An error as a client sees it: a status and a message, rendered as `{"error": message}`. Every error
/// of every layer becomes one through `ServiceError(mapping:)`, the one mapping used for synchronous
/// requests and for jobs alike, so the same bad input gets the same answer on every route.
package struct ServiceError: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    package var status: HTTPResponse.Status
    package var message: String
    package var retryAfter: Int?

    package init(_ status: HTTPResponse.Status, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.retryAfter = retryAfter
    }

    package var description: String { "\(status.code) \(message)" }

    static let internalMessage = "internal error"

    /// Maps any error to what the client is told. Client mistakes are 4xx with the reason; failures of
    /// the server are 5xx with a generic message (details go to the log, never to the answer).
    package init(mapping error: Error) {
        switch error {
        case let error as ServiceError:
            self = error
        case let error as HTTPError:
            let message = error.status == .contentTooLarge ? "the request body is larger than the limit" : (error.body ?? error.status.reasonPhrase)
            self.init(error.status, message)
        case let error as HTTPParserError:
            // The client broke HTTP (a body shorter than its length, bad framing): its fault, not ours.
            self.init(.badRequest, "malformed HTTP request: \(error.debugDescription)")
        case is NIOTooManyBytesError:
            self.init(.contentTooLarge, "the request body is larger than the limit")
        case let error as DecodingError:
            self.init(.badRequest, "malformed JSON: \(Self.describe(error))")
        case let error as SpeechError:
            if case .engineFailure = error { self.init(.internalServerError, Self.internalMessage) } else { self.init(.badRequest, error.description) }
        case let error as LipSyncError:
            if case .malformedModel = error { self.init(.internalServerError, Self.internalMessage) } else { self.init(.badRequest, error.description) }
        case let error as GenerationError:
            self.init(.badRequest, error.description)
        case let error as AvatarError:
            if case .corruptCache = error { self.init(.internalServerError, Self.internalMessage) } else { self.init(.unprocessableContent, error.description) }
        case let error as MediaError:
            if case .unreadable = error { self.init(.unprocessableContent, error.description) } else { self.init(.internalServerError, Self.internalMessage) }
        case let error as AudioError:
            if case .resamplingFailed = error { self.init(.internalServerError, Self.internalMessage) } else { self.init(.unprocessableContent, error.description) }
        case let error as QueueUnavailable:
            self = error.serviceError
        case is CancellationError:
            self.init(.serviceUnavailable, "the generation was cancelled: the server is shutting down")
        default:
            self.init(.internalServerError, Self.internalMessage)
        }
    }

    package var isServerFault: Bool { status.code >= 500 }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        let body = try WireJSON.encoder().encode(ErrorDTO(error: message))
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return "the body is not valid JSON"
        case .typeMismatch(_, let context) where context.codingPath.isEmpty:
            return "the body must be a JSON object"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "the body must be a JSON object" : "'\(path)' has the wrong type or is out of range"
        @unknown default:
            return "unreadable body"
        }
    }
}
