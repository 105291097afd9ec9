import ArgumentParser
import Avatar
import Foundation
import Imaging
import Inference
import LipSync
import Media

/// A contact sheet of the mouth: how a person checks what the lip-sync looks like without playing the
/// video frame by frame.
struct SheetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sheet",
        abstract: "Contact sheet of the mouth region of a video (or of every viseme on an avatar), zoomed and labelled.",
        discussion: """
        lipsync sheet out.mp4 --timeline speech.json -o sheet.png   (timeline from `lipsync speak --timeline` or `lipsync generate --timeline`)
        lipsync sheet --visemes --avatar face.png -o visemes.png    (the viseme engine's shapes at full strength)
        """
    )

    @Argument(help: "The video to look at.")
    var video: String?

    @Option(help: "Speech timeline JSON: labels each frame with the phoneme heard at its time.")
    var timeline: String?

    @Flag(help: "Instead of a video: the avatar in every viseme shape of the viseme engine.")
    var visemes = false

    @OptionGroup var avatarOptions: AvatarOptions

    @Option(help: "Frames per second of video on the sheet.")
    var rate: Double = 6

    @Option(help: "Start at this time (seconds).")
    var start: Double = 0

    @Option(help: "Cover this many seconds (default: the whole video, up to 120 frames on the sheet).")
    var duration: Double?

    @Option(help: "Tiles per row.")
    var columns: Int = 6

    @Option(help: "Tile width in pixels (the mouth region is zoomed to it).")
    var tile: Int = 200

    @Option(name: .shortAndLong, help: "Output PNG.")
    var output: String

    func validate() throws {
        guard visemes == (video == nil) else { throw ValidationError("give a video, or --visemes (one of them)") }
        guard rate > 0, columns > 0, (40...800).contains(tile), start >= 0 else {
            throw ValidationError("--rate and --columns must be positive, --tile in 40...800, --start not negative")
        }
    }

    func run() async throws {
        let runtime = try InferenceRuntime.shared.get()
        let store = avatarOptions.locations.store(runtime: runtime)
        var tiles: [(RGBImage, [String])] = []
        if visemes {
            let (avatar, _) = try store.prepare(avatarOptions.locations.avatarFile)
            guard let index = avatar.metadata.faces.firstIndex(where: { $0 != nil }), let face = avatar.face(index) else {
                throw AvatarError.noFace(avatarOptions.locations.avatarFile.lastPathComponent)
            }
            let frame = avatar.frame(index)
            let region = CropStyle.fullResolution.region(for: face.box, frameWidth: frame.width, frameHeight: frame.height)
            let crop = frame.cropped(to: region)
            let landmarks = face.landmarks.map { Point(x: $0.x - Double(region.x), y: $0.y - Double(region.y)) }
            let zoom = Self.mouthRegion(face.landmarks, width: frame.width, height: frame.height)
            let warp = MouthWarp()
            for viseme in Viseme.allCases {
                var posed = frame
                posed.paste(warp.render(crop, landmarks: landmarks, shape: viseme.shape), at: region)
                tiles.append((Self.zoomed(posed, zoom, width: tile), [Self.name(of: viseme)]))
            }
        } else {
            let url = URL(fileURLWithPath: video!)
            let info = try FFmpeg.probe(url)
            let fps = info.fps ?? 25
            let phonemes = try timeline.map { try Self.phonemes(URL(fileURLWithPath: $0)) } ?? []
            let every = max(1, Int((fps / rate).rounded()))
            let first = Int((start * fps).rounded())
            let last = duration.map { first + Int(($0 * fps).rounded()) } ?? Int.max
            var zoom: PixelRect?
            try FFmpeg.forEachFrame(url) { index, frame in
                guard index >= first, index < last, (index - first) % every == 0, tiles.count < 120 else { return }
                // Follow the face (video avatars move), but keep still while it stays put: the landmarks of
                // a talking mouth shift a little from frame to frame.
                if let face = try store.analyseFrame(frame) {
                    let found = Self.mouthRegion(face.landmarks, width: frame.width, height: frame.height)
                    if let current = zoom, abs(found.x - current.x) + abs(found.y - current.y) < max(2, current.width / 10) {
                    } else {
                        zoom = found
                    }
                }
                guard let zoom else { return }
                let time = Double(index) / fps
                var labels = [String(format: "%.2f S  #%d", time, index)]
                // The phoneme heard at the middle of this frame.
                let middle = time + 0.5 / fps
                if let phoneme = phonemes.last(where: { $0.start <= middle && middle < $0.end }) {
                    labels.append("\(Self.ascii(phoneme.name))  \(Self.name(of: Viseme.of(phoneme.name)))")
                } else if !phonemes.isEmpty {
                    labels.append("-")
                }
                tiles.append((Self.zoomed(frame, zoom, width: tile), labels))
            }
            guard !tiles.isEmpty else { throw ValidationError("no frames with a face in that part of \(url.lastPathComponent)") }
        }
        let sheet = Self.layout(tiles, columns: columns)
        try FFmpeg.writePNG(sheet, to: URL(fileURLWithPath: output))
        print("wrote \(output): \(tiles.count) tiles, \(sheet.width)x\(sheet.height)")
    }

    /// The lower face around the mouth: from the nose to the chin, 4:3.
    static func mouthRegion(_ landmarks: [Point], width: Int, height: Int) -> PixelRect {
        let left = landmarks[61], right = landmarks[291], nose = landmarks[2], chin = landmarks[152]
        let centreX = (left.x + right.x) / 2, centreY = (nose.y + chin.y) / 2 + 0.1 * (chin.y - nose.y)
        let regionHeight = max(12, 1.15 * (chin.y - nose.y)), regionWidth = max(regionHeight * 4 / 3, 2.0 * left.distance(to: right))
        let rect = PixelRect(x: Int(centreX - regionWidth / 2), y: Int(centreY - regionWidth * 3 / 8),
                             width: Int(regionWidth), height: Int(regionWidth * 3 / 4))
        return rect.clamped(width: width, height: height)
    }

    static func zoomed(_ frame: RGBImage, _ region: PixelRect, width: Int) -> RGBImage {
        let crop = frame.cropped(to: region)
        return crop.resized(width: width, height: max(1, width * region.height / max(1, region.width)))
    }

    static func layout(_ tiles: [(RGBImage, [String])], columns: Int) -> RGBImage {
        let tileWidth = tiles.map(\.0.width).max() ?? 1, tileHeight = tiles.map(\.0.height).max() ?? 1
        let lines = tiles.map(\.1.count).max() ?? 0
        let scale = tileWidth >= 160 ? 2 : 1
        let labelHeight = lines * (BitmapFont.glyphHeight + 3) * scale + 4
        let gap = 4, across = min(columns, tiles.count), down = (tiles.count + columns - 1) / columns
        var sheet = RGBImage(width: across * (tileWidth + gap) + gap, height: down * (tileHeight + labelHeight + gap) + gap,
                             fill: (24, 24, 28))
        for (index, (image, labels)) in tiles.enumerated() {
            let x = gap + (index % columns) * (tileWidth + gap), y = gap + (index / columns) * (tileHeight + labelHeight + gap)
            sheet.paste(image, at: PixelRect(x: x, y: y, width: image.width, height: image.height))
            for (line, text) in labels.enumerated() {
                sheet.drawText(text, x: x + 2, y: y + tileHeight + 3 + line * (BitmapFont.glyphHeight + 3) * scale, scale: scale,
                               color: line == 0 ? (200, 200, 200) : (255, 220, 120))
            }
        }
        return sheet
    }

    static func name(of viseme: Viseme) -> String {
        switch viseme {
        case .rest: return "rest"
        case .bilabial: return "p b m"
        case .labiodental: return "f v"
        case .consonant: return "cons"
        case .sibilant: return "s z"
        case .postalveolar: return "sh ch"
        case .openVowel: return "open a"
        case .midVowel: return "mid e"
        case .spreadVowel: return "spread i"
        case .roundedVowel: return "round o u"
        }
    }

    /// IPA in letters the sheet's font has.
    static func ascii(_ phoneme: String) -> String {
        let names: [Character: String] = [
            "ɐ": "a", "ɑ": "a", "æ": "ae", "ʌ": "ah", "ə": "@", "ɚ": "@r", "ɜ": "3", "ɛ": "e", "ɪ": "i", "ɨ": "y",
            "ʊ": "u", "ɔ": "o", "ɒ": "o", "ɵ": "o", "ʃ": "sh", "ʒ": "zh", "ɕ": "sh", "ʑ": "zh", "ʂ": "sh", "ʐ": "zh",
            "θ": "th", "ð": "dh", "ŋ": "ng", "ɹ": "r", "ɾ": "r", "ɭ": "l", "ʲ": "'", "ː": ":", "ɡ": "g", "ɫ": "l", "ʔ": "?",
            "ç": "c", "ɣ": "g", "ʎ": "l", "ɲ": "n", "ø": "o", "œ": "o", "ʏ": "y", "ɯ": "u", "ɤ": "o",
        ]
        var text = ""
        for character in phoneme where !"ˈˌ".contains(character) {
            if let name = names[character] { text += name } else if BitmapFont.canDraw(character) { text.append(character) } else { text += "?" }
        }
        return text.isEmpty ? "-" : text
    }

    /// Phoneme intervals from a timeline file: each lasts until the next phoneme or the end.
    static func phonemes(_ url: URL) throws -> [SpeechCues.Phoneme] {
        struct Document: Decodable {
            struct Event: Decodable {
                var kind: String
                var seconds: Double
                var text: String?
            }
            var events: [Event]
        }
        let document = try JSONDecoder().decode(Document.self, from: Data(contentsOf: url))
        var result: [SpeechCues.Phoneme] = []
        for (index, event) in document.events.enumerated() where event.kind == "phoneme" {
            let next = document.events[(index + 1)...].first { $0.kind == "phoneme" || $0.kind == "end" }
            result.append(SpeechCues.Phoneme(name: event.text ?? "?", start: event.seconds, end: next?.seconds ?? event.seconds + 0.1))
        }
        return result
    }
}
