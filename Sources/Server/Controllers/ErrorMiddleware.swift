import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Turns every failure into `{"error": "..."}` through the one mapping (`ServiceError(mapping:)`),
/// logs server faults with their details (which never reach the answer) and counts requests for /metrics.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServiceMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            var failure = ServiceError(mapping: error)
            if failure.status == .notFound, error is HTTPError {
                failure.message = "no route \(request.method) \(Self.shown(request.uri.path))"
            } else if failure.status == .methodNotAllowed {
                failure.message = "\(request.method) is not allowed on \(Self.shown(request.uri.path))"
            }
            if failure.isServerFault { context.logger.error("request failed: \(String(reflecting: error))") }
            response = try failure.response(from: request, context: context)
        }
        let elapsed = ContinuousClock.now - start
        // Routes by their pattern (Hummingbird labels every unmatched path "NotFound"), so odd paths
        // cannot grow the metrics.
        metrics.recordRequest(route: context.endpointPath ?? "NotFound", status: Int(response.status.code),
                              seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        return response
    }

    static func shown(_ path: String) -> String { path.count > 80 ? String(path.prefix(80)) + "…" : path }
}

/// A JSON answer in the API's one encoding.
func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json; charset=utf-8"
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try WireJSON.encoder().encode(value))))
}
