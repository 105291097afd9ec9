import Foundation

/// A throwaway PostgreSQL cluster for tests: `initdb` in a temporary folder, listening on 127.0.0.1 at a
/// free port with its unix socket in that folder too, trust authentication, stopped and removed by
/// `remove()`. `initdb` refuses to run as root, so as root the cluster runs as Debian's `postgres` system
/// user (through `runuser`) and its folder is handed to that user. The server binaries come from
/// `pg_config --bindir` or Debian's /usr/lib/postgresql/<version>/bin (installed by scripts/setup.sh --dev).
public final class PostgresCluster: @unchecked Sendable {
    public let directory: URL
    public let port: Int
    public var dataDirectory: URL { directory.appendingPathComponent("data") }
    public var log: URL { directory.appendingPathComponent("postgres.log") }
    /// The URL the queue takes (`--queue`).
    public var url: String { "postgres://postgres@127.0.0.1:\(port)/postgres" }
    private let bin: URL
    private let asUser: String?
    private let lock = NSLock()
    private var server: Process?

    public init() throws {
        bin = try Self.binaries()
        asUser = getuid() == 0 ? "postgres" : nil
        directory = try Repository.temporaryDirectory("lipsync-pg")
        port = try Self.freePort()
        if let asUser {
            try Self.check(ProcessRunner.run(URL(fileURLWithPath: "/bin/chown"), ["-R", asUser, directory.path]), "chown")
            // The folder's parents must be traversable by that user.
            chmod(directory.deletingLastPathComponent().path, 0o1777)
        }
        try Self.check(run("initdb", ["-D", dataDirectory.path, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]), "initdb")
        try start()
    }

    /// Starts the server (again) and waits until it takes connections. The server is a child process of
    /// the tests (not daemonized by pg_ctl: Foundation's `waitUntilExit` does not return for a program
    /// whose descendants outlive it), its output in `log`.
    public func start() throws {
        let process = Process()
        var arguments = [bin.appendingPathComponent("postgres").path, "-D", dataDirectory.path, "-c", "listen_addresses=127.0.0.1",
                         "-p", "\(port)", "-c", "unix_socket_directories=\(directory.path)", "-c", "fsync=off", "-c", "max_connections=100"]
        if let asUser { arguments = ["-u", asUser, "--"] + arguments }
        process.executableURL = URL(fileURLWithPath: asUser == nil ? arguments.removeFirst() : "/usr/sbin/runuser")
        process.arguments = arguments
        if !FileManager.default.fileExists(atPath: log.path) { FileManager.default.createFile(atPath: log.path, contents: nil) }
        let output = try FileHandle(forWritingTo: log)
        output.seekToEndOfFile()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        try process.run()
        lock.withLock { server = process }
        for _ in 0..<300 {
            if (try? sql("SELECT 1")) == "1" { return }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "postgres did not start: \(text.suffix(2_000))"])
    }

    /// Whether the server this object started is running.
    public var isRunning: Bool { lock.withLock { server?.isRunning ?? false } }

    /// Stops the server (fast: open connections are closed), leaving its data in place.
    public func stop() {
        guard let process = lock.withLock({ server }) else { return }
        _ = try? run("pg_ctl", ["-D", dataDirectory.path, "-m", "fast", "-w", "-t", "60", "stop"])
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        lock.withLock { server = nil }
    }

    /// Stops the server and removes its folder.
    public func remove() {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs SQL with psql against the cluster; returns its output (tuples only, unaligned).
    public func sql(_ statement: String, database: String = "postgres") throws -> String {
        let result = try run("psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1",
                                      "-At", "-c", statement])
        try Self.check(result, "psql")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> ProcessResult {
        let program = tool == "psql" && !FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent(tool).path)
            ? URL(fileURLWithPath: "/usr/bin/psql") : bin.appendingPathComponent(tool)
        if let asUser {
            return try ProcessRunner.run(URL(fileURLWithPath: "/usr/sbin/runuser"), ["-u", asUser, "--", program.path] + arguments)
        }
        return try ProcessRunner.run(program, arguments)
    }

    private static func check(_ result: ProcessResult, _ what: String) throws {
        guard result.status == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "\(what) failed (\(result.status)): \(result.stderr) \(result.stdout)"])
        }
    }

    static func binaries() throws -> URL {
        if let config = try? ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), ["pg_config", "--bindir"]), config.status == 0 {
            let bin = URL(fileURLWithPath: config.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path) { return bin }
        }
        let root = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []).compactMap(Int.init).sorted()
        for version in versions.reversed() {
            let bin = root.appendingPathComponent("\(version)/bin")
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path) { return bin }
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "PostgreSQL's initdb not found: run scripts/setup.sh --dev"])
    }

    /// A TCP port nobody listens on right now.
    public static func freePort() throws -> Int {
        let result = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/python3"),
                                           ["-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
        guard let port = Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "no free port: \(result.stderr)"])
        }
        return port
    }
}
