import Foundation

/// What an opening mouth reveals, painted inside the lips' new inner edges: the oral cavity (red-brown,
/// lighter near the lips, dark at the back and in the corners, shadowed under the upper lip), the upper
/// teeth along the upper lip where the picture did not show the avatar's own, the lower teeth rising
/// into view as the jaw opens, and the tongue on open vowels. Colours follow the avatar's lips and
/// light; every edge is computed in pixels and anti-aliased.
struct MouthInterior {
    let halfWidth: Double
    let leftCorner: Double, rightCorner: Double, centreOpening: Double
    let lipColor: (Double, Double, Double)
    let light: Double
    /// Enamel in full light: ivory, tinted a little towards the photo's cast, brighter than the skin
    /// (teeth darker than the face, or redder, read as grey next to it).
    let enamel: (Double, Double, Double)
    let front: (Double, Double, Double)
    let back: (Double, Double, Double)
    let upperTeeth: Double, lowerTeeth: Double, tongue: Double
    /// How strongly the gaps between teeth show: none where a tooth is under ~3 pixels wide.
    let toothGaps: Double

    init(pose: MouthPose) {
        let g = pose.geometry, shape = pose.shape
        halfWidth = g.halfWidth
        leftCorner = g.leftCorner; rightCorner = g.rightCorner
        centreOpening = pose.centreOpening
        lipColor = g.lipColor
        light = g.light
        let brightness = max(150, min(245, 1.25 * g.skinLuminance))
        enamel = (brightness * (0.85 + 0.15 * g.cast.0), brightness * 0.96 * (0.85 + 0.15 * g.cast.1),
                  brightness * 0.88 * (0.85 + 0.15 * g.cast.2))
        let lip = g.lipColor
        front = (min(140, 0.62 * lip.0 + 10), min(72, 0.36 * lip.1), min(72, 0.36 * lip.2))
        back = (48 * light, 16 * light, 16 * light)
        upperTeeth = 0.14 * g.halfWidth * (1 - 0.6 * shape.press)
        let opened = smoothstep(0.06 * g.halfWidth, 0.35 * g.halfWidth, pose.centreOpening)
        // Drawn only where the picture shows no lower teeth of its own: when spread lips draw back from
        // them (i, e), or in a wide-open mouth; the lower lip hides them otherwise.
        let wide = smoothstep(0.25 * g.halfWidth, 0.55 * g.halfWidth, pose.centreOpening)
        lowerTeeth = 0.08 * g.halfWidth * max(opened * pose.spread, wide) * (1 - shape.tuck) * (1 - smoothstep(0.5, 2.5, pose.centreBelow))
        tongue = shape.tongue * opened
        toothGaps = smoothstep(2.5, 5, 0.2 * g.halfWidth)
    }

    /// Colour of target pixel (u, v) in a column with knots s -> d (see `MouthPose`); `sourceU` says
    /// which column of the lips it lies in.
    func color(u: Double, sourceU: Double, v: Double, s: SIMD8<Double>, d: SIMD8<Double>) -> (Double, Double, Double) {
        let xi = max(-1, min(1, sourceU < 0 ? sourceU / -leftCorner : sourceU / rightCorner))
        let fromUpper = v - d[2], fromLower = d[4] - v
        let opening = max(1e-3, d[4] - d[2])

        // The cavity: darker away from the lips and towards the corners.
        let depth = min(1, max(0, min(fromUpper, fromLower)) / max(1.5, 0.5 * centreOpening))
        let darkness = smoothstep(0, 1, 0.25 + 0.75 * depth)
        let corner = 1 - 0.55 * xi * xi
        var color = mix(front, back, darkness)
        color = scale(color, corner)

        // The tongue lies low in the mouth, behind the lower teeth, its far part in shadow.
        if tongue > 0.01 {
            let height = tongue * 0.55 * opening * max(0, 1 - (xi / 0.7) * (xi / 0.7)).squareRoot()
            let cover = smoothstep(-0.8, 0.8, height - fromLower) * min(1, 1.4 * tongue)
            if cover > 0 {
                let lit = 0.45 + 0.55 * min(1, max(0, 1 - fromLower / max(1, height)))
                // Pinker and lighter than the cavity: the tongue is what an open vowel shows most.
                let flesh = ((0.8 * lipColor.0 + 20) * lit, (0.45 * lipColor.1 + 6) * lit, (0.45 * lipColor.2 + 6) * lit)
                color = mix(color, scale(flesh, corner), cover)
            }
        }

        // Lower teeth: their edge rises from the lower lip as the jaw opens; they stand in shadow.
        if lowerTeeth > 0.2 {
            let height = lowerTeeth * max(0, 1 - pow(abs(xi) / 0.6, 4))
            let cover = max(0, min(1, height - fromLower + 0.5))
            if cover > 0 {
                let tip = 0.8 + 0.2 * min(1, max(0, fromLower / max(0.5, height)))
                let shade = 0.8 * (1 - 0.45 * xi * xi) * gapShade(u, width: 0.17 * halfWidth, depth: 0.15) * tip
                color = mix(color, mix(scale(enamel, shade), scale(lipColor, shade), 0.2), cover)
            }
        }

        // Upper teeth below whatever of the avatar's own the picture showed.
        let own = d[3] - d[2]
        if upperTeeth > own + 0.2 {
            let width = 0.2 * halfWidth
            let within = (abs(u) / width).truncatingRemainder(dividingBy: 1)
            // Each tooth's edge is a little rounded at its sides.
            let edge = upperTeeth * max(0, 1 - pow(abs(xi) / 0.78, 4)) * (1 - 0.12 * (2 * within - 1) * (2 * within - 1))
            let cover = max(0, min(1, edge - fromUpper + 0.5))
            if cover > 0 {
                let shade = 0.97 * (1 - 0.5 * xi * xi) * gapShade(u, width: width, depth: 0.25)
                // A little of the lips' hue: the mouth's light is warm, and pure grey teeth look cold on skin.
                color = mix(color, mix(scale(enamel, shade), scale(lipColor, shade), 0.1), cover)
            }
        }

        // The upper lip's soft shadow over the teeth and the cavity below it.
        let shadow = 1 - 0.4 * exp(-max(0, fromUpper) / (0.035 * halfWidth + 0.6))
        color = scale(color, shadow)

        // Towards the corners, where the lips barely part, what shows is their inner side, not the dark
        // of the cavity: no black line runs out along the lips.
        let end = smoothstep(0.7, 0.95, abs(xi)) * (1 - smoothstep(2, 6, opening))
        return mix(color, scale(lipColor, 0.7), 0.85 * end)
    }

    /// Darkens the thin gaps between teeth of `width` pixels, counted from the mouth's centre line.
    private func gapShade(_ u: Double, width: Double, depth: Double) -> Double {
        guard toothGaps > 0 else { return 1 }
        let phase = abs(u) / width
        let distance = abs(phase - phase.rounded()) * width
        return 1 - depth * toothGaps * max(0, 1 - distance / 0.7)
    }

    private func mix(_ a: (Double, Double, Double), _ b: (Double, Double, Double), _ t: Double) -> (Double, Double, Double) {
        (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, a.2 + (b.2 - a.2) * t)
    }

    private func scale(_ a: (Double, Double, Double), _ k: Double) -> (Double, Double, Double) {
        (a.0 * k, a.1 * k, a.2 * k)
    }
}
