import Foundation

/// RIFF/WAVE reading and writing. Reads 8/16/24/32-bit PCM and 32/64-bit float, any channel count
/// (mixed down to mono); writes 16-bit PCM or 32-bit float mono.
package enum WAVFile {
    package enum SampleFormat: Sendable {
        case pcm16
        case float32
    }

    package static func read(_ url: URL) throws -> AudioBuffer {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw AudioError.unreadable("\(url.path): \(error.localizedDescription)")
        }
        return try decode(data, name: url.lastPathComponent)
    }

    package static func decode(_ data: Data, name: String = "data") throws -> AudioBuffer {
        let bytes = [UInt8](data)
        func u32(_ offset: Int) -> UInt32 {
            UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
        }
        func u16(_ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
        func tag(_ offset: Int) -> String { String(decoding: bytes[offset..<offset + 4], as: UTF8.self) }

        guard bytes.count >= 12, tag(0) == "RIFF", tag(8) == "WAVE" else {
            throw AudioError.unsupportedFormat("\(name) is not a RIFF/WAVE file")
        }
        var format: (code: UInt16, channels: Int, rate: Int, bits: Int)?
        var offset = 12
        while offset + 8 <= bytes.count {
            let chunk = tag(offset)
            let size = Int(u32(offset + 4))
            let body = offset + 8
            if chunk == "fmt " {
                guard size >= 16, body + 16 <= bytes.count else { throw AudioError.unsupportedFormat("\(name): short fmt chunk") }
                var code = u16(body)
                if code == 0xFFFE, size >= 40 { code = u16(body + 24) }  // WAVE_FORMAT_EXTENSIBLE: sub-format GUID
                format = (code, Int(u16(body + 2)), Int(u32(body + 4)), Int(u16(body + 14)))
            } else if chunk == "data" {
                guard let format else { throw AudioError.unsupportedFormat("\(name): data before fmt chunk") }
                let end = min(bytes.count, body + size)
                return try decodeSamples(bytes[body..<end], format: format, name: name)
            }
            offset = body + size + (size & 1)
        }
        throw AudioError.unsupportedFormat("\(name) has no data chunk")
    }

    private static func decodeSamples(
        _ bytes: ArraySlice<UInt8>, format: (code: UInt16, channels: Int, rate: Int, bits: Int), name: String
    ) throws -> AudioBuffer {
        let channels = format.channels
        guard channels > 0, format.rate > 0 else { throw AudioError.unsupportedFormat("\(name): \(channels) channels at \(format.rate) Hz") }
        let width = format.bits / 8
        let decodeOne: (ArraySlice<UInt8>.Index) -> Float
        switch (format.code, format.bits) {
        case (1, 8): decodeOne = { (Float(bytes[$0]) - 128) / 128 }
        case (1, 16): decodeOne = { Float(Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8)) / 32_768 }
        case (1, 24):
            decodeOne = {
                let raw = Int32(bitPattern: UInt32(bytes[$0]) << 8 | UInt32(bytes[$0 + 1]) << 16 | UInt32(bytes[$0 + 2]) << 24)
                return Float(raw >> 8) / 8_388_608
            }
        case (1, 32):
            decodeOne = {
                let raw = UInt32(bytes[$0]) | UInt32(bytes[$0 + 1]) << 8 | UInt32(bytes[$0 + 2]) << 16 | UInt32(bytes[$0 + 3]) << 24
                return Float(Double(Int32(bitPattern: raw)) / 2_147_483_648)
            }
        case (3, 32):
            decodeOne = {
                Float(bitPattern: UInt32(bytes[$0]) | UInt32(bytes[$0 + 1]) << 8 | UInt32(bytes[$0 + 2]) << 16 | UInt32(bytes[$0 + 3]) << 24)
            }
        case (3, 64):
            decodeOne = { start in
                var raw: UInt64 = 0
                for k in 0..<8 { raw |= UInt64(bytes[start + k]) << (8 * UInt64(k)) }
                return Float(Double(bitPattern: raw))
            }
        default:
            throw AudioError.unsupportedFormat("\(name): format code \(format.code) with \(format.bits) bits per sample")
        }
        let frameWidth = width * channels
        let frames = bytes.count / frameWidth
        var samples = [Float](repeating: 0, count: frames)
        let base = bytes.startIndex
        for frame in 0..<frames {
            var sum: Float = 0
            for channel in 0..<channels { sum += decodeOne(base + frame * frameWidth + channel * width) }
            samples[frame] = channels == 1 ? sum : sum / Float(channels)
        }
        return AudioBuffer(samples: samples, sampleRate: format.rate)
    }

    package static func encode(_ audio: AudioBuffer, format: SampleFormat = .pcm16) -> Data {
        let bytesPerSample = format == .pcm16 ? 2 : 4
        let dataSize = audio.samples.count * bytesPerSample
        var out = Data(capacity: 44 + dataSize)
        func put32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        func put16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        out.append(contentsOf: Array("RIFF".utf8)); put32(UInt32(36 + dataSize))
        out.append(contentsOf: Array("WAVE".utf8))
        out.append(contentsOf: Array("fmt ".utf8)); put32(16)
        put16(format == .pcm16 ? 1 : 3)
        put16(1)
        put32(UInt32(audio.sampleRate))
        put32(UInt32(audio.sampleRate * bytesPerSample))
        put16(UInt16(bytesPerSample))
        put16(UInt16(bytesPerSample * 8))
        out.append(contentsOf: Array("data".utf8)); put32(UInt32(dataSize))
        switch format {
        case .pcm16:
            for sample in audio.samples {
                // The same scale as reading (x / 32768), so a round trip is exact to half a step.
                let scaled = (sample * 32_768).rounded()
                put16(UInt16(bitPattern: Int16(max(-32_768, min(32_767, scaled)))))
            }
        case .float32:
            for sample in audio.samples { put32(sample.bitPattern) }
        }
        return out
    }

    package static func write(_ audio: AudioBuffer, to url: URL, format: SampleFormat = .pcm16) throws {
        try encode(audio, format: format).write(to: url, options: .atomic)
    }
}
