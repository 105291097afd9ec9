import Foundation

/// Follows a fragmented MP4 as its bytes arrive: when the init segment (`moov`) is complete, and when
/// each fragment (`moof` + `mdat`) is, with how many video frames it carries. Streaming tests and the
/// streaming benchmark use it to tell when a player could show the first frame and whether it would stall.
package struct FragmentScanner: Sendable {
    package struct Fragment: Sendable, Equatable {
        /// Video frames in the fragment (samples of the video track).
        package var videoFrames: Int
        /// Audio samples (AAC frames) in the fragment.
        package var audioFrames: Int
    }

    private var pending = Data()
    private var videoTrack: UInt32?
    private var audioTrack: UInt32?
    private var samplesInMoof: [UInt32: Int] = [:]
    package private(set) var initComplete = false
    package private(set) var fragments: [Fragment] = []

    package init() {}

    /// Takes the next bytes; returns the fragments they completed.
    package mutating func feed(_ data: Data) -> [Fragment] {
        pending.append(data)
        var completed: [Fragment] = []
        var offset = pending.startIndex
        while let (type, size, header) = Self.box(in: pending, at: offset), pending.endIndex - offset >= size {
            let body = pending[(offset + header)..<(offset + size)]
            switch type {
            case "moov":
                readTracks(body)
                initComplete = true
            case "moof":
                samplesInMoof = Self.sampleCounts(moof: body)
            case "mdat":
                let fragment = Fragment(videoFrames: videoTrack.flatMap { samplesInMoof[$0] } ?? 0,
                                        audioFrames: audioTrack.flatMap { samplesInMoof[$0] } ?? 0)
                samplesInMoof = [:]
                fragments.append(fragment)
                completed.append(fragment)
            default:
                break
            }
            offset += size
        }
        pending = Data(pending[offset...])
        return completed
    }

    /// The box at `offset`: its type, total size and header length (nil until 16 bytes are there).
    static func box(in data: Data, at offset: Int) -> (String, Int, Int)? {
        guard data.endIndex - offset >= 8 else { return nil }
        let size32 = Int(data.bigEndianUInt32(at: offset))
        let type = String(decoding: data[(offset + 4)..<(offset + 8)], as: UTF8.self)
        if size32 == 1 {
            guard data.endIndex - offset >= 16 else { return nil }
            return (type, Int(data.bigEndianUInt32(at: offset + 8)) << 32 | Int(data.bigEndianUInt32(at: offset + 12)), 16)
        }
        return size32 >= 8 ? (type, size32, 8) : nil
    }

    /// The children of a container box's body.
    static func children(_ body: Data) -> [(String, Data)] {
        var result: [(String, Data)] = []
        var offset = body.startIndex
        while let (type, size, header) = box(in: body, at: offset), body.endIndex - offset >= size {
            result.append((type, body[(offset + header)..<(offset + size)]))
            offset += size
        }
        return result
    }

    /// Track ids of the video and audio tracks, from moov/trak/{tkhd, mdia/hdlr}.
    private mutating func readTracks(_ moov: Data) {
        for (type, trak) in Self.children(moov) where type == "trak" {
            var id: UInt32?
            var handler = ""
            for (kind, child) in Self.children(trak) {
                if kind == "tkhd", child.count >= 16 {
                    // version 0: flags(4) creation(4) modification(4) track_ID; version 1: 8-byte times.
                    let version = child[child.startIndex]
                    id = child.bigEndianUInt32(at: child.startIndex + (version == 1 ? 20 : 12))
                }
                if kind == "mdia" {
                    for (name, part) in Self.children(child) where name == "hdlr" && part.count >= 12 {
                        handler = String(decoding: part[(part.startIndex + 8)..<(part.startIndex + 12)], as: UTF8.self)
                    }
                }
            }
            if handler == "vide" { videoTrack = id }
            if handler == "soun" { audioTrack = id }
        }
    }

    /// Samples per track in a moof: traf/tfhd track_ID, traf/trun sample_count.
    static func sampleCounts(moof: Data) -> [UInt32: Int] {
        var counts: [UInt32: Int] = [:]
        for (type, traf) in children(moof) where type == "traf" {
            var track: UInt32?
            var samples = 0
            for (kind, child) in children(traf) {
                if kind == "tfhd", child.count >= 8 { track = child.bigEndianUInt32(at: child.startIndex + 4) }
                if kind == "trun", child.count >= 8 { samples += Int(child.bigEndianUInt32(at: child.startIndex + 4)) }
            }
            if let track { counts[track, default: 0] += samples }
        }
        return counts
    }
}

extension Data {
    func bigEndianUInt32(at offset: Int) -> UInt32 {
        self[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }
}

/// What a player at 1x would have seen of a stream: when it could start, and how often and how long it
/// would have waited for the next fragment.
package struct PlaybackReport: Sendable {
    package var firstFrame: Double
    package var stalls: Int
    package var stalledSeconds: Double
    package var mediaSeconds: Double
    package var finished: Double

    /// - Parameter arrivals: each fragment with the time (seconds from the request) it was complete.
    package init(arrivals: [(time: Double, fragment: FragmentScanner.Fragment)], fps: Double) {
        firstFrame = arrivals.first?.time ?? 0
        finished = arrivals.last?.time ?? 0
        var playhead = firstFrame   // wall time at which the media position `mediaStart` plays
        var mediaStart = 0.0
        var stalls = 0, stalled = 0.0
        for (time, fragment) in arrivals {
            // The fragment is needed when the player reaches its start.
            let needed = playhead + mediaStart
            if time > needed + 1e-3 {
                stalls += 1
                stalled += time - needed
                playhead += time - needed
            }
            mediaStart += Double(fragment.videoFrames) / fps
        }
        self.stalls = stalls
        stalledSeconds = stalled
        mediaSeconds = mediaStart
    }
}
