import CFFTW
import Foundation

/// The analysis parameters of a mel spectrogram. `wav2lip` holds the values the Wav2Lip models were
/// trained with (its `hparams.py` and `audio.py`, librosa 0.7 defaults included).
package struct MelParameters: Sendable, Hashable {
    package var sampleRate: Int
    package var fftSize: Int
    package var hopLength: Int
    package var melBands: Int
    package var minFrequency: Double
    package var maxFrequency: Double
    package var preemphasis: Double
    /// Subtracted from the dB values before normalising.
    package var referenceLevelDB: Double
    /// The dB value mapped to the bottom of the normalised range.
    package var minLevelDB: Double
    /// Output range is [-maxAbsValue, maxAbsValue].
    package var maxAbsValue: Double
    /// Amplitudes below this floor are clamped before taking the log.
    package var amplitudeFloor: Double

    package static let wav2lip = MelParameters(
        sampleRate: 16_000, fftSize: 800, hopLength: 200, melBands: 80,
        minFrequency: 55, maxFrequency: 7_600, preemphasis: 0.97,
        referenceLevelDB: 20, minLevelDB: -100, maxAbsValue: 4, amplitudeFloor: 1e-5
    )

    /// Mel columns per second of audio (80 for Wav2Lip).
    package var framesPerSecond: Double { Double(sampleRate) / Double(hopLength) }
}

/// A mel spectrogram, `bands` rows by `frames` columns, stored row-major like numpy's [80, T].
package struct MelMatrix: Sendable, Equatable {
    package let bands: Int
    package let frames: Int
    package var values: [Float]

    package init(bands: Int, frames: Int, values: [Float]) {
        precondition(values.count == bands * frames)
        self.bands = bands
        self.frames = frames
        self.values = values
    }

    package subscript(band: Int, frame: Int) -> Float { values[band * frames + frame] }

    /// Columns `start ..< start + width`, row-major `[bands, width]` (the layout of a [1, 80, 16] input).
    package func window(start: Int, width: Int) -> [Float] {
        precondition(start >= 0 && start + width <= frames, "mel window \(start)+\(width) outside \(frames) columns")
        var out = [Float](repeating: 0, count: bands * width)
        values.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for band in 0..<bands {
                    let from = source.baseAddress! + band * frames + start
                    (target.baseAddress! + band * width).update(from: from, count: width)
                }
            }
        }
        return out
    }
}

