import Foundation
import Logging
import PostgresNIO

/// The queue's tables, created and migrated at start-up by whichever process starts first (API node or
/// worker). Migrations are numbered and applied in order, each in its own transaction under an advisory
/// lock, and recorded in `lipsync_schema`; running them again does nothing. Never edit a released
/// migration: add the next one.
enum QueueSchema {
    /// Taken for the duration of a migration so that processes starting together do not race.
    static let lockKey = 0x4C49_5053_594E_43   // "LIPSYNC"

    static let migrations: [(version: Int, statements: [String])] = [
        (1, [
            """
            CREATE TABLE lipsync_jobs (
                id text PRIMARY KEY,
                mode text NOT NULL,
                request text NOT NULL,          -- the GenerateRequest as JSON, avatar replaced by its hash
                avatar_sha256 text NOT NULL,
                state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
                stage text NOT NULL DEFAULT 'queued',
                frames_done integer NOT NULL DEFAULT 0,
                frames_total integer NOT NULL DEFAULT 0,
                attempt integer NOT NULL DEFAULT 0,
                max_attempts integer NOT NULL,
                worker text,
                lease_expires timestamptz,
                heartbeat timestamptz,
                created timestamptz NOT NULL DEFAULT clock_timestamp(),
                claimed timestamptz,
                finished timestamptz,
                summary text,                   -- the GenerationSummary as JSON, once done
                video bytea,                    -- the MP4, once done (cleared after the video lifetime)
                video_bytes integer,
                error text,
                error_status integer
            )
            """,
            "CREATE INDEX lipsync_jobs_queued ON lipsync_jobs (created) WHERE state = 'queued'",
            "CREATE INDEX lipsync_jobs_leases ON lipsync_jobs (lease_expires) WHERE state = 'running'",
            "CREATE INDEX lipsync_jobs_finished ON lipsync_jobs (finished) WHERE finished IS NOT NULL",
            """
            CREATE TABLE lipsync_job_events (
                job text NOT NULL,
                attempt integer NOT NULL,
                worker text,
                event text NOT NULL,            -- claimed, completed, retried, failed, released, expired
                detail text,
                at timestamptz NOT NULL DEFAULT clock_timestamp()
            )
            """,
            "CREATE INDEX lipsync_job_events_job ON lipsync_job_events (job)",
            """
            CREATE TABLE lipsync_avatars (
                sha256 text PRIMARY KEY,
                extension text NOT NULL,
                data bytea NOT NULL,
                created timestamptz NOT NULL DEFAULT clock_timestamp()
            )
            """,
            """
            CREATE TABLE lipsync_uploads (
                id text PRIMARY KEY,
                file text NOT NULL,
                sha256 text NOT NULL REFERENCES lipsync_avatars (sha256),
                created timestamptz NOT NULL DEFAULT clock_timestamp()
            )
            """,
        ]),
    ]

    static var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Brings the database to the latest version; returns the versions applied now (empty when it was current).
    static func migrate(_ client: PostgresClient, logger: Logger) async throws -> [Int] {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS lipsync_schema (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())",
                                       logger: logger)
        }
        var applied: [Int] = []
        for migration in migrations {
            let done = try await client.withTransaction(logger: logger) { connection -> Bool in
                try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
                let rows = try await connection.query("SELECT 1 FROM lipsync_schema WHERE version = \(migration.version)", logger: logger)
                for try await _ in rows { return false }
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO lipsync_schema (version) VALUES (\(migration.version))", logger: logger)
                return true
            }
            if done { applied.append(migration.version) }
        }
        return applied
    }

    /// The version the database is at (0: none).
    static func version(_ client: PostgresClient, logger: Logger) async throws -> Int {
        let rows = try await client.query("SELECT coalesce(max(version), 0) FROM lipsync_schema", logger: logger)
        for try await version in rows.decode(Int.self) { return version }
        return 0
    }
}
