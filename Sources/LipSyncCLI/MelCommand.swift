import ArgumentParser
import AudioFeatures
import Foundation

struct MelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mel",
        abstract: "Compute the Wav2Lip mel spectrogram of a WAV file and write it as float32 .npy [80, T].",
        discussion: "The audio is mixed to mono, resampled to 16 kHz and dithered on digital silence first, as the generator does."
    )

    @Argument(help: "Input WAV file.")
    var input: String

    @Option(name: .shortAndLong, help: "Output .npy file.")
    var output: String

    func run() async throws {
        let audio = try LipSyncAudio.prepare(try WAVFile.read(URL(fileURLWithPath: input)))
        let mel = try MelSpectrogram().compute(audio.samples)
        try NPYFile.write(mel.values, shape: [mel.bands, mel.frames], to: URL(fileURLWithPath: output))
        print("wrote \(output): [\(mel.bands), \(mel.frames)] float32")
    }
}