/// The Wav2Lip mel spectrogram: pre-emphasis, centred STFT with reflect padding and a periodic Hann
/// window (FFTW), magnitude, Slaney mel filters, dB with a reference level, symmetric normalisation.
package final class MelSpectrogram: @unchecked Sendable {
    package let parameters: MelParameters
    private let filters: [MelFilter]
    private let window: [Double]
    private let plan: fftw_plan
    private let fftInput: UnsafeMutablePointer<Double>
    private let fftOutput: UnsafeMutablePointer<fftw_complex>
    /// `compute` reuses the FFT buffers, so one computation runs at a time per instance.
    private let lock = NSLock()

    package init(parameters: MelParameters = .wav2lip) {
        self.parameters = parameters
        let n = parameters.fftSize
        window = (0..<n).map { 0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(n)) }  // periodic Hann
        filters = MelFilter.slaneyBank(parameters)
        let input = fftw_alloc_real(n)!
        let output = fftw_alloc_complex(n / 2 + 1)!
        fftInput = input
        fftOutput = output
        // FFTW's planner is not thread-safe; execution with a finished plan is.
        plan = FFTWPlanner.lock.withLock {
            fftw_plan_dft_r2c_1d(Int32(n), input, output, FFTWPlanner.estimate)
        }
    }

    deinit {
        FFTWPlanner.lock.withLock { fftw_destroy_plan(plan) }
        fftw_free(fftInput)
        fftw_free(fftOutput)
    }

    /// Computes the normalised mel spectrogram of mono audio at `parameters.sampleRate`.
    package func compute(_ samples: [Float]) throws -> MelMatrix {
        let p = parameters
        let pad = p.fftSize / 2
        guard samples.count > pad else {
            throw AudioError.tooShort("\(samples.count) samples; the mel spectrogram needs more than \(pad)")
        }
        // Pre-emphasis y[n] = x[n] - k x[n-1], then reflect padding (edge sample not repeated).
        let count = samples.count
        var padded = [Double](repeating: 0, count: count + 2 * pad)
        for i in 0..<count {
            padded[pad + i] = Double(samples[i]) - (i > 0 ? p.preemphasis * Double(samples[i - 1]) : 0)
        }
        for i in 0..<pad {
            padded[pad - 1 - i] = padded[pad + 1 + i]
            padded[pad + count + i] = padded[pad + count - 2 - i]
        }

        let frames = 1 + count / p.hopLength
        let bins = p.fftSize / 2 + 1
        var values = [Float](repeating: 0, count: p.melBands * frames)
        var magnitude = [Double](repeating: 0, count: bins)
        let scale = 2 * p.maxAbsValue / -p.minLevelDB
        lock.lock()
        defer { lock.unlock() }
        for frame in 0..<frames {
            let offset = frame * p.hopLength
            for k in 0..<p.fftSize { fftInput[k] = padded[offset + k] * window[k] }
            fftw_execute(plan)
            for k in 0..<bins {
                let (re, im) = fftOutput[k]
                magnitude[k] = (re * re + im * im).squareRoot()
            }
            for (band, filter) in filters.enumerated() {
                var energy = 0.0
                for (j, weight) in filter.weights.enumerated() { energy += weight * magnitude[filter.firstBin + j] }
                let db = 20 * log10(max(p.amplitudeFloor, energy)) - p.referenceLevelDB
                let normalised = scale * (db - p.minLevelDB) - p.maxAbsValue
                values[band * frames + frame] = Float(min(p.maxAbsValue, max(-p.maxAbsValue, normalised)))
            }
        }
        return MelMatrix(bands: p.melBands, frames: frames, values: values)
    }
}

enum FFTWPlanner {
    static let lock = NSLock()
    static let estimate = UInt32(1 << 6)  // FFTW_ESTIMATE: the macro is not importable
}

/// One triangular mel filter, stored over its non-zero bins only.
struct MelFilter {
    var firstBin: Int
    var weights: [Double]

    /// Slaney-style mel scale and area-normalised triangles, as librosa's `filters.mel` defaults.
    static func slaneyBank(_ p: MelParameters) -> [MelFilter] {
        let bins = p.fftSize / 2 + 1
        let binFrequencies = (0..<bins).map { Double($0) * Double(p.sampleRate) / Double(p.fftSize) }
        let lowMel = hzToMel(p.minFrequency), highMel = hzToMel(p.maxFrequency)
        let edges = (0..<(p.melBands + 2)).map {
            melToHz(lowMel + (highMel - lowMel) * Double($0) / Double(p.melBands + 1))
        }
        return (0..<p.melBands).map { band in
            let lower = edges[band], centre = edges[band + 1], upper = edges[band + 2]
            let norm = 2 / (upper - lower)
            let dense = binFrequencies.map { f in
                max(0, min((f - lower) / (centre - lower), (upper - f) / (upper - centre))) * norm
            }
            guard let first = dense.firstIndex(where: { $0 > 0 }), let last = dense.lastIndex(where: { $0 > 0 }) else {
                return MelFilter(firstBin: 0, weights: [])
            }
            return MelFilter(firstBin: first, weights: Array(dense[first...last]))
        }
    }

    private static let linearStep = 200.0 / 3
    private static let logStart = 1_000.0
    private static let logStartMel = logStart / linearStep
    private static let logStep = log(6.4) / 27

    static func hzToMel(_ hz: Double) -> Double {
        hz >= logStart ? logStartMel + log(hz / logStart) / logStep : hz / linearStep
    }

    static func melToHz(_ mel: Double) -> Double {
        mel >= logStartMel ? logStart * exp(logStep * (mel - logStartMel)) : mel * linearStep
    }
}
