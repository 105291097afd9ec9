// swift-tools-version:6.0
// The text-to-talking-avatar service. One library target per pipeline stage (see docs/ARCHITECTURE.md),
// thin C modules for the system libraries, one `lipsync` executable.
import PackageDescription

let package = Package(
    name: "LipSync",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "lipsync", targets: ["LipSyncCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries from Debian (installed by scripts/setup.sh), each behind one module map.
        .systemLibrary(name: "CEspeakNG", pkgConfig: "espeak-ng", providers: [.apt(["libespeak-ng-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3", providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),

        // Stage: text -> PCM + phoneme/word timeline.
        .target(name: "SpeechSynthesis", dependencies: ["CEspeakNG"]),
        // Stage: resampling, WAV I/O, Wav2Lip-exact mel spectrogram and per-frame windows.
        .target(name: "AudioFeatures", dependencies: ["CFFTW", "CSoxr"]),

        .executableTarget(
            name: "LipSyncCLI",
            dependencies: [
                "SpeechSynthesis", "AudioFeatures",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Paths, subprocesses and fixtures shared by the test targets.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "SpeechSynthesisTests", dependencies: ["SpeechSynthesis"]),
        .testTarget(name: "AudioFeaturesTests", dependencies: ["AudioFeatures", "SpeechSynthesis", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["LipSyncCLI", "TestSupport"]),
    ]
)
