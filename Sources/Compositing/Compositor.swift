import Imaging
import LipSync

/// Pastes generated 96x96 mouth patches back into avatar frames: the patch is resized to the face box
/// and blended through a feathered mask over the lower face, so no rectangle edge shows.
package struct Compositor: Sendable {
    /// The mask's ellipse in box coordinates (0...1): centre and radii. Alpha is 1 inside `solid`
    /// of the radius and falls smoothly to 0 at the ellipse.
    package var centreX = 0.5, centreY = 0.66
    package var radiusX = 0.45, radiusY = 0.33
    package var solid = 0.7

    package init() {}

    /// Per-pixel alpha for a box of `width` x `height`.
    package func mask(width: Int, height: Int) -> [Float] {
        var alpha = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            let v = (Double(y) + 0.5) / Double(height)
            for x in 0..<width {
                let u = (Double(x) + 0.5) / Double(width)
                let r = (((u - centreX) / radiusX) * ((u - centreX) / radiusX) + ((v - centreY) / radiusY) * ((v - centreY) / radiusY)).squareRoot()
                let t = max(0, min(1, (1 - r) / (1 - solid)))
                alpha[y * width + x] = Float(t * t * (3 - 2 * t))  // smoothstep
            }
        }
        return alpha
    }

    /// Blends `patch` (any size: it is resized to the box) into `frame` over `box` with `mask` (from
    /// `mask(width:height:)` for that box).
    package func composite(_ patch: RGBImage, into frame: inout RGBImage, box: PixelRect, mask: [Float]) {
        precondition(mask.count == box.width * box.height, "mask size does not match the box")
        let resized = patch.resized(width: box.width, height: box.height)
        let frameWidth = frame.width
        frame.pixels.withUnsafeMutableBufferPointer { out in
            resized.pixels.withUnsafeBufferPointer { src in
                mask.withUnsafeBufferPointer { alpha in
                    for y in 0..<box.height {
                        let rowOut = ((box.y + y) * frameWidth + box.x) * 3
                        for x in 0..<box.width {
                            let a = alpha[y * box.width + x]
                            guard a > 0 else { continue }
                            let o = rowOut + x * 3, s = (y * box.width + x) * 3
                            for c in 0..<3 {
                                let blended = Float(src[s + c]) * a + Float(out[o + c]) * (1 - a)
                                out[o + c] = UInt8(blended.rounded())
                            }
                        }
                    }
                }
            }
        }
    }
}
