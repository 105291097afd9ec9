import Foundation
import Imaging

/// Where every source level of every column of a `MouthGeometry` goes for one mouth shape: eight knots
/// per column, top to bottom: the top of the moving region, the upper lip's outer and inner edges, the
/// end of what the picture showed between the lips (the avatar's own teeth stay with the upper lip), the
/// lower lip's inner edge, its outer edge, the jaw line, and the level where the movement has faded
/// out. Between the fourth and fifth knots lies the new opening, which `MouthInterior` paints.
struct MouthPose {
    /// Chin drop at `open == 1`, in mouth half-widths.
    static let jawDrop = 0.62
    /// The fade below the chin is at least this many times the chin's drop, so it never folds.
    static let foldMargin = 2.4

    let geometry: MouthGeometry
    let shape: MouthShape
    /// Horizontal scale of the lips about the mouth's centre.
    let scale: Double
    /// Chin drop at the centre, in pixels.
    let jaw: Double
    /// How far the lips are spread (0...1: width 1 to 1.12 and beyond).
    let spread: Double
    let source: [SIMD8<Double>]
    let target: [SIMD8<Double>]
    /// The opening at the centre column (from the upper lip's edge to the lower lip's), in pixels.
    let centreOpening: Double
    /// How much of the picture's own gap (its lower teeth) goes down with the lower lip at the centre.
    let centreBelow: Double
    /// The part of the picture's gap between the lips that belongs to the upper teeth.
    static let upperShare = 0.7

