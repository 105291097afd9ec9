import AudioFeatures
import Avatar
import Foundation
import Imaging
import LipSync
import Media
import Pipeline
import SpeechSynthesis
import Testing
import TestSupport

/// The viseme engine, judged on the generated video: the face-landmark model measures the mouth in
/// the output frames.
@Suite(.serialized) struct VisemeTests {
    static func pearson(_ a: [Double], _ b: [Double]) -> Double {
        let ma = a.reduce(0, +) / Double(a.count), mb = b.reduce(0, +) / Double(b.count)
        var cov = 0.0, va = 0.0, vb = 0.0
        for (x, y) in zip(a, b) { cov += (x - ma) * (y - mb); va += (x - ma) * (x - ma); vb += (y - mb) * (y - mb) }
        return cov / max(1e-12, (va * vb).squareRoot())
    }

    /// Inner-lip opening: the mean gap of five facing points of the inner lip contour (13-14 in the
    /// middle, two pairs on each side), which halves the landmark model's jitter compared with 13-14 alone.
    static func innerLipOpening(_ points: [Point]) -> Double {
        let pairs = [(13, 14), (82, 87), (312, 317), (81, 178), (311, 402)]
        return pairs.map { points[$0.0].distance(to: points[$0.1]) }.reduce(0, +) / Double(pairs.count)
    }

