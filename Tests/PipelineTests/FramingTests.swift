import Avatar
import Compositing
import Foundation
import Imaging
import LipSync
@testable import Pipeline
import Testing
import TestSupport

/// The original Wav2Lip's framing options (pads, a fixed box, no smoothing, hard-rectangle paste) and
/// the feathered mask that keeps the generated jaw.
@Suite struct FramingTests {
    /// A face whose landmarks span 100x100 pixels at (50, 40).
    let landmarks = [Point(x: 50, y: 40), Point(x: 150, y: 140), Point(x: 100, y: 90)]

    @Test func padsAndAFixedBoxShapeTheFaceBox() throws {
        let plain = AvatarStore.box(landmarks: landmarks, settings: .default, width: 400, height: 300)
        #expect(plain == PixelRect(x: 50, y: 40, width: 100, height: 112), "12% of the face height below the chin")
        let padded = try AvatarSettings.framing(pads: [5, 10, 3, 4], box: nil, nosmooth: false)
        #expect(AvatarStore.box(landmarks: landmarks, settings: padded, width: 400, height: 300)
                == PixelRect(x: 47, y: 35, width: 107, height: 127))
        // Pads never push the box out of the frame.
        let huge = try AvatarSettings.framing(pads: [0, 500, 0, 0], box: nil, nosmooth: false)
        #expect(AvatarStore.box(landmarks: landmarks, settings: huge, width: 400, height: 300).maxY == 300)
        // The original's --box order: top bottom left right.
        let fixed = try AvatarSettings.framing(pads: [9, 9, 9, 9], box: [70, 180, 179, 273], nosmooth: true)
        #expect(AvatarStore.box(landmarks: landmarks, settings: fixed, width: 400, height: 300)
                == PixelRect(x: 179, y: 70, width: 94, height: 110), "a fixed box is used as given, pads ignored")
        #expect(fixed.smoothingWindow == 1 && AvatarSettings.default.smoothingWindow == 5)
    }

    @Test func nonsenseFramingIsRefusedWithTheReason() {
        let cases: [(pads: [Int]?, box: [Int]?, expected: String)] = [
            ([0, 10, 0], nil, "pads takes 4 numbers"),
            ([0, 5000, 0, 0], nil, "-1000...1000"),
            (nil, [180, 70, 179, 273], "top < bottom"),
            (nil, [10, 20, 30, 40], "at least 16 pixels"),
            (nil, [-5, 100, 0, 100], "none negative"),
        ]
        for (pads, box, expected) in cases {
            do {
                _ = try AvatarSettings.framing(pads: pads, box: box, nosmooth: false)
                Issue.record("accepted pads \(String(describing: pads)) box \(String(describing: box))")
            } catch let error as AvatarError {
                #expect(error.description.contains(expected), "\(error)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }

    /// Settings are part of the cache key; the defaults' key is what it was before the options existed
    /// (no new fields are encoded when unset), so existing prepared avatars stay valid.
    @Test func framingIsPartOfTheCacheKey() throws {
        let file = Fixtures.astronaut
        let plain = try AvatarStore.key(for: file, settings: .default)
        let padded = try AvatarStore.key(for: file, settings: try AvatarSettings.framing(pads: [0, 10, 0, 0], box: nil, nosmooth: false))
        let unsmoothed = try AvatarStore.key(for: file, settings: try AvatarSettings.framing(pads: nil, box: nil, nosmooth: true))
        #expect(Set([plain, padded, unsmoothed]).count == 3)
        let encoded = String(decoding: try JSONEncoder().encode(AvatarSettings.default), as: UTF8.self)
        #expect(!encoded.contains("pads") && !encoded.contains("box"))
    }

    /// A fixed box is used for the prepared avatar's crops, and one outside the picture is refused.
    @Test func preparedAvatarUsesTheFixedBox() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Fixtures.store(dir)
        let settings = try AvatarSettings.framing(pads: nil, box: [60, 200, 170, 290], nosmooth: false)
        let avatar = try store.prepare(Fixtures.astronaut, settings: settings).avatar
        #expect(avatar.face(0)?.box == PixelRect(x: 170, y: 60, width: 120, height: 140))
        #expect(avatar.crop(0) == avatar.frame(0).cropped(to: PixelRect(x: 170, y: 60, width: 120, height: 140)).resized(width: 96, height: 96))
        let outside = try AvatarSettings.framing(pads: nil, box: [400, 600, 0, 100], nosmooth: false)
        #expect(throws: AvatarError.self) { try store.prepare(Fixtures.astronaut, settings: outside) }
    }

    /// The feathered mask keeps the whole lower face generated down to just above the box's bottom edge:
    /// the chin (at 1/1.12 of the default box) and the space below it, where an opening jaw goes, are
    /// fully the model's; the eyes are fully the avatar's.
    @Test func featheredMaskKeepsTheJawAndBoxPasteIsARectangle() {
        let width = 100, height = 120
        let mask = Compositor().mask(width: width, height: height)
        func alpha(_ u: Double, _ v: Double) -> Float { mask[Int(v * Double(height)) * width + Int(u * Double(width))] }
        let chin = 1 / 1.12
        for u in stride(from: 0.3, through: 0.7, by: 0.05) {
            #expect(alpha(u, chin) >= 0.99, "chin at u=\(u): \(alpha(u, chin))")
            #expect(alpha(u, 0.92) >= 0.99, "below the chin at u=\(u): \(alpha(u, 0.92))")
            #expect(alpha(u, 0.6) >= 0.99, "mouth at u=\(u)")
            #expect(alpha(u, 0.3) == 0, "eyes at u=\(u)")
        }
        let box = Compositor(paste: .box).mask(width: width, height: height)
        #expect(box.allSatisfy { $0 == 1 })

        // Pasting: the hard rectangle replaces the whole box, feathering leaves the top rows alone.
        let patch = RGBImage(width: 96, height: 96, pixels: [UInt8](repeating: 255, count: 96 * 96 * 3))
        let target = PixelRect(x: 10, y: 10, width: width, height: height)
        var hard = RGBImage(width: 140, height: 160), soft = RGBImage(width: 140, height: 160)
        Compositor(paste: .box).composite(patch, into: &hard, box: target, mask: box)
        Compositor().composite(patch, into: &soft, box: target, mask: mask)
        #expect(hard[10, 10] == (255, 255, 255) && hard[109, 129] == (255, 255, 255) && hard[9, 9] == (0, 0, 0))
        #expect(soft[60, 20] == (0, 0, 0) && soft[60, 90] == (255, 255, 255))
    }
}
