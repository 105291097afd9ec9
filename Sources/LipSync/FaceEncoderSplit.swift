import Foundation
import Imaging
import Inference

/// A Wav2Lip model cut into its face encoder and the rest (by scripts/split_wav2lip.py). The encoder's
/// input is the face crop only, which never changes for a still avatar, so its features are computed
/// once per distinct crop and reused for every frame; the decoder takes the mel and those features.
package final class FaceEncoderSplit: @unchecked Sendable {
    package let encoder: CompiledModel
    package let decoder: CompiledModel
    let faceInput: String
    let melInput: String
    let output: String
    /// Features of recent crops, by a hash of their pixels (a still avatar has one).
    private var cache: [Int: (crop: RGBImage, features: [String: Tensor])] = [:]
    private var order: [Int] = []
    private let lock = NSLock()
    static let cacheSize = 64

    package init(encoder: CompiledModel, decoder: CompiledModel) throws {
        self.encoder = encoder
        self.decoder = decoder
        guard encoder.inputs.count == 1, let face = encoder.inputs.first,
              let mel = decoder.inputs.first(where: { Array($0.shape.dropFirst()) == [1, 80, 16] }),
              let output = decoder.outputs.first, decoder.outputs.count == 1 else {
            throw LipSyncError.malformedModel(file: encoder.file.lastPathComponent, problem: "not a face-encoder / decoder pair")
        }
        let features = Set(encoder.outputs.map(\.name)), consumed = Set(decoder.inputs.map(\.name)).subtracting([mel.name])
        guard features == consumed else {
            throw LipSyncError.malformedModel(file: decoder.file.lastPathComponent, problem: "its inputs are not the encoder's outputs")
        }
        faceInput = face.name
        melInput = mel.name
        self.output = output.name
    }

    /// The face features of `crop` (batch of one), computed once per distinct crop.
    func features(for crop: RGBImage) async throws -> [String: Tensor] {
        var hasher = Hasher()
        hasher.combine(crop.pixels)
        let key = hasher.finalize()
        if let hit = lock.withLock({ cache[key] }), hit.crop == crop { return hit.features }
        let features = try await encoder.infer([faceInput: Wav2LipEngine.faceTensor([crop])])
        lock.withLock {
            if cache[key] == nil { order.append(key) }
            cache[key] = (crop, features)
            if order.count > Self.cacheSize { cache[order.removeFirst()] = nil }
        }
        return features
    }

    /// Decoder inputs for `range` of the batch: the mel windows and each frame's face features stacked.
    func inputs(_ batch: LipSyncBatch, range: Range<Int>) async throws -> [String: Tensor] {
        let rows = decoder.options.batchSize ?? range.count
        let items = (0..<rows).map { min(range.lowerBound + $0, range.upperBound - 1) }
        var perItem: [[String: Tensor]] = []
        for item in items { perItem.append(try await features(for: batch.faces[item])) }
        var inputs = [melInput: Wav2LipEngine.melTensor(batch, items: items)]
        for name in perItem[0].keys {
            let single = perItem[0][name]!
            var values: [Float] = []
            values.reserveCapacity(single.values.count * rows)
            for features in perItem { values += features[name]!.values }
            inputs[name] = Tensor(shape: [rows] + single.shape.dropFirst(), values: values)
        }
        return inputs
    }
}
