import Foundation
import Imaging
import Inference

/// Wav2Lip (GAN or NOGAN) run by OpenVINO. Builds the model's inputs exactly as the original inference
/// code does: mel [B,1,80,16]; face [B,6,96,96] = the crop with its lower half zeroed, stacked with the
/// unmasked crop, BGR, scaled to [0,1]. The output [B,3,96,96] (BGR, [0,1]) becomes RGB patches.
package final class Wav2LipEngine: LipSyncEngine {
    package let name: String
    package let file: URL
    /// The model's own inputs and outputs (of the whole model, also when it runs split).
    package let ports: (inputs: [TensorInfo], outputs: [TensorInfo])
    /// The compiled model that renders frames: the whole model, or the decoder when split.
    package let model: CompiledModel
    /// Input names as this model's export calls them, matched by shape.
    package let melInput: String
    package let faceInput: String
    package let output: String
    /// The same model cut in two (scripts/split_wav2lip.py): when present, the face encoder runs once per
    /// distinct face crop and only the rest runs per frame. Same numbers, 16% fewer FLOPs per frame.
    package let split: FaceEncoderSplit?
    /// The file the user installed and what it is (an export, or a converted checkpoint).
    package let origin: ModelOrigin

    /// Side of the square face crops and patches the model works on.
    package static let faceSize = 96

    package var preferredBatchSize: Int { model.options.batchSize ?? 8 }
    package var cropStyle: CropStyle { .wav2lip }
    package var isInferenceBound: Bool { true }
    package var precision: String? { model.options.precision.rawValue }

    /// The whole model, compiled. `ports` are the model's own (they may be float16 where the compiled
    /// model takes float32); by default the compiled model's.
    package convenience init(name: String, model: CompiledModel, ports: (inputs: [TensorInfo], outputs: [TensorInfo])? = nil,
                             origin: ModelOrigin? = nil) throws {
        try self.init(name: name, file: model.file, ports: ports ?? (model.inputs, model.outputs), model: model, split: nil,
                      origin: origin ?? ModelOrigin(file: model.file, kind: name.contains("gan") ? "GAN" : "NOGAN", format: "ONNX export"))
    }

    /// The model split in two: only the encoder / decoder pair is compiled; `ports` describe the whole model.
    package convenience init(name: String, file: URL, ports: (inputs: [TensorInfo], outputs: [TensorInfo]), split: FaceEncoderSplit,
                             origin: ModelOrigin? = nil) throws {
        try self.init(name: name, file: file, ports: ports, model: split.decoder, split: split,
                      origin: origin ?? ModelOrigin(file: file, kind: name.contains("gan") ? "GAN" : "NOGAN", format: "ONNX export"))
    }

    private init(name: String, file url: URL, ports: (inputs: [TensorInfo], outputs: [TensorInfo]), model: CompiledModel,
                 split: FaceEncoderSplit?, origin: ModelOrigin) throws {
        self.name = name
        self.file = url
        self.ports = ports
        self.model = model
        self.split = split
        self.origin = origin
        let file = url.lastPathComponent
        let found = "inputs \(ports.inputs.map(\.description).joined(separator: ", ")); outputs \(ports.outputs.map(\.description).joined(separator: ", "))"
        // Floating-point ports only (other float types are converted to f32 when compiled); the runtime
        // also takes int64 ports (voices' ids), which a Wav2Lip model never has.
        func match(_ ports: [TensorInfo], _ tail: [Int]) -> String? {
            ports.first {
                $0.shape.count == 4 && Array($0.shape.dropFirst()) == tail.map(Optional.some) && ["f32", "f16", "bf16", "f64"].contains($0.elementType)
            }?.name
        }
        guard ports.inputs.count == 2, let mel = match(ports.inputs, [1, 80, 16]), let face = match(ports.inputs, [6, 96, 96]) else {
            throw LipSyncError.malformedModel(file: file, problem: "expected two inputs, mel [N,1,80,16] and face [N,6,96,96]; found \(found)")
        }
        guard ports.outputs.count == 1, let output = match(ports.outputs, [3, 96, 96]) else {
            throw LipSyncError.malformedModel(file: file, problem: "expected one output [N,3,96,96]; found \(found)")
        }
        melInput = mel
        faceInput = face
        self.output = output
    }

    package func render(_ batch: LipSyncBatch) async throws -> [RGBImage] {
        var patches: [RGBImage] = []
        patches.reserveCapacity(batch.count)
        var start = 0
        while start < batch.count {
            let end = min(batch.count, start + preferredBatchSize)
            if let split {
                let result = try await model.infer(try await split.inputs(batch, range: start..<end))
                patches += Self.patches(from: result[split.output]!, count: end - start)
            } else {
                let result = try await model.infer(inputs(batch, range: start..<end))
                patches += Self.patches(from: result[output]!, count: end - start)
            }
            start = end
        }
        return patches
    }

    /// The model's input tensors for `range` of the batch. A model compiled for a fixed batch size gets
    /// its last, partial batch padded by repeating the last frame (the extra outputs are dropped).
    package func inputs(_ batch: LipSyncBatch, range: Range<Int>) -> [String: Tensor] {
        precondition(split == nil, "a split model takes its inputs from FaceEncoderSplit")
        let rows = model.options.batchSize ?? range.count
        let items = (0..<rows).map { min(range.lowerBound + $0, range.upperBound - 1) }
        return [melInput: Self.melTensor(batch, items: items),
                faceInput: Self.faceTensor(items.map { batch.faces[$0] })]
    }

    /// Mel windows of `items`, stacked as [rows, 1, 80, 16].
    static func melTensor(_ batch: LipSyncBatch, items: [Int]) -> Tensor {
        var mel = [Float](repeating: 0, count: items.count * 1280)
        for (row, item) in items.enumerated() {
            let window = batch.melWindows[item]
            precondition(window.count == 1280, "a mel window holds 80x16 values")
            mel.replaceSubrange(row * 1280..<(row + 1) * 1280, with: window)
        }
        return Tensor(shape: [items.count, 1, 80, 16], values: mel)
    }

    /// Face crops as Wav2Lip takes them: [rows, 6, 96, 96], the crop with its lower half zeroed then
    /// the whole crop, BGR, in [0, 1].
    static func faceTensor(_ crops: [RGBImage]) -> Tensor {
        let side = faceSize, plane = side * side
        var face = [Float](repeating: 0, count: crops.count * 6 * plane)
        for (row, crop) in crops.enumerated() {
            precondition(crop.width == side && crop.height == side, "Wav2Lip takes \(side)x\(side) face crops")
            let base = row * 6 * plane
            face.withUnsafeMutableBufferPointer { out in
                crop.pixels.withUnsafeBufferPointer { rgb in
                    for y in 0..<side {
                        let masked = y >= side / 2
                        for x in 0..<side {
                            let source = (y * side + x) * 3
                            let target = y * side + x
                            for channel in 0..<3 {
                                // BGR: output channel 0 is the blue byte (RGB index 2).
                                let value = Float(rgb[source + 2 - channel]) / 255
                                out[base + channel * plane + target] = masked ? 0 : value
                                out[base + (3 + channel) * plane + target] = value
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: [crops.count, 6, side, side], values: face)
    }

    /// Converts the first `count` BGR [0,1] planes of the output into RGB 8-bit patches.
    package static func patches(from tensor: Tensor, count: Int) -> [RGBImage] {
        let side = faceSize, plane = side * side
        return (0..<count).map { item in
            var pixels = [UInt8](repeating: 0, count: plane * 3)
            tensor.values.withUnsafeBufferPointer { values in
                let base = item * 3 * plane
                for index in 0..<plane {
                    for channel in 0..<3 {
                        let value = values[base + (2 - channel) * plane + index]
                        pixels[index * 3 + channel] = UInt8(max(0, min(255, (value * 255).rounded())))
                    }
                }
            }
            return RGBImage(width: side, height: side, pixels: pixels)
        }
    }
}
