/// An 8-bit RGB image, row-major, 3 bytes per pixel, no row padding.
package struct RGBImage: Sendable, Equatable {
    package var width: Int
    package var height: Int
    package var pixels: [UInt8]

    package init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0 && pixels.count == width * height * 3,
                     "an RGB image of \(width)x\(height) holds \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    package init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for index in stride(from: 0, to: pixels.count, by: 3) {
            pixels[index] = fill.0; pixels[index + 1] = fill.1; pixels[index + 2] = fill.2
        }
        self.init(width: width, height: height, pixels: pixels)
    }

    package subscript(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        let index = (y * width + x) * 3
        return (pixels[index], pixels[index + 1], pixels[index + 2])
    }

    /// The pixels inside `rect` (which must lie within the image).
    package func cropped(to rect: PixelRect) -> RGBImage {
        precondition(rect.x >= 0 && rect.y >= 0 && rect.maxX <= width && rect.maxY <= height, "crop \(rect) outside \(width)x\(height)")
        var out = [UInt8](repeating: 0, count: rect.width * rect.height * 3)
        pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for row in 0..<rect.height {
                    let from = ((rect.y + row) * width + rect.x) * 3
                    (target.baseAddress! + row * rect.width * 3).update(from: source.baseAddress! + from, count: rect.width * 3)
                }
            }
        }
        return RGBImage(width: rect.width, height: rect.height, pixels: out)
    }

    /// Copies `image` into this one with its top-left corner at the rectangle's origin.
    package mutating func paste(_ image: RGBImage, at rect: PixelRect) {
        precondition(image.width == rect.width && image.height == rect.height && rect.maxX <= width && rect.maxY <= height)
        let rowBytes = image.width * 3
        for row in 0..<image.height {
            let to = ((rect.y + row) * width + rect.x) * 3
            pixels.replaceSubrange(to..<to + rowBytes, with: image.pixels[(row * rowBytes)..<((row + 1) * rowBytes)])
        }
    }

    /// Bilinear resampling with pixel centres at half-integers (OpenCV's INTER_LINEAR convention, the
    /// one Wav2Lip's crops were made with).
    package func resized(width newWidth: Int, height newHeight: Int) -> RGBImage {
        if newWidth == width && newHeight == height { return self }
        let xs = Self.taps(source: width, target: newWidth)
        let ys = Self.taps(source: height, target: newHeight)
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<newHeight {
                    let (y0, y1, wy) = ys[y]
                    let row0 = y0 * width * 3, row1 = y1 * width * 3
                    for x in 0..<newWidth {
                        let (x0, x1, wx) = xs[x]
                        let o = (y * newWidth + x) * 3
                        for c in 0..<3 {
                            let top = Float(src[row0 + x0 * 3 + c]) * (1 - wx) + Float(src[row0 + x1 * 3 + c]) * wx
                            let bottom = Float(src[row1 + x0 * 3 + c]) * (1 - wx) + Float(src[row1 + x1 * 3 + c]) * wx
                            dst[o + c] = UInt8(max(0, min(255, (top * (1 - wy) + bottom * wy).rounded())))
                        }
                    }
                }
            }
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: out)
    }

    /// For each target coordinate: the two source indices and the weight of the second.
    static func taps(source: Int, target: Int) -> [(Int, Int, Float)] {
        let scale = Float(source) / Float(target)
        return (0..<target).map { index in
            let position = max(0, (Float(index) + 0.5) * scale - 0.5)
            let lower = min(Int(position), source - 1)
            let upper = min(lower + 1, source - 1)
            return (lower, upper, position - Float(lower))
        }
    }
}

/// An integer rectangle in pixel coordinates.
package struct PixelRect: Sendable, Hashable, Codable, CustomStringConvertible {
    package var x: Int
    package var y: Int
    package var width: Int
    package var height: Int

    package init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }

    package var maxX: Int { x + width }
    package var maxY: Int { y + height }
    package var description: String { "\(width)x\(height) at (\(x), \(y))" }

    /// The part of this rectangle inside a `width` x `height` image.
    package func clamped(width imageWidth: Int, height imageHeight: Int) -> PixelRect {
        let left = max(0, x), top = max(0, y)
        let right = min(imageWidth, maxX), bottom = min(imageHeight, maxY)
        return PixelRect(x: left, y: top, width: max(0, right - left), height: max(0, bottom - top))
    }

    package func contains(x px: Int, y py: Int) -> Bool { px >= x && px < maxX && py >= y && py < maxY }
}

/// A point in pixel coordinates (sub-pixel precision).
package struct Point: Sendable, Equatable, Hashable, Codable {
    package var x: Double
    package var y: Double

    package init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }

    package func distance(to other: Point) -> Double { ((x - other.x) * (x - other.x) + (y - other.y) * (y - other.y)).squareRoot() }
}