    init(geometry g: MouthGeometry, shape: MouthShape) {
        self.geometry = g
        self.shape = shape
        let hw = g.halfWidth
        // Where the nose leaves little room above the corners (a broad smile), the lips narrow or widen
        // less: the horizontal movement must fade out below the nose without shearing the upper lip.
        let room = max(1, 0.4 * g.lipsTop - g.top)
        let widest = room / (1.9 * max(-g.leftCorner, g.rightCorner))
        scale = 1 + max(-widest, min(widest, shape.width * (1 - 0.05 * shape.open) - 1))
        jaw = min(shape.open * Self.jawDrop * hw, g.chinRoom)
        let centre = g.columns[max(0, min(g.columns.count - 1, Int((-g.firstU / MouthGeometry.step).rounded())))]
        // The lower lip rides on the jaw; it may part a little further than the chin drops.
        let lipDrop = min(shape.open * Self.jawDrop * hw, jaw + 0.6 * max(0, centre.jaw - centre.lowerOuter))
        let cornerDrop = 0.3 * lipDrop
        let raise = hw * (0.05 * shape.open + 0.08 * shape.tuck)
        spread = max(0, min(1, (shape.width - 1) / 0.12))
        // How far out the opening reaches: an open mouth's corners are lips meeting, not a wedge of the
        // cavity; spread lips part almost to the corners, rounded ones only in the middle.
        let reach = 0.86 + 0.1 * spread - 0.45 * shape.round
        // Past the opening's ends the lips meet, over whatever the picture shows there, once the mouth
        // opens (the picture itself, at rest, keeps its smile; spread lips part to their corners).
        let seam = 0.06 * hw
        let cornerMeet = max(shape.round, smoothstep(0, 0.25, shape.open) * (1 - spread))
        let thickness = 1 + 0.4 * shape.round - 0.3 * spread - 0.35 * shape.press
        var source: [SIMD8<Double>] = [], target: [SIMD8<Double>] = []
        source.reserveCapacity(g.columns.count)
        target.reserveCapacity(g.columns.count)
        var centreOpening = 0.0, centreBelow = 0.0
        for (index, column) in g.columns.enumerated() {
            let u = g.firstU + Double(index) * MouthGeometry.step
            let side = u < 0 ? g.leftSide : g.rightSide
            let cornerDistance = u < 0 ? -g.leftCorner : g.rightCorner
            let jawWeight = smoothstep(0.92 * side, 0.35 * side, abs(u))
            let chinDrop = min(jaw * jawWeight, (column.bottom - column.jaw) / Self.foldMargin)
            var s = SIMD8<Double>(repeating: 0), d = SIMD8<Double>(repeating: 0)
            s[0] = g.top; d[0] = g.top
            if column.isLip {
                let xi = u / cornerDistance
                // The opening's outline ends round (a vertical tangent), not in a point.
                let opening = abs(xi) < reach ? (1 - (xi / reach) * (xi / reach)).squareRoot() : 0
                var jawProfile = pow(max(0, 1 - xi * xi), 0.6)
                jawProfile += (opening - jawProfile) * shape.round
                // The lips meet where the opening ends (rounded lips part only in the middle).
                let lower = cornerDrop * xi * xi + (lipDrop - cornerDrop * xi * xi) * jawProfile
                let upperThickness = column.upperInner - column.upperOuter
                let lowerThickness = column.lowerOuter - column.lowerInner
                let upperMove = cornerDrop * xi * xi - raise * opening
                var upperEdge = column.upperInner + upperMove
                var lowerEdge = column.lowerInner + lower
                // f, v: the lower lip comes up against the upper teeth.
                lowerEdge += (upperEdge + 0.12 * hw * (1 - xi * xi).squareRoot() - lowerEdge) * shape.tuck
                // p, b, m and silence: the lips meet halfway, whatever the picture showed between them. Only
                // a mouth that is nearly shut closes: a vowel next to a p keeps its opening.
                let middle = (upperEdge + lowerEdge) / 2
                // Silence closes a gap that shows the mouth (a smile's teeth), not the seam of lips that
                // already meet: a closed-mouth picture stays as it is.
                let shut = shape.shut * smoothstep(seam, 1.5 * seam, lowerEdge - upperEdge)
                var meet = max(shape.press, shut) * (1 - smoothstep(0, 0.35, shape.open))
                meet = max(meet, cornerMeet * (1 - opening) * (1 - opening))
                upperEdge += (middle - upperEdge) * meet
                lowerEdge += (middle - lowerEdge) * meet
                lowerEdge = max(lowerEdge, upperEdge)
                // Each lip moves as a whole with its inner edge (its outer edge a little less: the skin
                // around it stretches), thicker when pushed forward, thinner when spread or pressed.
                s[1] = column.upperOuter
                d[1] = column.upperOuter + 0.6 * upperMove + 0.6 * (upperEdge - column.upperInner - upperMove)
                    - (thickness - 1) * upperThickness
                d[1] = max(d[1], g.top + 0.3 * (column.upperOuter - g.top))
                upperEdge = max(upperEdge, d[1])
                s[2] = column.upperInner
                d[2] = upperEdge
                // What the picture shows between the lips (teeth, usually) parts like the teeth: its upper
                // part stays under the upper lip, its lower part goes down with the lower lip; the lips
                // cover what no longer fits.
                let gap = column.lowerInner - column.upperInner
                let shown = min(gap, lowerEdge - upperEdge)
                let shownAbove = min(Self.upperShare * gap, shown)
                let shownBelow = (shown - shownAbove) * (1 - shape.tuck)
                s[3] = column.upperInner + shownAbove
                d[3] = upperEdge + shownAbove
                // A tucked lower lip hides its inner part behind the teeth.
                s[4] = column.lowerInner - shownBelow + shape.tuck * 0.35 * lowerThickness
                d[4] = lowerEdge - shownBelow
                if abs(u) < MouthGeometry.step { centreBelow = shownBelow }
                s[5] = column.lowerOuter
                d[5] = column.lowerOuter + lower + 0.75 * (lowerEdge - column.lowerInner - lower) + (thickness - 1) * lowerThickness
                d[5] = max(d[5], d[4] + 0.3 * (s[5] - s[4]))
                if abs(u) < MouthGeometry.step { centreOpening = lowerEdge - upperEdge }
            } else {
                // Beyond the corners the line of the lips goes on into the cheek, its drop fading out.
                let fade = smoothstep(max(0.9 * side, cornerDistance + 2), cornerDistance, abs(u))
                let split = column.upperInner, moved = split + cornerDrop * fade
                for k in 1...5 { s[k] = split; d[k] = moved }
            }
            s[6] = column.jaw
            d[6] = max(column.jaw + chinDrop, d[5] + 0.3 * (s[6] - s[5]))
            s[7] = column.bottom
            d[7] = column.bottom
            if d[6] > d[7] - 0.5 { d[6] = d[7] - 0.5 }
            source.append(s)
            target.append(d)
        }
        self.source = source
        self.target = target
        self.centreOpening = centreOpening
        self.centreBelow = centreBelow
    }

