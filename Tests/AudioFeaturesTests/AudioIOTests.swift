import AudioFeatures
import Foundation
import Testing
import TestSupport

@Suite struct AudioIOTests {
    @Test func wavRoundTripsAtBothSampleFormats() throws {
        let samples: [Float] = (0..<1000).map { sin(Float($0) * 0.05) * 0.8 }
        let audio = AudioBuffer(samples: samples, sampleRate: 22_050)
        let float = try WAVFile.decode(WAVFile.encode(audio, format: .float32))
        #expect(float == audio)
        let pcm = try WAVFile.decode(WAVFile.encode(audio, format: .pcm16))
        #expect(pcm.sampleRate == 22_050 && pcm.samples.count == 1000)
        #expect(zip(pcm.samples, samples).allSatisfy { abs($0 - $1) < 1.0 / 32_000 })
    }

    @Test func stereoIsMixedToMono() throws {
        // A 16-bit stereo file written by hand: left = 0.5, right = -0.25 -> mono 0.125.
        var data = Data()
        func put32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        func put16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        data.append(contentsOf: Array("RIFF".utf8)); put32(36 + 8)
        data.append(contentsOf: Array("WAVEfmt ".utf8)); put32(16)
        put16(1); put16(2); put32(8000); put32(32000); put16(4); put16(16)
        data.append(contentsOf: Array("data".utf8)); put32(8)
        for _ in 0..<2 { put16(UInt16(bitPattern: 16_384)); put16(UInt16(bitPattern: -8_192)) }
        let audio = try WAVFile.decode(data)
        #expect(audio.sampleRate == 8000)
        #expect(audio.samples == [0.125, 0.125])
    }

    @Test func rejectsWhatIsNotAWAV() {
        #expect(throws: AudioError.self) { try WAVFile.decode(Data("not a wav file at all".utf8)) }
        #expect(throws: AudioError.self) { try WAVFile.read(URL(fileURLWithPath: "/nonexistent/file.wav")) }
    }

    @Test func resamplingKeepsLengthAndPitch() throws {
        let rate = 22_050, frequency = 440.0
        let samples = (0..<rate).map { Float(sin(2 * Double.pi * frequency * Double($0) / Double(rate)) * 0.5) }
        let out = try Resampler.resample(AudioBuffer(samples: samples, sampleRate: rate), to: 16_000)
        #expect(out.sampleRate == 16_000)
        #expect(abs(out.samples.count - 16_000) <= 1)
        // Away from the edges the output is the same sine sampled at 16 kHz.
        let error = (1_000..<15_000).map { i in
            abs(Double(out.samples[i]) - 0.5 * sin(2 * Double.pi * frequency * Double(i) / 16_000))
        }.max()!
        #expect(error < 1e-3)
    }

    @Test func ditherFillsOnlyExactZerosAndIsIdempotent() {
        var samples: [Float] = [0, 0, 0, 0.5, -0.25, 0, 0, 1e-7]
        SilenceDither.apply(to: &samples)
        #expect(samples.allSatisfy { $0 != 0 })
        #expect(samples[3] == 0.5 && samples[4] == -0.25 && samples[7] == 1e-7)
        #expect([0, 1, 2, 5, 6].allSatisfy { abs(samples[$0]) <= SilenceDither.amplitude })
        let once = samples
        SilenceDither.apply(to: &samples)
        #expect(samples == once)
        var again: [Float] = [0, 0, 0, 0.5, -0.25, 0, 0, 1e-7]
        SilenceDither.apply(to: &again)
        #expect(again == once)
    }

    @Test func npyRoundTrips() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("a.npy")
        let values: [Float] = (0..<12).map { Float($0) * 0.5 - 2 }
        try NPYFile.write(values, shape: [3, 4], to: url)
        let read = try NPYFile.read(url)
        #expect(read.values == values && read.shape == [3, 4])
        // numpy's header must be 64-byte aligned.
        let data = try Data(contentsOf: url)
        #expect((data.count - 48) % 64 == 0)
    }
}
