/// Simple overlays for images a person checks (face boxes, landmarks).
extension RGBImage {
    package mutating func setPixel(x: Int, y: Int, _ color: (UInt8, UInt8, UInt8)) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let index = (y * width + x) * 3
        pixels[index] = color.0; pixels[index + 1] = color.1; pixels[index + 2] = color.2
    }

    package mutating func strokeRectangle(_ rect: PixelRect, color: (UInt8, UInt8, UInt8), thickness: Int = 2) {
        for t in 0..<thickness {
            for x in rect.x..<rect.maxX {
                setPixel(x: x, y: rect.y + t, color)
                setPixel(x: x, y: rect.maxY - 1 - t, color)
            }
            for y in rect.y..<rect.maxY {
                setPixel(x: rect.x + t, y: y, color)
                setPixel(x: rect.maxX - 1 - t, y: y, color)
            }
        }
    }

    package mutating func fillDot(x: Double, y: Double, radius: Int = 1, color: (UInt8, UInt8, UInt8)) {
        let cx = Int(x.rounded()), cy = Int(y.rounded())
        for dy in -radius...radius {
            for dx in -radius...radius where dx * dx + dy * dy <= radius * radius {
                setPixel(x: cx + dx, y: cy + dy, color)
            }
        }
    }
}
