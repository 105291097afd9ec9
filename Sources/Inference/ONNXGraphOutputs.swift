import Foundation

/// Makes an intermediate tensor of an ONNX model one of its outputs, by editing the model's protobuf
/// bytes before OpenVINO reads them (its C API cannot add outputs to a read model). Only the few fields
/// involved are decoded: ModelProto.graph (7), GraphProto.node (1) and .output (12), NodeProto.output (2)
/// and .op_type (4). Everything else, the weights included, is copied through untouched.
package enum ONNXGraphOutputs {
    /// The output names of every node whose operator is `opType`, in graph order.
    package static func outputs(ofNodesWithOperator opType: String, in model: Data) throws -> [String] {
        try model.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            let graph = try graphRange(in: bytes)
            var names: [String] = []
            try forEachField(in: bytes, range: graph) { field, _, value in
                guard field == 1, case .bytes(let node) = value else { return }
                var op = "", outputs: [String] = []
                try forEachField(in: bytes, range: node) { field, _, value in
                    guard case .bytes(let range) = value else { return }
                    if field == 4 { op = string(bytes, range) }
                    if field == 2 { outputs.append(string(bytes, range)) }
                }
                if op == opType { names += outputs }
            }
            return names
        }
    }

    /// The model with `names` appended to its graph's outputs (as ValueInfoProtos holding only a name;
    /// the shape and type are inferred when the model is read).
    package static func adding(outputs names: [String], to model: Data) throws -> Data {
        try model.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
            let graph = try graphRange(in: bytes)
            var extra = Data()
            for name in names {
                var valueInfo = Data()
                appendField(1, Data(name.utf8), to: &valueInfo)
                appendField(12, valueInfo, to: &extra)
            }
            // The graph field's key and length prefix are rewritten for the longer graph.
            var result = Data(capacity: bytes.count + extra.count + 8)
            result.append(contentsOf: bytes[0..<graph.keyStart])
            appendVarint(UInt64(7 << 3 | 2), to: &result)
            appendVarint(UInt64(graph.count + extra.count), to: &result)
            result.append(contentsOf: bytes[graph.lowerBound..<graph.upperBound])
            result.append(extra)
            result.append(contentsOf: bytes[graph.upperBound..<bytes.count])
            return result
        }
    }

    // MARK: Protobuf wire format

    struct Field {
        var keyStart: Int
        var lowerBound: Int
        var upperBound: Int
        var count: Int { upperBound - lowerBound }
    }

    enum Value {
        case varint(UInt64)
        case bytes(Range<Int>)
        case fixed
    }

    private static func graphRange(in bytes: UnsafeRawBufferPointer) throws -> Field {
        var graph: Field?
        var offset = 0
        while offset < bytes.count {
            let keyStart = offset
            let (field, wire) = try readKey(bytes, &offset)
            let value = try readValue(bytes, &offset, wire: wire)
            if field == 7, case .bytes(let range) = value {
                graph = Field(keyStart: keyStart, lowerBound: range.lowerBound, upperBound: range.upperBound)
            }
        }
        guard let graph else { throw InferenceError("not an ONNX model: no graph") }
        return graph
    }

    private static func forEachField(in bytes: UnsafeRawBufferPointer, range: Field,
                                     _ body: (Int, Int, Value) throws -> Void) throws {
        try forEachField(in: bytes, range: range.lowerBound..<range.upperBound, body)
    }

    private static func forEachField(in bytes: UnsafeRawBufferPointer, range: Range<Int>,
                                     _ body: (Int, Int, Value) throws -> Void) throws {
        var offset = range.lowerBound
        while offset < range.upperBound {
            let (field, wire) = try readKey(bytes, &offset)
            let value = try readValue(bytes, &offset, wire: wire)
            guard offset <= range.upperBound else { throw malformed }
            try body(field, wire, value)
        }
    }

    private static let malformed = InferenceError("not an ONNX model: malformed protobuf")

    private static func readVarint(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int) throws -> UInt64 {
        var value: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard offset < bytes.count, shift < 64 else { throw malformed }
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    private static func readKey(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int) throws -> (Int, Int) {
        let key = try readVarint(bytes, &offset)
        return (Int(key >> 3), Int(key & 7))
    }

    private static func readValue(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int, wire: Int) throws -> Value {
        switch wire {
        case 0:
            return .varint(try readVarint(bytes, &offset))
        case 1, 5:
            offset += wire == 1 ? 8 : 4
            guard offset <= bytes.count else { throw malformed }
            return .fixed
        case 2:
            let length = try readVarint(bytes, &offset)
            guard length <= UInt64(bytes.count - offset) else { throw malformed }
            let range = offset..<(offset + Int(length))
            offset = range.upperBound
            return .bytes(range)
        default:
            throw malformed  // groups (3, 4) are not used by ONNX
        }
    }

    private static func string(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    private static func appendVarint(_ value: UInt64, to data: inout Data) {
        var value = value
        repeat {
            let byte = UInt8(value & 0x7f)
            value >>= 7
            data.append(value == 0 ? byte : byte | 0x80)
        } while value != 0
    }

    private static func appendField(_ field: Int, _ payload: Data, to data: inout Data) {
        appendVarint(UInt64(field << 3 | 2), to: &data)
        appendVarint(UInt64(payload.count), to: &data)
        data.append(payload)
    }
}