    /// The inner lip contour (upper edge left to right, then the lower edge back), for what lies inside it.
    static let innerContour = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]

    static func inside(_ polygon: [Point], x: Double, y: Double) -> Bool {
        var inside = false
        var j = polygon.count - 1
        for i in polygon.indices {
            let a = polygon[i], b = polygon[j]
            if (a.y > y) != (b.y > y) && x < a.x + (b.x - a.x) * (y - a.y) / (b.y - a.y) { inside.toggle() }
            j = i
        }
        return inside
    }

    /// Mean and standard deviation of the luminance inside the inner lip contour.
    static func luminanceInsideTheLips(_ frame: RGBImage, _ points: [Point]) -> (mean: Double, std: Double, count: Int) {
        let polygon = innerContour.map { points[$0] }
        let xs = polygon.map(\.x), ys = polygon.map(\.y)
        var values: [Double] = []
        for y in max(0, Int(ys.min()!))...min(frame.height - 1, Int(ys.max()!) + 1) {
            for x in max(0, Int(xs.min()!))...min(frame.width - 1, Int(xs.max()!) + 1)
            where inside(polygon, x: Double(x) + 0.5, y: Double(y) + 0.5) {
                let p = frame[x, y]
                values.append(0.299 * Double(p.0) + 0.587 * Double(p.1) + 0.114 * Double(p.2))
            }
        }
        guard !values.isEmpty else { return (0, 0, 0) }
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
        return (mean, variance.squareRoot(), values.count)
    }

    /// The vowel's letter without stress, length and palatalization marks.
    static func vowelLetter(_ phoneme: String) -> Character? {
        phoneme.first { !"ˈˌːʲ".contains($0) }
    }

    /// An avatar's first frame as the engine gets it: the face region, its crop, and the landmarks both
    /// in the frame and in the crop's coordinates.
    struct MouthCrop {
        let frame: RGBImage, region: PixelRect, crop: RGBImage, landmarks: [Point], points: [Point]

        init(_ avatar: PreparedAvatar) throws {
            let face = try #require(avatar.face(0))
            let frame = avatar.frame(0)
            let region = CropStyle.fullResolution.region(for: face.box, frameWidth: frame.width, frameHeight: frame.height)
            (self.frame, self.region, crop, landmarks) = (frame, region, frame.cropped(to: region), face.landmarks)
            points = face.landmarks.map { Point(x: $0.x - Double(region.x), y: $0.y - Double(region.y)) }
        }

        /// The whole frame with the mouth in `shape`.
        func posed(_ shape: MouthShape) -> RGBImage {
            var posed = frame
            posed.paste(MouthWarp().render(crop, landmarks: points, shape: shape), at: region)
            return posed
        }
    }

    static let avatars: [(name: String, file: URL)] = [("astronaut", Fixtures.astronaut), ("closed mouth", Fixtures.closedMouth)]

    @Test(arguments: [
        ("ru", "Папа купил маме букет. Мы были в парке, потом пошли домой. Было тепло."),
        ("en", "Bob bought a map. We met at the bank, then walked home. It was warm."),
    ], avatars)
    func mouthFollowsTheSpeechInTheVideo(speech: (language: String, text: String), avatar: (name: String, file: URL)) async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Fixtures.store(dir.appendingPathComponent("avatars"))
        let generator = Generator(synthesizer: try EspeakSynthesizer(), avatars: store)
        let output = dir.appendingPathComponent("viseme.mp4")
        // A calm pace, so the sentence pauses last 300 ms or more.
        let result = try await generator.generate(.text(SpeechRequest(text: speech.text, language: speech.language, wordsPerMinute: 130)),
                                                  avatar: avatar.file, engine: VisemeEngine(), output: output)
        #expect(result.engine == "viseme")
        let label = "\(avatar.name), \(speech.language)"

        // The mouth measured by the landmark model in every output frame.
        let (prepared, _) = try store.prepare(avatar.file)
        let rest = try #require(try store.analyseFrame(prepared.frame(0)))
        let restOpening = Self.innerLipOpening(rest.landmarks)
        var openings: [Double] = [], widths: [Double] = [], landmarks: [[Point]] = []
        var outsideDifference = 0
        let original = prepared.frame(0)
        // Above the nose's base nothing moves: the frame is the avatar there (up to H.264 noise).
        let still = Int(rest.landmarks[2].y) - 2
        var openFrames: [Int: RGBImage] = [:]
        // The loudest frame of each open vowel: its nucleus.
        let openVowelFrames = Set((result.cues.phonemes ?? []).filter { Viseme.of($0.name) == .openVowel }.compactMap { phoneme -> Int? in
            let first = max(0, Int((phoneme.start * result.fps).rounded(.up))), last = min(result.frameCount - 1, Int(phoneme.end * result.fps))
            return first <= last ? (first...last).max { result.cues.bandLoudness[$0] < result.cues.bandLoudness[$1] } : nil
        })
        try FFmpeg.forEachFrame(output) { index, frame in
            let face = try #require(try store.analyseFrame(frame))
            openings.append(Self.innerLipOpening(face.landmarks) - restOpening)
            widths.append(face.landmarks[61].distance(to: face.landmarks[291]))
            landmarks.append(face.landmarks)
            if openVowelFrames.contains(index) { openFrames[index] = frame }
            if index % 10 == 0 {
                for y in stride(from: 0, to: still, by: 2) {
                    for x in stride(from: 0, to: frame.width, by: 2) {
                        outsideDifference = max(outsideDifference, abs(Int(frame[x, y].1) - Int(original[x, y].1)))
                    }
                }
            }
        }
        #expect(openings.count == result.frameCount)
        #expect(outsideDifference < 24, "\(label): largest green difference above the nose")
        #expect(openings.max()! > 3, "\(label): the mouth opens visibly: \(openings.max()!) px")

        // (a) Opening follows loudness: the speech band's, where an open mouth's formants lie (the overall
        // loudness also counts the murmur of a closed m, which no mouth shows; printed for comparison).
        let loudness = result.cues.loudness.map(Double.init)
        let correlation = Self.pearson(openings, result.cues.bandLoudness.map(Double.init))
        let overallCorrelation = Self.pearson(openings, loudness)
        #expect(correlation >= 0.6, "\(label): correlation with the speech band's RMS envelope: \(correlation)")

        // (b) Closed (back at rest) through every silence of 300 ms or more.
        let quiet = loudness.map { $0 < 0.02 }
        var silences: [Range<Int>] = []
        var start: Int?
        for (index, isQuiet) in (quiet + [false]).enumerated() {
            if isQuiet, start == nil { start = index }
            if !isQuiet, let begin = start {
                if Double(index - begin) / result.fps >= 0.3 { silences.append(begin..<index) }
                start = nil
            }
        }
        #expect(!silences.isEmpty, "the text has pauses to check")
        var largestInPauses = -Double.infinity
        for silence in silences {
            let inner = (silence.lowerBound + 1)..<max(silence.lowerBound + 1, silence.upperBound - 1)
            for frame in inner {
                largestInPauses = max(largestInPauses, openings[frame])
                #expect(openings[frame] < 2.5, "\(label): frame \(frame) in a silence opens \(openings[frame]) px")
            }
        }
        // The smiling astronaut shows her teeth; silent, her lips meet over them (below the picture's gap).
        if avatar.name == "astronaut" {
            #expect(largestInPauses < -2, "\(label): the lips close over the smile in pauses: \(largestInPauses) px")
        }

        // (c) Closed at p/b/m.
        let bilabials = (result.cues.phonemes ?? []).filter { Viseme.of($0.name) == .bilabial }
        #expect(bilabials.count >= 4)
        var largestAtBilabials = -Double.infinity
        for phoneme in bilabials {
            let frame = min(openings.count - 1, Int(((phoneme.start + phoneme.end) / 2 * result.fps).rounded(.down)))
            largestAtBilabials = max(largestAtBilabials, openings[frame])
            #expect(openings[frame] < 2.5, "\(label): '\(phoneme.name)' at \(phoneme.start) s: frame \(frame) opens \(openings[frame]) px")
        }

        // (d) Rounded vowels (o, u) are narrower than spread ones (i, e) of the same utterance, measured
        // while they sound (espeak-ng's timeline lets a word's last vowel run on into the pause after it).
        func voicedFrames(_ phoneme: SpeechCues.Phoneme) -> [Int] {
            let first = max(0, Int((phoneme.start * result.fps).rounded(.up))), last = min(widths.count - 1, Int(phoneme.end * result.fps))
            return first <= last ? (first...last).filter { loudness[$0] >= 0.3 } : []
        }
        func frames(_ letters: String) -> [Int] {
            (result.cues.phonemes ?? []).filter { phoneme in Self.vowelLetter(phoneme.name).map { letters.contains($0) } ?? false }
                .flatMap(voicedFrames)
        }
        let roundedFrames = frames("ouɔʊ"), spreadFrames = frames("iɪeɛ")
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(1, values.count)) }
        #expect(roundedFrames.count >= 3 && spreadFrames.count >= 3)
        let widthRatio = mean(roundedFrames.map { widths[$0] }) / mean(spreadFrames.map { widths[$0] })
        let askedRatio = mean(roundedFrames.map { result.cues.mouth.shapes[$0].width }) / mean(spreadFrames.map { result.cues.mouth.shapes[$0].width })
        #expect(widthRatio <= 0.92, "\(label): rounded/spread mouth width \(widthRatio)")

        // (e) Inside the lips on open vowels: a shaded mouth, neither a black hole nor a flat fill.
        var means: [Double] = [], deviations: [Double] = []
        for (index, frame) in openFrames.sorted(by: { $0.key < $1.key }) where openings[index] > 2 {
            let inside = Self.luminanceInsideTheLips(frame, landmarks[index])
            if inside.count >= 20 { means.append(inside.mean); deviations.append(inside.std) }
        }
        #expect(means.count >= 3, "\(label): open vowels with an open mouth to look into")
        let meanLuminance = means.reduce(0, +) / Double(max(1, means.count))
        let meanDeviation = deviations.reduce(0, +) / Double(max(1, deviations.count))
        #expect((25...110).contains(meanLuminance), "\(label): mean luminance inside the lips \(meanLuminance)")
        #expect(meanDeviation >= 8, "\(label): luminance deviation inside the lips \(meanDeviation)")
        for (mean, deviation) in zip(means, deviations) {
            #expect((15...140).contains(mean) && deviation >= 4, "\(label): one open vowel's mouth: mean \(mean), std \(deviation)")
        }

        print(String(format: "viseme %@: correlation %.3f (overall loudness %.3f), largest opening %.1f px, largest in pauses %.2f px, at p/b/m %.2f px, width rounded/spread %.3f (%d/%d voiced frames; the track asked %.3f), inside the lips on open vowels: luminance %.1f, std %.1f (%d frames)",
                     label, correlation, overallCorrelation, openings.max()!, largestInPauses, largestAtBilabials, widthRatio, roundedFrames.count, spreadFrames.count, askedRatio,
                     meanLuminance, meanDeviation, means.count))
    }

    /// The warp on real faces, large and small (~80 px wide), at the widest poses: it is the identity on
    /// the crop's edges (the crop is pasted back as it is), and outside the lips every neighbouring pixel
    /// comes from a neighbouring place (no fold, no jump, no line) at the jaw, the chin and the cheeks.
    @Test(arguments: [(Fixtures.astronaut, 1.0), (Fixtures.astronaut, 0.85), (Fixtures.closedMouth, 1.0), (Fixtures.closedMouth, 0.42)])
    func theWarpHasNoSeams(avatar file: URL, scale: Double) async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Fixtures.store(dir)
        var image = try FFmpeg.decodeImage(file)
        image = image.resized(width: Int(Double(image.width) * scale) / 2 * 2, height: Int(Double(image.height) * scale) / 2 * 2)
        let small = dir.appendingPathComponent("face.png")
        try FFmpeg.writePNG(image, to: small)
        let mouth = try MouthCrop(store.prepare(small).0)
        let crop = mouth.crop, points = mouth.points
        let faceWidth = points[454].x - points[234].x
        if scale < 1 { #expect(faceWidth < 100, "a small face: \(faceWidth) px") }

        let poses: [MouthShape] = [Viseme.openVowel.shape, Viseme.roundedVowel.shape, Viseme.spreadVowel.shape,
                                   Viseme.labiodental.shape, Viseme.bilabial.shape]
        for shape in poses {
            let map = try #require(MouthWarp().map(crop, landmarks: points, shape: shape))
            let width = crop.width, height = crop.height
            var edge = 0.0
            for y in 0..<height {
                for x in 0..<width where x == 0 || y == 0 || x == width - 1 || y == height - 1 {
                    let i = y * width + x
                    edge = max(edge, abs(map.x[i] - (Double(x) + 0.5)), abs(map.y[i] - (Double(y) + 0.5)))
                }
            }
            #expect(edge < 0.01, "\(shape): the crop's edge moves \(edge) px")

            // The lips' box (and below it, as far as the lower lip drops): where the lips meet and part.
            let lips = [61, 291, 0, 17, 13, 14].map { points[$0] }
            let drop = 0.7 * points[61].distance(to: points[291]) / 2
            let mouthX = (lips.map(\.x).min()! - 2)...(lips.map(\.x).max()! + 2)
            let mouthY = (lips.map(\.y).min()! - 2)...(lips.map(\.y).max()! + drop + 2)
            var smallest = Double.infinity, largest = 0.0
            for y in 0..<(height - 1) {
                for x in 0..<(width - 1) where !(mouthX.contains(Double(x) + 0.5) && mouthY.contains(Double(y) + 0.5)) {
                    let i = y * width + x
                    guard map.opening[i] == 0, map.opening[i + 1] == 0, map.opening[i + width] == 0 else { continue }
                    // Steps to the right and down neighbours, in source pixels.
                    let across = map.x[i + 1] - map.x[i], down = map.y[i + width] - map.y[i]
                    let step = max(abs(across - 1) + abs(map.y[i + 1] - map.y[i]), abs(down - 1) + abs(map.x[i + width] - map.x[i]))
                    smallest = min(smallest, across, down)
                    largest = max(largest, step)
                }
            }
            #expect(smallest > 0.2, "\(shape) at \(scale)x: the picture folds or is crushed: a neighbour step of \(smallest) px")
            #expect(largest < 2, "\(shape) at \(scale)x: a jump of \(largest) px between neighbours")
            print(String(format: "warp %@ %.2fx, face %.0f px: edge %.3f px, neighbour steps %.2f...%.2f px", file.lastPathComponent, scale, faceWidth, edge, smallest, largest + 1))
        }
    }

    /// Silence on a closed-mouth picture changes nothing; on a smiling one the lips meet over the teeth.
    @Test func silentLipsMeetOverASmileAndLeaveAClosedMouthAlone() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Fixtures.store(dir)
        var openings: [String: (picture: Double, silent: Double)] = [:]
        for avatar in Self.avatars {
            let mouth = try MouthCrop(store.prepare(avatar.file).0)
            let silent = MouthWarp().render(mouth.crop, landmarks: mouth.points, shape: Viseme.rest.shape)
            let seen = try #require(try store.analyseFrame(mouth.posed(Viseme.rest.shape)))
            openings[avatar.name] = (Self.innerLipOpening(mouth.landmarks), Self.innerLipOpening(seen.landmarks))
            if avatar.name == "closed mouth" {
                let largest = zip(silent.pixels, mouth.crop.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
                #expect(largest <= 12, "a closed mouth stays as it is when silent: a difference of \(largest) grey levels")
            }
        }
        let smile = try #require(openings["astronaut"])
        #expect(smile.silent < smile.picture - 3, "the smile's lips meet: opening \(smile.picture) -> \(smile.silent) px")

        // The track asks for it wherever nothing is said, with a timeline or from the audio alone.
        for phonemes in [[SpeechCues.Phoneme(name: "_", start: 0, end: 1)], []] {
            let track = MouthTrack(cues: SpeechCues.analyse(samples: [Float](repeating: 0, count: 16_000), sampleRate: 16_000, fps: 25,
                                                             frameCount: 25, phonemes: phonemes))
            #expect(track.shapes.count == 25 && track.shapes.allSatisfy { $0.shut > 0.99 && $0.open == 0 })
        }
    }

    /// A video avatar (the astronaut panning by, looped ping-pong): every frame's own landmarks drive
    /// the mouth, which opens on the vowels and closes at every p/b/m.
    @Test func aVideoAvatarSpeaksFrameByFrame() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let clip = dir.appendingPathComponent("avatar.mp4")
        try Fixtures.panningClip(frames: 20, pixelsPerFrame: 3, to: clip)
        let store = try Fixtures.store(dir.appendingPathComponent("avatars"))
        let output = dir.appendingPathComponent("out.mp4")
        let result = try await Generator(synthesizer: try EspeakSynthesizer(), avatars: store)
            .generate(.text(SpeechRequest(text: "Мама мыла раму. А папа пил чай.", language: "ru", wordsPerMinute: 130)),
                      avatar: clip, engine: VisemeEngine(), output: output)
        let (avatar, _) = try store.prepare(clip)
        var openings: [Double] = []
        try FFmpeg.forEachFrame(output) { index, frame in
            let face = try #require(try store.analyseFrame(frame))
            let source = try #require(avatar.face(avatar.sourceFrame(forOutputFrame: index)))
            openings.append(Self.innerLipOpening(face.landmarks) - Self.innerLipOpening(source.landmarks))
        }
        #expect(openings.count == result.frameCount)
        let correlation = Self.pearson(openings, result.cues.bandLoudness.map(Double.init))
        #expect(openings.max()! > 3, "the mouth opens: \(openings.max()!) px")
        #expect(correlation >= 0.5, "opening follows loudness on a video avatar: \(correlation)")
        for phoneme in (result.cues.phonemes ?? []) where Viseme.of(phoneme.name) == .bilabial {
            let frame = min(openings.count - 1, Int(((phoneme.start + phoneme.end) / 2 * result.fps).rounded(.down)))
            #expect(openings[frame] < 1, "'\(phoneme.name)' at \(phoneme.start) s: frame \(frame) opens \(openings[frame]) px")
        }
        print(String(format: "video avatar: %d frames, correlation %.3f, largest opening %.1f px", openings.count, correlation, openings.max()!))
    }

    /// Each viseme at full strength, as the landmark model sees it on both avatars: rounded lips are
    /// narrower than spread ones, p/b/m close the lips, the open vowel opens widest.
    @Test(arguments: avatars.map(\.file))
    func visemePosesAsTheLandmarkModelSeesThem(avatar file: URL) async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Fixtures.store(dir)
        let mouth = try MouthCrop(store.prepare(file).0)
        var measured: [Viseme: (width: Double, opening: Double)] = [:]
        for viseme in [Viseme.rest, .bilabial, .openVowel, .spreadVowel, .roundedVowel] {
            let seen = try #require(try store.analyseFrame(mouth.posed(viseme.shape)))
            measured[viseme] = (seen.landmarks[61].distance(to: seen.landmarks[291]), Self.innerLipOpening(seen.landmarks))
        }
        let rest = measured[.rest]!
        print(String(format: "poses %@: width rest %.1f, open %.1f, spread %.1f, rounded %.1f (%.3f of spread); opening rest %.1f, p/b/m %.1f, open %.1f",
                     file.lastPathComponent, rest.width, measured[.openVowel]!.width, measured[.spreadVowel]!.width, measured[.roundedVowel]!.width,
                     measured[.roundedVowel]!.width / measured[.spreadVowel]!.width, rest.opening, measured[.bilabial]!.opening, measured[.openVowel]!.opening))
        #expect(measured[.roundedVowel]!.width <= 0.92 * measured[.spreadVowel]!.width)
        #expect(measured[.bilabial]!.opening <= rest.opening + 1)
        #expect(measured[.openVowel]!.opening >= rest.opening + 3)
    }

    /// A closed mouth's murmur (m, n: low, loud) and an open vowel (formants at 700 and 1200 Hz) are
    /// equally loud overall; only the vowel is loud in the speech band, and only it opens the mouth.
    @Test func aMurmurIsHeardButDoesNotOpenTheMouth() {
        let rate = 16_000
        let samples = (0..<rate).map { index -> Float in
            let t = Double(index) / Double(rate)
            return Float(index < rate / 2 ? 0.4 * sin(2 * .pi * 220 * t)
                                          : 0.28 * sin(2 * .pi * 700 * t) + 0.28 * sin(2 * .pi * 1_200 * t))
        }
        let cues = SpeechCues.analyse(samples: samples, sampleRate: rate, fps: 25, frameCount: 25, phonemes: nil)
        func mean(_ values: ArraySlice<Float>) -> Double { values.map(Double.init).reduce(0, +) / Double(values.count) }
        let murmur = 2..<10, vowel = 15..<23
        #expect(abs(mean(cues.loudness[murmur]) - mean(cues.loudness[vowel])) < 0.1 * mean(cues.loudness[vowel]))
        #expect(mean(cues.bandLoudness[murmur]) < 0.1 * mean(cues.bandLoudness[vowel]))
        let open = cues.mouth.shapes.map(\.open)
        #expect(open[murmur].max()! < 0.2 && open[vowel].min()! > 0.5, "murmur \(open[murmur]), vowel \(open[vowel])")
    }

    @Test func recordingsWithoutATimelineAnimateFromTheAudio() async throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let speech = try await EspeakSynthesizer().synthesize(SpeechRequest(text: "Hello. This is a recording.", language: "en"))
        let wav = dir.appendingPathComponent("in.wav")
        try WAVFile.write(AudioBuffer(samples: speech.samples, sampleRate: speech.sampleRate), to: wav)
        let cues = SpeechCues.analyse(samples: try LipSyncAudio.prepare(AudioBuffer(samples: speech.samples, sampleRate: speech.sampleRate)).samples,
                                      sampleRate: 16_000, fps: 25, frameCount: 60, phonemes: nil)
        let track = MouthTrack(cues: cues)
        #expect(track.shapes.count == 60)
        #expect(track.shapes.contains { $0.open > 0.5 })
        #expect(Self.pearson(track.shapes.map(\.open), cues.bandLoudness.map(Double.init)) > 0.7)
        let generator = Generator(synthesizer: try EspeakSynthesizer(), avatars: try Fixtures.store(dir.appendingPathComponent("a")))
        let result = try await generator.generate(.audioFile(wav), avatar: Fixtures.astronaut, engine: VisemeEngine(),
                                                  output: dir.appendingPathComponent("out.mp4"))
        #expect(result.cues.phonemes == nil && result.frameCount > 0)
    }

    @Test func visemeClassesOfCommonPhonemes() {
        #expect(["p", "b", "m", "mʲ", "bː"].allSatisfy { Viseme.of($0) == .bilabial })
        #expect(Viseme.of("f") == .labiodental && Viseme.of("a") == .openVowel && Viseme.of("ˈa") == .openVowel)
        #expect(Viseme.of("u") == .roundedVowel && Viseme.of("i") == .spreadVowel && Viseme.of("tʃ") == .postalveolar)
        #expect(Viseme.of("") == .rest)
        #expect(Viseme.roundedVowel.shape.width < 1 && Viseme.spreadVowel.shape.width > 1)
    }
}
