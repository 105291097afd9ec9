import ArgumentParser
import Foundation
import Logging
import Server

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Render jobs from a PostgreSQL job queue that API nodes (`lipsync serve --queue`) fill.",
        discussion: """
        Run as many as there are machines (each with its own models, voices and avatar cache). A worker \
        renews the lease on its job every lease/3 seconds; one that dies loses the job to another after the \
        lease. Options can also be set as LIPSYNC_<NAME> (e.g. LIPSYNC_QUEUE).
        """
    )

    @Option(help: "The job queue: postgres://user[:password]@host[:port]/database (?host=/socket/dir for a unix socket).") var queue: String?
    @Option(help: "This worker's name in the jobs API (default: host name and process id).") var name: String?
    @Option(help: "Seconds a claimed job stays this worker's without a heartbeat (default 15).") var lease: String?
    @Option(help: "Folder with wav2lip.onnx / wav2lip_gan.onnx (default: models/ in the project).") var models: String?
    @Option(help: "Folder with Piper voices, NAME.onnx + NAME.onnx.json (default: voices/ in the project; the bundled .cache/voices are always found).") var voices: String?
    @Option(help: "Default avatar (used to warm the cache; jobs carry their own).") var avatar: String?
    @Option(help: "Longest text accepted, in characters (default 5000).") var maxCharacters: String?
    @Option(help: "Parallel workers in same mode (default 2).") var workers: String?
    @Option(help: "Wav2Lip inference precision: auto, f32 or bf16 (default auto).") var precision: String?

    func run() async throws {
        let configuration = try ServeCommand.resolve([
            (.queue, queue), (.lease, lease), (.models, models), (.voices, voices), (.avatar, avatar), (.maxCharacters, maxCharacters),
            (.workers, workers), (.precision, precision),
        ])
        guard configuration.queue != nil else { throw ValidationError("--queue postgres://... (or LIPSYNC_QUEUE) is required") }
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "worker"
        var logger = Logger(label: "lipsync-worker")
        logger.logLevel = .info
        do {
            try await runWorker(configuration: configuration, name: name ?? "\(host)-\(getpid())", logger: logger)
        } catch let error as ConfigurationError {
            throw ValidationError(error.description)
        }
    }
}
