import ArgumentParser

@main
struct LipSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lipsync",
        abstract: "Text to a lip-synced talking-avatar video.",
        subcommands: [SpeakCommand.self, VoicesCommand.self, MelCommand.self, ModelsCommand.self, BenchCommand.self]
    )
}
