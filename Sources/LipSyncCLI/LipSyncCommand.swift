import ArgumentParser
import Foundation
import CProcessSupport

@main
struct LipSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lipsync",
        abstract: "Text to a lip-synced talking-avatar video.",
        subcommands: [ServeCommand.self, WorkerCommand.self, GenerateCommand.self, SpeakCommand.self, VoicesCommand.self, MelCommand.self, AvatarCommand.self,
                      ModelsCommand.self, BenchCommand.self, SheetCommand.self]
    )

    static func main() async {
        // Figures appear line by line even when piped, and a dead ffmpeg is an error, not a SIGPIPE.
        lipsync_line_buffer_stdout()
        lipsync_ignore_sigpipe()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
