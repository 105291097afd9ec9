import Imaging
import LipSync

/// Pastes generated 96x96 mouth patches back into avatar frames: the patch is resized to the face box
/// and blended through a mask (`paste`): `feathered` (the default) covers the whole lower face, down to
/// the box's bottom edge, and fades out only in narrow bands at the sides and bottom and above the mouth,
/// so no rectangle edge shows and an opening jaw from the model is shown, not blended with the avatar's
/// closed one; `box` is the original Wav2Lip's hard rectangle, for comparison.
package struct Compositor: Sendable {
    package enum Paste: String, Sendable, CaseIterable, Codable {
        case feathered
        case box
    }

    package var paste: Paste
    /// Where the mask starts (fraction of the box height, from the top: alpha 0 above `top`, 1 below
    /// `top + topFade`). The model regenerates the lower half of its 96x96 input; the mouth starts
    /// below the middle.
    package var top = 0.42, topFade = 0.14
    /// Widths of the fades at the sides and at the bottom edge (fractions of the box). The bottom band is
    /// narrow: the chin and the space the jaw opens into stay fully generated.
    package var sideFade = 0.14, bottomFade = 0.07

    package init(paste: Paste = .feathered) {
        self.paste = paste
    }

    /// Per-pixel alpha for a box of `width` x `height`.
    package func mask(width: Int, height: Int) -> [Float] {
        guard paste == .feathered else { return [Float](repeating: 1, count: width * height) }
        func smoothstep(_ t: Double) -> Double {
            let t = max(0, min(1, t))
            return t * t * (3 - 2 * t)
        }
        // Each fade ends half a pixel inside the edge, so the outermost pixels are (nearly) zero.
        let rows = (0..<height).map { y -> Double in
            let v = (Double(y) + 0.5) / Double(height)
            return smoothstep((v - top) / topFade) * smoothstep((1 - v - 0.5 / Double(height)) / bottomFade)
        }
        let columns = (0..<width).map { x -> Double in
            let u = (Double(x) + 0.5) / Double(width)
            let edge = min(u, 1 - u) - 0.5 / Double(width)
            return smoothstep(edge / sideFade)
        }
        var alpha = [Float](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width { alpha[y * width + x] = Float(rows[y] * columns[x]) }
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
