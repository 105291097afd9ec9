import Foundation
import Imaging

/// The avatar's mouth in one face crop, measured from its face-mesh landmarks, in a frame aligned with
/// the mouth: origin midway between the lip corners, `u` along the line of the corners (towards the
/// image's right), `v` at a right angle to it, downwards. Every column of `u` gets its levels: where
/// the region that moves begins (below the nose), the four lip contours, the jaw line, and how far
/// below the jaw the movement has faded out. A pose moves these levels; the warp interpolates between them.
struct MouthGeometry: Sendable {
    // MediaPipe face-mesh indices, each contour from the image-left corner (61) to the right one (291).
    static let upperOuter = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
    static let lowerOuter = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
    static let upperInner = [61, 78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 291]
    static let lowerInner = [61, 78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 291]
    /// The face outline from the image-left cheek, under the chin (152), to the right cheek.
    static let faceOutline = [234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454]
    static let subnasale = 2, upperLipTop = 0, chin = 152, leftCorner = 61, rightCorner = 291
    static let lowestIndex = 468

    /// Source levels (v) of one column of the mouth frame.
    struct Column {
        var upperOuter: Double
        var upperInner: Double
        var lowerInner: Double
        var lowerOuter: Double
        var jaw: Double
        /// Where the jaw's movement has faded out (the neck below the chin, or the crop's bottom).
        var bottom: Double
        var isLip: Bool
    }

    let origin: Point
    /// The u axis in image coordinates; v is (-axis.y, axis.x).
    let axisX: Double, axisY: Double
    let halfWidth: Double
    /// u of the image-left (negative) and image-right corners.
    let leftCorner: Double, rightCorner: Double
    /// Distance from the origin to the face outline along the corner line, each side, kept inside the crop.
    let leftSide: Double, rightSide: Double
    /// Nothing above this level moves.
    let top: Double
    /// The lips' vertical extent at rest, and the chin.
    let lipsTop: Double, lipsBottom: Double, chin: Double
    /// How far the chin may drop before the fade below it would fold the picture.
    let chinRoom: Double
    let firstU: Double
    static let step = 0.5
    let columns: [Column]
    /// The lips' mean colour, and the mouth's light (0.6...1.2, from the lips' luminance).
    let lipColor: (Double, Double, Double)
    let light: Double
    /// The picture's colour cast (per channel, relative to grey, 0.75...1.3): the median of the skin on
    /// the cheeks and chin, so synthesized teeth take on the photo's light instead of a fixed white.
    let cast: (Double, Double, Double)
    /// The skin's luminance (that median's): how bright the photo's light is on the face.
    let skinLuminance: Double