    /// The pose's per-pixel inverse map, in scalars only (the hot loop touches no arrays but the knots').
    struct Kernel {
        let originX: Double, originY: Double, axisX: Double, axisY: Double
        let firstU: Double, lastColumn: Double
        let shiftScale: Double
        let top: Double, fadeTop: Double, fadeBottom: Double, chinFade: Double
        let leftCorner: Double, rightCorner: Double, leftFade: Double, rightFade: Double

        init(_ pose: MouthPose) {
            let g = pose.geometry
            originX = g.origin.x; originY = g.origin.y; axisX = g.axisX; axisY = g.axisY
            firstU = g.firstU
            lastColumn = Double(g.columns.count - 1)
            shiftScale = pose.scale - 1
            top = g.top
            fadeTop = 0.4 * g.lipsTop
            fadeBottom = g.lipsBottom + pose.jaw
            chinFade = g.chin + pose.jaw + 2
            leftCorner = -g.leftCorner; rightCorner = g.rightCorner
            leftFade = max(0.9 * g.leftSide, leftCorner + 2); rightFade = max(0.9 * g.rightSide, rightCorner + 2)
        }

        /// The source u of a target u on level v: the inverse of the lips' horizontal scale, which fades
        /// out towards the face outline and above and below the lips.
        @inline(__always)
        func sourceU(_ u: Double, _ v: Double) -> Double {
            guard shiftScale != 0 else { return u }
            let vertical = v < 0 ? smoothstep(top, fadeTop, v) : v > fadeBottom ? smoothstep(chinFade, fadeBottom, v) : 1
            guard vertical > 0 else { return u }
            let amount = shiftScale * vertical
            @inline(__always) func shift(_ u: Double) -> Double {
                let distance = abs(u)
                let lateral = u < 0 ? (distance <= leftCorner ? 1 : smoothstep(leftFade, leftCorner, distance))
                    : (distance <= rightCorner ? 1 : smoothstep(rightFade, rightCorner, distance))
                return amount * u * lateral
            }
            var source = u - shift(u)
            source = u - shift(source)
            return u - shift(source)
        }
    }

    /// The source level of target level `v` in a column with knots `s` -> `d`, and how much of the pixel
    /// (one pixel tall, centred on v) lies in the new opening. The lips (knots 1...5) move piecewise
    /// linearly; the skin above and below them (knots 0-1, 5-6-7) follows smooth monotone cubics with
    /// slope 1 where they meet the unmoved picture. Slopes come only from those skin segments, which
    /// never vanish, so the map changes continuously from column to column, also where the lips end.
    @inline(__always)
    static func sourceV(_ v: Double, s: SIMD8<Double>, d: SIMD8<Double>) -> (v: Double, opening: Double) {
        if v <= d[0] || v >= d[7] { return (v, 0) }
        let opening = d[4] > d[3] ? max(0, min(v + 0.5, d[4]) - max(v - 0.5, d[3])) : 0
        if v < d[1] {
            return (cubic(v, d[0], d[1], s[0], s[1], 1, (s[1] - s[0]) / (d[1] - d[0])), opening)
        }
        if v <= d[3] {
            return (v <= d[2] ? linear(v, d[1], d[2], s[1], s[2]) : linear(v, d[2], d[3], s[2], s[3]), opening)
        }
        if v < d[4] { return (v < (d[3] + d[4]) / 2 ? s[3] : s[4], opening) }
        if v <= d[5] { return (linear(v, d[4], d[5], s[4], s[5]), opening) }
        let h5 = d[6] - d[5], h6 = d[7] - d[6]
        let secant5 = (s[6] - s[5]) / h5, secant6 = (s[7] - s[6]) / h6
        let weight5 = 2 * h6 + h5, weight6 = h6 + 2 * h5
        let jaw = secant5 > 0 && secant6 > 0 ? (weight5 + weight6) / (weight5 / secant5 + weight6 / secant6) : 0
        if v < d[6] { return (cubic(v, d[5], d[6], s[5], s[6], secant5, jaw), opening) }
        return (cubic(v, d[6], d[7], s[6], s[7], jaw, 1), opening)
    }

