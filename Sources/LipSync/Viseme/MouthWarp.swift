import Foundation
import Imaging

/// Deforms a face crop into a mouth pose, from its face-mesh landmarks: the lower face (lower lip,
/// chin, jaw line) stretches down, a dark oval mouth opens between the lips under the upper teeth, and
/// the lips narrow or widen. The deformation fades to nothing before the crop's edges, so the crop can
/// be pasted back without a mask and everything beyond the mouth and jaw stays as it was.
package struct MouthWarp: Sendable {
    /// Landmark indices (MediaPipe face mesh).
    static let upperInnerLip = 13, lowerInnerLip = 14, mouthRight = 61, mouthLeft = 291, chin = 152

    /// Jaw drop at `open == 1`, as a fraction of the mouth's half-width.
    package var maxDrop = 0.75
    package var cavityColor: (Double, Double, Double) = (30, 14, 16)

    package init() {}

    package func render(_ face: RGBImage, landmarks: [Point], shape: MouthShape) -> RGBImage {
        guard landmarks.count > Self.chin, shape.open > 0.001 || abs(shape.width - 1) > 0.001 else { return face }
        let right = landmarks[Self.mouthRight], left = landmarks[Self.mouthLeft]
        let upper = landmarks[Self.upperInnerLip], lower = landmarks[Self.lowerInnerLip], chin = landmarks[Self.chin]
        let centreX = (right.x + left.x) / 2, mouthY = (upper.y + lower.y) / 2
        let halfWidth = max(4, abs(left.x - right.x) / 2)
        let jaw = max(4, chin.y - mouthY)
        let drop = shape.open * maxDrop * halfWidth
        let height = Double(face.height), width = face.width
        // Where the stretch fades out: across the cheeks, and below the chin, always inside the crop.
        let sideReach = max(1, min(3.2 * halfWidth, min(centreX, Double(width) - centreX) - 1))
        let bottomReach = min(height - 1, chin.y + 0.6 * jaw)
        let mouthRadiusX = 0.92 * halfWidth * shape.width

        var out = face
        let top = max(0, Int(mouthY - halfWidth))
        face.pixels.withUnsafeBufferPointer { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                for y in top..<face.height {
                    let py = Double(y) + 0.5
                    for x in 0..<width {
                        let px = Double(x) + 0.5
                        let dx = px - centreX
                        // Lip width: scale around the mouth centre, fading out around the lips.
                        let lipDistance = ((dx / (1.7 * halfWidth)) * (dx / (1.7 * halfWidth))
                            + ((py - mouthY) / (0.9 * halfWidth)) * ((py - mouthY) / (0.9 * halfWidth))).squareRoot()
                        let lipWeight = smoothstep(1, 0.45, lipDistance)
                        let sx = centreX + dx / (1 + (shape.width - 1) * lipWeight)

                        var sy = py
                        var cavity = 0.0
                        if py > mouthY && drop > 0 {
                            // Right under the lip line the lower teeth and lip move down by the full drop
                            // (an oval profile across the mouth); further down, the whole jaw follows,
                            // fading across the cheeks and below the chin.
                            let lens = max(0, 1 - (dx / mouthRadiusX) * (dx / mouthRadiusX)).squareRoot()
                            let across = smoothstep(sideReach, 0.6 * sideReach, abs(dx))
                            let t = min(1, (py - mouthY) / jaw)
                            let profile = lens + (max(lens, across) - lens) * t
                            let below = py <= chin.y ? 1 : smoothstep(bottomReach, chin.y, py)
                            let shift = drop * profile * below
                            let gap = drop * lens
                            if py - mouthY < gap {
                                // The new gap between the teeth rows: the dark mouth, anti-aliased at its edges.
                                cavity = max(0, min(1, gap - (py - mouthY), 2 * (py - mouthY)))
                            }
                            sy = py - shift
                        }
                        var (r, g, b) = Self.sample(src, width: width, height: face.height, x: sx - 0.5, y: sy - 0.5)
                        if cavity > 0 {
                            r += (cavityColor.0 - r) * cavity
                            g += (cavityColor.1 - g) * cavity
                            b += (cavityColor.2 - b) * cavity
                        }
                        let o = (y * width + x) * 3
                        dst[o] = UInt8(max(0, min(255, r.rounded())))
                        dst[o + 1] = UInt8(max(0, min(255, g.rounded())))
                        dst[o + 2] = UInt8(max(0, min(255, b.rounded())))
                    }
                }
            }
        }
        return out
    }

    /// Bilinear sample at pixel coordinates (centres at integers), clamped to the image.
    static func sample(_ pixels: UnsafeBufferPointer<UInt8>, width: Int, height: Int, x: Double, y: Double) -> (Double, Double, Double) {
        let cx = max(0, min(Double(width - 1), x)), cy = max(0, min(Double(height - 1), y))
        let x0 = Int(cx), y0 = Int(cy)
        let x1 = min(width - 1, x0 + 1), y1 = min(height - 1, y0 + 1)
        let fx = cx - Double(x0), fy = cy - Double(y0)
        func channel(_ c: Int) -> Double {
            let a = Double(pixels[(y0 * width + x0) * 3 + c]), b = Double(pixels[(y0 * width + x1) * 3 + c])
            let d = Double(pixels[(y1 * width + x0) * 3 + c]), e = Double(pixels[(y1 * width + x1) * 3 + c])
            return (a * (1 - fx) + b * fx) * (1 - fy) + (d * (1 - fx) + e * fx) * fy
        }
        return (channel(0), channel(1), channel(2))
    }
}