    init?(landmarks: [Point], face: RGBImage) {
        guard landmarks.count >= Self.lowestIndex else { return nil }
        let left = landmarks[Self.leftCorner], right = landmarks[Self.rightCorner]
        let span = left.distance(to: right)
        guard span >= 4 else { return nil }
        origin = Point(x: (left.x + right.x) / 2, y: (left.y + right.y) / 2)
        axisX = (right.x - left.x) / span
        axisY = (right.y - left.y) / span
        halfWidth = span / 2
        let (originX, originY, ax, ay) = (origin.x, origin.y, axisX, axisY)
        func local(_ index: Int) -> (u: Double, v: Double) {
            let dx = landmarks[index].x - originX, dy = landmarks[index].y - originY
            return (dx * ax + dy * ay, -dx * ay + dy * ax)
        }
        leftCorner = local(Self.leftCorner).u
        rightCorner = local(Self.rightCorner).u

        // The outline where it crosses the corner line, each side; clamped well inside the crop.
        let outline = Self.faceOutline.map(local)
        func crossing(_ points: ArraySlice<(u: Double, v: Double)>) -> Double? {
            for (a, b) in zip(points, points.dropFirst()) where (a.v <= 0) != (b.v <= 0) {
                return a.u + (b.u - a.u) * (0 - a.v) / (b.v - a.v)
            }
            return nil
        }
        let chinIndex = Self.faceOutline.firstIndex(of: Self.chin)!
        let leftCross = crossing(outline[...chinIndex]).map { -$0 } ?? 2.2 * halfWidth
        let rightCross = crossing(outline[chinIndex...]).map { $0 } ?? 2.2 * halfWidth
        let width = Double(face.width), height = Double(face.height)
        leftSide = max(-leftCorner + 2, min(leftCross, originX - 2))
        rightSide = max(rightCorner + 2, min(rightCross, width - 2 - originX))

        let upperOuterLine = Self.polyline(Self.upperOuter.map(local))
        let upperInnerLine = Self.polyline(Self.upperInner.map(local))
        let lowerInnerLine = Self.polyline(Self.lowerInner.map(local))
        let lowerOuterLine = Self.polyline(Self.lowerOuter.map(local))
        let jawLine = Self.polyline(outline.filter { $0.v > 0 })
        let nose = local(Self.subnasale).v, lipTop = local(Self.upperLipTop).v
        lipsTop = Self.upperOuter.map { local($0).v }.min()!
        lipsBottom = Self.lowerOuter.map { local($0).v }.max()!
        chin = max(local(Self.chin).v, lipsBottom + 2)
        top = min(nose + 0.25 * (lipTop - nose), lipsTop - 2)

        // The lowest usable level of a column: the crop's bottom row, along the column.
        func floorLevel(_ u: Double) -> Double {
            (height - 1.5 - originY - u * ay) / max(0.2, ax)
        }
        let maxDrop = MouthPose.jawDrop * halfWidth
        chinRoom = max(0, (floorLevel(0) - chin) / MouthPose.foldMargin)

        let first = -leftSide, last = rightSide
        firstU = first
        let count = Int(((last - first) / Self.step).rounded(.up)) + 1
        let leftCornerV = local(Self.leftCorner).v, rightCornerV = local(Self.rightCorner).v
        var columns: [Column] = []
        columns.reserveCapacity(count)
        for index in 0..<count {
            let u = first + Double(index) * Self.step
            var column: Column
            if u > leftCorner && u < rightCorner {
                var uo = upperOuterLine(u), ui = upperInnerLine(u), li = lowerInnerLine(u), lo = lowerOuterLine(u)
                if ui > li { ui = (ui + li) / 2; li = ui }
                uo = min(uo, ui); lo = max(lo, li)
                column = Column(upperOuter: uo, upperInner: ui, lowerInner: li, lowerOuter: lo, jaw: 0, bottom: 0, isLip: true)
            } else {
                let split = u <= leftCorner ? leftCornerV : rightCornerV
                column = Column(upperOuter: split, upperInner: split, lowerInner: split, lowerOuter: split, jaw: 0, bottom: 0, isLip: false)
            }
            column.upperOuter = max(column.upperOuter, top + 1)
            column.jaw = max(jawLine(u), column.lowerOuter + 2)
            columns.append(column)
        }
        // Where the outline climbs steeply towards the ears, the jaw's drop is anchored lower: at most one
        // pixel up per pixel out from the chin, so neighbouring columns never shear apart.
        let chinColumn = max(0, min(count - 1, Int((-first / Self.step).rounded())))
        for index in stride(from: chinColumn - 1, through: 0, by: -1) {
            columns[index].jaw = max(columns[index].jaw, columns[index + 1].jaw - Self.step)
        }
        for index in (chinColumn + 1)..<max(chinColumn + 1, count) {
            columns[index].jaw = max(columns[index].jaw, columns[index - 1].jaw - Self.step)
        }
        for index in columns.indices {
            let u = first + Double(index) * Self.step
            columns[index].bottom = max(columns[index].jaw + 1,
                                        min(floorLevel(u), columns[index].jaw + max(MouthPose.foldMargin * maxDrop, halfWidth)))
        }
        self.columns = columns

        // Lip colour: the middle of each lip, away from the corners.
        var sum = (0.0, 0.0, 0.0), samples = 0.0
        let hw = halfWidth
        face.pixels.withUnsafeBufferPointer { pixels in
            for (index, column) in columns.enumerated() where column.isLip {
                let u = first + Double(index) * Self.step
                guard abs(u) < 0.6 * hw else { continue }
                for v in [(column.upperOuter + column.upperInner) / 2, (column.lowerInner + column.lowerOuter) / 2] {
                    let x = originX + u * ax - v * ay, y = originY + u * ay + v * ax
                    let c = MouthWarp.sample(pixels, width: face.width, height: face.height, x: x - 0.5, y: y - 0.5)
                    sum = (sum.0 + c.0, sum.1 + c.1, sum.2 + c.2)
                    samples += 1
                }
            }
        }
        lipColor = samples > 0 ? (sum.0 / samples, sum.1 / samples, sum.2 / samples) : (150, 90, 90)

        let lipLuminance = 0.299 * lipColor.0 + 0.587 * lipColor.1 + 0.114 * lipColor.2
        // Lips are darker on darker skin, teeth are not: the lips say only a little about the light.
        light = max(0.6, min(1.2, 0.6 + 0.4 * lipLuminance / 130))

        // Skin beside the corners and on the chin; the median keeps a beard or a shadow from deciding.
        let centre = columns[chinColumn]
        var points: [(u: Double, v: Double)] = []
        for t in [0.3, 0.5, 0.7] {
            let v = centre.lowerOuter + t * (centre.jaw - centre.lowerOuter)
            points += [(0, v), (-0.15 * hw, v), (0.15 * hw, v)]
        }
        for t in [0.3, 0.5] {
            points += [(leftCorner - t * (leftSide + leftCorner), 0.3 * hw), (rightCorner + t * (rightSide - rightCorner), 0.3 * hw)]
        }
        let skin = face.pixels.withUnsafeBufferPointer { pixels in
            points.map { point in
                let x = originX + point.u * ax - point.v * ay, y = originY + point.u * ay + point.v * ax
                return MouthWarp.sample(pixels, width: face.width, height: face.height, x: x - 0.5, y: y - 0.5)
            }
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let skinColor = (median(skin.map(\.0)), median(skin.map(\.1)), median(skin.map(\.2)))
        let grey = max(1, (skinColor.0 + skinColor.1 + skinColor.2) / 3)
        func bounded(_ value: Double) -> Double { max(0.75, min(1.3, value / grey)) }
        cast = (bounded(skinColor.0), bounded(skinColor.1), bounded(skinColor.2))
        skinLuminance = 0.299 * skinColor.0 + 0.587 * skinColor.1 + 0.114 * skinColor.2
    }

    /// v as a function of u along a contour (linear between its points, constant beyond its ends).
    static func polyline(_ points: [(u: Double, v: Double)]) -> (Double) -> Double {
        let sorted = points.sorted { $0.u < $1.u }
        return { u in
            guard let first = sorted.first, let last = sorted.last else { return 0 }
            if u <= first.u { return first.v }
            if u >= last.u { return last.v }
            var lower = 0, upper = sorted.count - 1
            while upper - lower > 1 {
                let middle = (lower + upper) / 2
                if sorted[middle].u <= u { lower = middle } else { upper = middle }
            }
            let a = sorted[lower], b = sorted[upper]
            return b.u - a.u < 1e-9 ? a.v : a.v + (b.v - a.v) * (u - a.u) / (b.u - a.u)
        }
    }

    func toImage(u: Double, v: Double) -> (x: Double, y: Double) {
        (origin.x + u * axisX - v * axisY, origin.y + u * axisY + v * axisX)
    }

    func toMouth(x: Double, y: Double) -> (u: Double, v: Double) {
        let dx = x - origin.x, dy = y - origin.y
        return (dx * axisX + dy * axisY, -dx * axisY + dy * axisX)
    }
}