    @inline(__always)
    static func linear(_ v: Double, _ d0: Double, _ d1: Double, _ s0: Double, _ s1: Double) -> Double {
        d1 - d0 < 1e-9 ? s1 : s0 + (s1 - s0) * (v - d0) / (d1 - d0)
    }

    /// Cubic Hermite from (d0, s0) to (d1, s1) with slopes m0, m1 (ds/dd).
    @inline(__always)
    static func cubic(_ v: Double, _ d0: Double, _ d1: Double, _ s0: Double, _ s1: Double, _ m0: Double, _ m1: Double) -> Double {
        let h = d1 - d0
        guard h > 1e-9 else { return s1 }
        let t = (v - d0) / h, t2 = t * t, t3 = t2 * t
        return (2 * t3 - 3 * t2 + 1) * s0 + (t3 - 2 * t2 + t) * h * m0 + (3 * t2 - 2 * t3) * s1 + (t3 - t2) * h * m1
    }
}

/// Deforms a face crop into a mouth pose, from its face-mesh landmarks: the jaw drops with the lower
/// lip and the chin, the cheeks stretch, the lips take the pose's shape (moved, never repainted), and
/// the new opening between them shows a rendered mouth (`MouthInterior`). The movement fades smoothly to
/// nothing before the face outline and below the chin, so the crop can be pasted back as it is.
package struct MouthWarp: Sendable {
    package init() {}

    /// Where each pixel of the posed crop comes from in the original (crop pixel coordinates, centres at
    /// +0.5), and how much of it is the rendered opening. nil when nothing moves. For tests and tools.
    package func map(_ face: RGBImage, landmarks: [Point], shape: MouthShape) -> (x: [Double], y: [Double], opening: [Double])? {
        guard !shape.isRest, let geometry = MouthGeometry(landmarks: landmarks, face: face) else { return nil }
        let pose = MouthPose(geometry: geometry, shape: shape)
        let count = face.width * face.height
        var xs = [Double](repeating: 0, count: count), ys = xs, opening = xs
        let kernel = MouthPose.Kernel(pose)
        pose.source.withUnsafeBufferPointer { source in
            pose.target.withUnsafeBufferPointer { target in
                for y in 0..<face.height {
                    for x in 0..<face.width {
                        let point = Self.sourcePoint(x: Double(x) + 0.5, y: Double(y) + 0.5, kernel: kernel, source: source, target: target)
                        xs[y * face.width + x] = point.x
                        ys[y * face.width + x] = point.y
                        opening[y * face.width + x] = point.opening
                    }
                }
            }
        }
        return (xs, ys, opening)
    }

    @inline(__always)
    static func sourcePoint(x: Double, y: Double, kernel k: MouthPose.Kernel, source: UnsafeBufferPointer<SIMD8<Double>>,
                            target: UnsafeBufferPointer<SIMD8<Double>>)
        -> (x: Double, y: Double, opening: Double, u: Double, v: Double, su: Double, knots: (SIMD8<Double>, SIMD8<Double>)?) {
        let dx = x - k.originX, dy = y - k.originY
        let u = dx * k.axisX + dy * k.axisY, v = -dx * k.axisY + dy * k.axisX
        let position = (u - k.firstU) / MouthGeometry.step
        guard position >= 0 && position <= k.lastColumn else { return (x, y, 0, u, v, u, nil) }
        let su = k.sourceU(u, v)
        let column = max(0, min(k.lastColumn, (su - k.firstU) / MouthGeometry.step))
        let lower = min(Int(k.lastColumn) - 1, Int(column)), t = column - Double(lower)
        let s0 = source[lower], d0 = target[lower]
        let s = s0 + (source[lower + 1] - s0) * t
        let d = d0 + (target[lower + 1] - d0) * t
        let (sv, opening) = MouthPose.sourceV(v, s: s, d: d)
        return (k.originX + su * k.axisX - sv * k.axisY, k.originY + su * k.axisY + sv * k.axisX, opening, u, v, su, (s, d))
    }

    package func render(_ face: RGBImage, landmarks: [Point], shape: MouthShape) -> RGBImage {
        guard !shape.isRest, let geometry = MouthGeometry(landmarks: landmarks, face: face) else { return face }
        let pose = MouthPose(geometry: geometry, shape: shape)
        // Lips asked to meet that already do (a closed-mouth picture, silent): nothing to draw.
        if pose.scale == 1 && pose.source == pose.target { return face }
        let interior = MouthInterior(pose: pose)
        let width = face.width, height = face.height

        // Only the region that can move: between the face's sides, from the top level to the lowest bottom.
        var minX = Double(width), maxX = 0.0, minY = Double(height), maxY = 0.0
        let bottom = geometry.columns.map(\.bottom).max() ?? geometry.chin
        for (u, v) in [(-geometry.leftSide, geometry.top), (geometry.rightSide, geometry.top),
                       (-geometry.leftSide, bottom), (geometry.rightSide, bottom)] {
            let p = geometry.toImage(u: u, v: v)
            minX = min(minX, p.x); maxX = max(maxX, p.x); minY = min(minY, p.y); maxY = max(maxY, p.y)
        }
        let x0 = max(0, Int(minX) - 1), x1 = min(width, Int(maxX.rounded(.up)) + 1)
        let y0 = max(0, Int(minY) - 1), y1 = min(height, Int(maxY.rounded(.up)) + 1)
        guard x0 < x1 && y0 < y1 else { return face }

        var out = face
        let kernel = MouthPose.Kernel(pose)
        face.pixels.withUnsafeBufferPointer { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                pose.source.withUnsafeBufferPointer { source in
                pose.target.withUnsafeBufferPointer { target in
                for y in y0..<y1 {
                    for x in x0..<x1 {
                        let point = Self.sourcePoint(x: Double(x) + 0.5, y: Double(y) + 0.5, kernel: kernel, source: source, target: target)
                        guard let knots = point.knots else { continue }
                        // Unmoved pixels keep their bytes.
                        if point.opening == 0 && abs(point.x - Double(x) - 0.5) < 1e-6 && abs(point.y - Double(y) - 0.5) < 1e-6 { continue }
                        var (r, g, b) = Self.sample(src, width: width, height: height, x: point.x - 0.5, y: point.y - 0.5)
                        if point.opening > 0 {
                            let inside = interior.color(u: point.u, sourceU: point.su, v: point.v, s: knots.0, d: knots.1)
                            let a = point.opening
                            r += (inside.0 - r) * a
                            g += (inside.1 - g) * a
                            b += (inside.2 - b) * a
                        }
                        let o = (y * width + x) * 3
                        dst[o] = UInt8(max(0, min(255, r.rounded())))
                        dst[o + 1] = UInt8(max(0, min(255, g.rounded())))
                        dst[o + 2] = UInt8(max(0, min(255, b.rounded())))
                    }
                }
                }
                }
            }
        }
        return out
    }

    /// Bilinear sample at pixel coordinates (centres at integers), clamped to the image.
    @inline(__always)
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
