import Foundation
import Imaging
import Inference

/// A face found in an image, in image pixel coordinates.
package struct FaceDetection: Sendable, Equatable {
    package var x: Double
    package var y: Double
    package var width: Double
    package var height: Double
    package var score: Double
    /// Right eye, left eye, nose tip, mouth centre, right ear, left ear (the person's right and left).
    package var keypoints: [Point]

    package var area: Double { width * height }
}

/// MediaPipe's BlazeFace detectors (short range: faces filling much of the picture; full range: small
/// faces too), run by OpenVINO from the `.tflite` files. The network regresses boxes and six keypoints
/// relative to fixed SSD anchors; this type builds the anchors, decodes and suppresses overlaps.
package final class FaceDetector: @unchecked Sendable {
    package enum Range: String, Sendable {
        case short = "face_detection_short_range"
        case full = "face_detection_full_range"

        var inputSize: Int { self == .short ? 128 : 192 }
        /// (stride, anchors per cell) for each feature map, consecutive layers of one stride merged.
        var layers: [(stride: Int, anchors: Int)] { self == .short ? [(8, 2), (16, 6)] : [(4, 1)] }
    }

    package let range: Range
    private let model: CompiledModel
    private let anchors: [Point]
    package var minimumScore: Double = 0.5

    package init(range: Range, assets: URL, runtime: InferenceRuntime) throws {
        self.range = range
        model = try runtime.compile(assets.appendingPathComponent("\(range.rawValue).tflite"),
                                    options: CompileOptions(threads: 1, requests: 1))
        var anchors: [Point] = []
        for layer in range.layers {
            let cells = range.inputSize / layer.stride
            for y in 0..<cells {
                for x in 0..<cells {
                    let centre = Point(x: (Double(x) + 0.5) / Double(cells), y: (Double(y) + 0.5) / Double(cells))
                    anchors += Array(repeating: centre, count: layer.anchors)
                }
            }
        }
        self.anchors = anchors
    }

    /// Faces in `image`, best first.
    package func detect(_ image: RGBImage) throws -> [FaceDetection] {
        // Letterbox to a square (the network expects undistorted faces), then scale to the input size.
        let side = max(image.width, image.height)
        let offsetX = (side - image.width) / 2, offsetY = (side - image.height) / 2
        var square = RGBImage(width: side, height: side)
        for row in 0..<image.height {
            let from = row * image.width * 3
            let to = ((row + offsetY) * side + offsetX) * 3
            square.pixels.replaceSubrange(to..<to + image.width * 3, with: image.pixels[from..<from + image.width * 3])
        }
        let size = range.inputSize
        let input = square.resized(width: size, height: size)
        let tensor = Tensor(shape: [1, size, size, 3], values: input.pixels.map { Float($0) / 127.5 - 1 })
        let outputs = try model.inferBlocking([model.inputs[0].name: tensor])
        guard let boxes = outputs.values.first(where: { $0.shape.last == 16 }),
              let scores = outputs.values.first(where: { $0.shape.last == 1 }) else {
            throw InferenceError("face detector outputs have unexpected shapes")
        }

        var candidates: [FaceDetection] = []
        let scale = Double(size)
        for (index, anchor) in anchors.enumerated() {
            let logit = Double(max(-100, min(100, scores.values[index])))
            let score = 1 / (1 + exp(-logit))
            guard score >= minimumScore else { continue }
            let raw = boxes.values[(index * 16)..<(index * 16 + 16)].map(Double.init)
            // Normalised to the square, then to image pixels.
            func toImage(_ nx: Double, _ ny: Double) -> Point {
                Point(x: nx * Double(side) - Double(offsetX), y: ny * Double(side) - Double(offsetY))
            }
            let centre = toImage(anchor.x + raw[0] / scale, anchor.y + raw[1] / scale)
            let width = raw[2] / scale * Double(side), height = raw[3] / scale * Double(side)
            let keypoints = (0..<6).map { toImage(anchor.x + raw[4 + 2 * $0] / scale, anchor.y + raw[5 + 2 * $0] / scale) }
            candidates.append(FaceDetection(x: centre.x - width / 2, y: centre.y - height / 2, width: width, height: height,
                                            score: score, keypoints: keypoints))
        }
        return Self.suppressOverlaps(candidates)
    }

    /// Non-maximum suppression: the anchors around one face all fire; keep the best of each cluster.
    static func suppressOverlaps(_ detections: [FaceDetection], threshold: Double = 0.3) -> [FaceDetection] {
        var kept: [FaceDetection] = []
        for candidate in detections.sorted(by: { $0.score > $1.score }) {
            if kept.allSatisfy({ intersectionOverUnion($0, candidate) < threshold }) { kept.append(candidate) }
        }
        return kept
    }

    static func intersectionOverUnion(_ a: FaceDetection, _ b: FaceDetection) -> Double {
        let width = max(0, min(a.x + a.width, b.x + b.width) - max(a.x, b.x))
        let height = max(0, min(a.y + a.height, b.y + b.height) - max(a.y, b.y))
        let intersection = width * height
        return intersection / max(1e-9, a.area + b.area - intersection)
    }
}
