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
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.60.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.21.0"),
    ],
    targets: [
        // C libraries from Debian (installed by scripts/setup.sh), each behind one module map.
        .systemLibrary(name: "CEspeakNG", pkgConfig: "espeak-ng", providers: [.apt(["libespeak-ng-dev"])]),
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3", providers: [.apt(["libfftw3-dev"])]),
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),
        // Header-only helpers for process settings (stdout buffering, SIGPIPE).
        .systemLibrary(name: "CProcessSupport"),
        // OpenVINO's C API from the PyPI wheel; scripts/setup.sh writes its openvino-c.pc.
        .systemLibrary(name: "COpenVINO", pkgConfig: "openvino-c"),

        // Stage: text -> PCM + phoneme/word timeline: espeak-ng, Piper voices (over Inference), Festival (a process).
        .target(name: "SpeechSynthesis", dependencies: ["CEspeakNG", "Inference", "AudioFeatures", "Media"]),
        // Stage: resampling, WAV I/O, Wav2Lip-exact mel spectrogram and per-frame windows.
        .target(name: "AudioFeatures", dependencies: ["CFFTW", "CSoxr"]),
        // Neural inference: compiled models and infer-request pools over OpenVINO.
        .target(name: "Inference", dependencies: ["COpenVINO"]),
        // Stage: lip-sync engines (Wav2Lip over Inference) and the model catalog.
        // (Checkpoints are converted by a Python script that Media's ToolProcess starts.)
        .target(name: "LipSync", dependencies: ["Inference", "Imaging", "Media", .product(name: "Crypto", package: "swift-crypto")]),
        // RGB images: crop, resize, draw.
        .target(name: "Imaging"),
        // ffmpeg/ffprobe subprocesses: probe, decode, encode.
        .target(name: "Media", dependencies: ["Imaging", "AudioFeatures"]),
        // Stage: face detection and landmarks (MediaPipe via OpenVINO), prepared avatars and their cache.
        .target(name: "Avatar", dependencies: ["Imaging", "Inference", "LipSync", "Media", .product(name: "Crypto", package: "swift-crypto")]),
        // Stage: pasting generated patches back into frames.
        .target(name: "Compositing", dependencies: ["Imaging", "LipSync"]),
        // Regular (and parallel) generation: the stages wired together, with timings.
        .target(name: "Pipeline", dependencies: [
            "SpeechSynthesis", "AudioFeatures", "Inference", "LipSync", "Avatar", "Compositing", "Media", "Imaging",
            .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
        ]),

        // The HTTP service: controllers over a backend protocol, admission, jobs, storage, the test page.
        .target(name: "Server", dependencies: [
            "Pipeline", "Avatar", "Compositing", "LipSync", "Inference", "SpeechSynthesis", "AudioFeatures", "Media", "Imaging",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
        ], resources: [.copy("Resources/openapi.json")]),

        .executableTarget(
            name: "LipSyncCLI",
            dependencies: [
                "SpeechSynthesis", "AudioFeatures", "Inference", "LipSync", "Imaging", "Media", "Avatar", "Compositing", "Pipeline", "Server", "CProcessSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Paths, subprocesses and fixtures shared by the test targets.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "SpeechSynthesisTests", dependencies: ["SpeechSynthesis", "Inference", "TestSupport"]),
        .testTarget(name: "AudioFeaturesTests", dependencies: ["AudioFeatures", "SpeechSynthesis", "TestSupport"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "LipSync", "AudioFeatures", "SpeechSynthesis", "Imaging", "Media", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Pipeline", "Avatar", "Compositing", "Imaging", "Media", "Inference", "LipSync", "AudioFeatures", "SpeechSynthesis", "TestSupport"]),
        .testTarget(name: "ServerTests", dependencies: [
            "Server", "Pipeline", "LipSync", "Avatar", "Media", "SpeechSynthesis", "TestSupport",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "CLITests", dependencies: ["LipSyncCLI", "Media", "TestSupport"]),
    ]
)
