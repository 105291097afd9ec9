import Foundation

/// Paths and process helpers shared by the test targets.
public enum Repository {
    /// The checkout root, found from this file's location.
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        fatalError("Package.swift not found above \(#filePath)")
    }()

    /// The project's Python (created by scripts/setup.sh --dev), with librosa, onnxruntime and friends.
    public static var python: URL { root.appendingPathComponent(".venv/bin/python") }

    public static func script(_ name: String) -> URL { root.appendingPathComponent("scripts/\(name)") }

    /// The `lipsync` executable built beside the test bundle.
    public static var lipsync: URL {
        let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("lipsync")
        if FileManager.default.isExecutableFile(atPath: besideTests.path) { return besideTests }
        return root.appendingPathComponent(".build/debug/lipsync")
    }

    /// A fresh temporary directory, removed by the caller when done (or left for inspection on failure).
    public static func temporaryDirectory(_ label: String = "lipsync-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum ProcessRunner {
    /// Runs a program to completion and captures its output (both pipes drained concurrently).
    public static func run(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) throws -> ProcessResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus,
                             stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errData, as: UTF8.self))
    }

    /// Runs the project's Python with a script or `-c` code.
    public static func python(_ arguments: [String]) throws -> ProcessResult {
        try run(Repository.python, arguments)
    }
}

/// Text fixtures spoken in several tests.
public enum SampleText {
    public static let russian = "Добрый день! Меня зовут Алиса. Сегодня мы проверим, как синтезатор произносит русский текст, и посчитаем мел-спектрограмму."
    public static let english = "Good afternoon! My name is Alice. Today we check how the synthesizer reads English text, and compute the mel spectrogram."
}

/// Runs blocking work (subprocesses, sleeps, a PostgreSQL cluster starting) on a thread of its own, so
/// that it does not hold one of the few threads of Swift's cooperative pool that async tests share.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
