import Foundation
import Imaging
import Inference

/// MediaPipe's face-mesh network: 468 landmarks on a face crop, run by OpenVINO. The crop is the
/// detection box, squared and enlarged by half (the framing the network was trained on).
package final class FaceLandmarker: @unchecked Sendable {
    package static let inputSize = 192
    package static let pointCount = 468

    /// Landmark indices used by the pipeline (MediaPipe face-mesh topology).
    package enum Index {
        package static let upperInnerLip = 13
        package static let lowerInnerLip = 14
        package static let mouthRight = 61
        package static let mouthLeft = 291
        package static let chin = 152
        package static let noseTip = 1
    }

    private let model: CompiledModel

    package init(assets: URL, runtime: InferenceRuntime) throws {
        model = try runtime.compile(assets.appendingPathComponent("face_landmark.tflite"),
                                    options: CompileOptions(threads: 1, requests: 1))
    }

    /// 468 points in image pixels and the network's face-presence probability.
    package func landmarks(in image: RGBImage, face: FaceDetection) throws -> (points: [Point], presence: Double) {
        let side = max(face.width, face.height) * 1.5
        let region = PixelRect(x: Int((face.x + face.width / 2 - side / 2).rounded()),
                               y: Int((face.y + face.height / 2 - side / 2).rounded()),
                               width: Int(side.rounded()), height: Int(side.rounded()))
        // Parts of the region outside the picture stay black.
        var crop = RGBImage(width: region.width, height: region.height)
        let visible = region.clamped(width: image.width, height: image.height)
        if visible.width > 0 && visible.height > 0 {
            let inside = image.cropped(to: visible)
            for row in 0..<visible.height {
                let to = ((visible.y - region.y + row) * region.width + (visible.x - region.x)) * 3
                let from = row * visible.width * 3
                crop.pixels.replaceSubrange(to..<to + visible.width * 3, with: inside.pixels[from..<from + visible.width * 3])
            }
        }
        let size = Self.inputSize
        let input = crop.resized(width: size, height: size)
        let tensor = Tensor(shape: [1, size, size, 3], values: input.pixels.map { Float($0) / 255 })
        let outputs = try model.inferBlocking([model.inputs[0].name: tensor])
        guard let mesh = outputs.values.first(where: { $0.values.count == Self.pointCount * 3 }),
              let flag = outputs.values.first(where: { $0.values.count == 1 }) else {
            throw InferenceError("face landmark outputs have unexpected shapes")
        }
        let scale = Double(region.width) / Double(size)
        let points = (0..<Self.pointCount).map { index in
            Point(x: Double(region.x) + Double(mesh.values[index * 3]) * scale,
                  y: Double(region.y) + Double(mesh.values[index * 3 + 1]) * scale)
        }
        let presence = 1 / (1 + exp(-Double(flag.values[0])))
        return (points, presence)
    }
}
