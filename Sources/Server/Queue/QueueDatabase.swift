import Foundation
import Logging
import PostgresNIO

/// Where the job queue lives: a `postgres://user[:password]@host[:port]/database` URL (`?host=/dir` for a
/// unix socket directory, as libpq spells it). TLS is not negotiated: run the queue's PostgreSQL on a
/// private network or a unix socket.
package struct QueueAddress: Sendable, Equatable, CustomStringConvertible {
    package var host: String
    package var port: Int
    package var socketDirectory: String?
    package var user: String
    package var password: String?
    package var database: String

    package init(_ text: String) throws {
        guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme ?? "") else {
            throw ConfigurationError("--queue: '\(Self.redacted(text))' is not a postgres://user@host:port/database URL")
        }
        host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost"
        port = components.port ?? 5432
        user = components.user.flatMap { $0.removingPercentEncoding } ?? "postgres"
        password = components.password?.removingPercentEncoding
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        database = path.isEmpty ? user : path
        socketDirectory = components.queryItems?.first { $0.name == "host" }?.value.flatMap { $0.hasPrefix("/") ? $0 : nil }
        for item in components.queryItems ?? [] where item.name == "sslmode" && !["disable", "allow", "prefer"].contains(item.value ?? "") {
            throw ConfigurationError("--queue: sslmode=\(item.value ?? "") is not supported (the queue connects without TLS)")
        }
    }

    /// The URL without its password, for logs.
    package var description: String {
        "postgres://\(user)@\(socketDirectory.map { "[\($0)]" } ?? host):\(port)/\(database)"
    }

    static func redacted(_ text: String) -> String {
        text.replacingOccurrences(of: #":[^:@/]*@"#, with: ":***@", options: .regularExpression)
    }

    var clientConfiguration: PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketDirectory {
            configuration = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: .disable)
        }
        configuration.options.connectTimeout = .seconds(3)
        configuration.options.maximumConnections = 8
        return configuration
    }

    var connectionConfiguration: PostgresConnection.Configuration {
        var configuration: PostgresConnection.Configuration
        if let socketDirectory {
            configuration = .init(unixSocketPath: "\(socketDirectory)/.s.PGSQL.\(port)", username: user, password: password, database: database)
        } else {
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: .disable)
        }
        configuration.options.connectTimeout = .seconds(3)
        return configuration
    }
}

/// The queue's database could not be reached (or did not answer in time): a 503 with Retry-After for
/// clients, a retry with backoff for workers.
package struct QueueUnavailable: Error, CustomStringConvertible {
    package var reason: String
    package var description: String { "the job queue's database is unavailable: \(reason)" }

    var serviceError: ServiceError {
        ServiceError(.serviceUnavailable, "the job queue is unavailable (its database cannot be reached); try again shortly", retryAfter: 5)
    }
}

/// Runs one database operation with a deadline. The connection pool waits for a connection while the
/// server is away; the deadline turns that into `QueueUnavailable` instead of a request that hangs.
/// Errors of SQL itself (a bug) pass through; connection-level failures become `QueueUnavailable`.
func withDatabase<T: Sendable>(timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    do {
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            if let first = try await group.next(), let value = first { return value }
            // The deadline passed. Stop waiting (a connection being waited for is given up); an operation
            // that did finish meanwhile still counts, so a slow answer is never mistaken for an outage.
            group.cancelAll()
            if let late = try? await group.next(), let value = late { return value }
            throw QueueUnavailable(reason: "no answer within \(timeout)")
        }
    } catch let error as PSQLError {
        // A server error is SQL's own, except the classes that mean the server is going or gone
        // (57: operator intervention such as a shutdown, 08: connection exception, 53: resources).
        if error.code == .server, let state = error.serverInfo?[.sqlState], !["57", "08", "53"].contains(String(state.prefix(2))) {
            throw error
        }
        throw QueueUnavailable(reason: String(describing: error.code))
    } catch let error as CancellationError {
        throw error
    } catch let error as QueueUnavailable {
        throw error
    } catch let error where error is ChannelError || error is IOError || String(describing: type(of: error)).contains("Connection") {
        throw QueueUnavailable(reason: String(describing: error))
    }
}
