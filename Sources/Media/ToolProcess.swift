import Dispatch
import Foundation

/// The one place the project starts a helper program (ffmpeg, ffprobe, Python tools): its stderr goes
/// to a log file (a chatty tool can never block on a full pipe), and its last lines become the error
/// message when it fails. `run` waits without blocking Swift's cooperative pool; `runBlocking` is for
/// code that already runs on a dispatch thread (avatar analysis).
package final class ToolProcess: @unchecked Sendable {
    package let process: Process
    package let errorLog: TemporaryFile

    /// Starts `executable`; `stdin`/`stdout` are a pipe, file handle or nil (the null device).
    package init(_ executable: URL, _ arguments: [String], stdin: Any? = nil, stdout: Any? = nil) throws {
        process = Process()
        process.executableURL = executable
        process.arguments = arguments
        errorLog = try TemporaryFile(suffix: ".log")
        process.standardInput = stdin ?? FileHandle.nullDevice
        process.standardOutput = stdout ?? FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: errorLog.url)
        try process.run()
    }

    /// Starts a program found on PATH.
    package convenience init(tool name: String, _ arguments: [String], stdin: Any? = nil, stdout: Any? = nil) throws {
        try self.init(try Self.locate(name), arguments, stdin: stdin, stdout: stdout)
    }

    /// The last lines the program wrote to stderr, for error messages.
    package var errorTail: String { errorLog.lastLines() }

    /// The error for a failed run: the program's name and the end of its stderr.
    package var failure: MediaError {
        .toolFailed(tool: process.executableURL?.lastPathComponent ?? "a helper program", message: errorTail)
    }

    /// Stops the program if it still runs. SIGKILL, because a child inherits the signal mask of the
    /// thread that started it, and Dispatch's threads (Swift's cooperative pool among them) block
    /// SIGTERM: a SIGTERM would wait, pending, until the program ends by itself.
    package func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Finds a program on PATH.
    package static func locate(_ name: String) throws -> URL {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let url = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw MediaError.toolMissing(name)
    }

    /// Runs a program to completion on the calling thread and returns its stdout.
    @discardableResult
    package static func runBlocking(_ executable: URL, _ arguments: [String], stdin: FileHandle? = nil) throws -> Data {
        let out = Pipe()
        let tool = try ToolProcess(executable, arguments, stdin: stdin, stdout: out)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        tool.process.waitUntilExit()
        guard tool.process.terminationStatus == 0 else { throw tool.failure }
        return data
    }

    /// Runs a program to completion and returns its stdout; the reading and waiting happen on a dispatch
    /// thread. Cancelling the task stops the program.
    @discardableResult
    package static func run(_ executable: URL, _ arguments: [String]) async throws -> Data {
        let out = Pipe()
        let tool = try ToolProcess(executable, arguments, stdout: out)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Data, Error>) in
                DispatchQueue.global().async {
                    let data = out.fileHandleForReading.readDataToEndOfFile()
                    tool.process.waitUntilExit()
                    if tool.process.terminationStatus == 0 {
                        continuation.resume(returning: data)
                    } else if tool.process.terminationReason == .uncaughtSignal {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        continuation.resume(throwing: tool.failure)
                    }
                }
            }
        } onCancel: {
            tool.terminate()
        }
    }

    /// Waits for the program to exit without blocking the cooperative pool; returns its status.
    package func waitForExit() async -> Int32 {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                self.process.waitUntilExit()
                continuation.resume(returning: self.process.terminationStatus)
            }
        }
    }
}
