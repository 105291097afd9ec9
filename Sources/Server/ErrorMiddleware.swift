import Avatar
import Foundation
import HTTPTypes
import Hummingbird
import LipSync
import Logging
import Media
import SpeechSynthesis

/// Turns every failure into `{"error": "..."}` with a fitting status, counts requests for /metrics,
/// and keeps internal details (paths, stack traces) in the log, not in answers.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServiceMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = Self.response(for: error, logger: context.logger)
        }
        let elapsed = ContinuousClock.now - start
        // The router fills in the matched endpoint while handling; unmatched paths count under themselves.
        metrics.recordRequest(route: context.endpointPath ?? request.uri.path, status: response.status.code,
                              seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        return response
    }

    static func response(for error: Error, logger: Logger) -> Response {
        let (status, message, retryAfter): (HTTPResponse.Status, String, Int?) = {
            switch error {
            case let error as ServiceError: return (error.status, error.message, error.retryAfter)
            case let error as SpeechError: return (.badRequest, error.description, nil)
            case let error as AvatarError:
                if case .corruptCache = error { return (.internalServerError, "internal error", nil) }
                return (.unprocessableContent, error.description, nil)
            case let error as LipSyncError: return (.badRequest, error.description, nil)
            case let error as DecodingError: return (.badRequest, "malformed JSON: \(Self.describe(error))", nil)
            case let error as HTTPResponseError:
                let message = error.status == .contentTooLarge ? "the upload is larger than the limit" : (error.status.reasonPhrase)
                return (error.status, message, nil)
            default: return (.internalServerError, "internal error", nil)
            }
        }()
        if status.code >= 500 { logger.error("request failed: \(String(reflecting: error))") }
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        let body = (try? JSONEncoder().encode(["error": message])) ?? Data("{\"error\":\"internal error\"}".utf8)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return "the body is not valid JSON"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "the body must be a JSON object" : "'\(path)' has the wrong type or is missing"
        @unknown default:
            return "unreadable body"
        }
    }
}
