import COpenVINO
import Dispatch
import Foundation

/// An OpenVINO failure, with the library's own message.
package struct InferenceError: Error, CustomStringConvertible, Equatable {
    package var message: String
    package var description: String { message }

    package init(_ message: String) { self.message = message }

    /// Turns a non-OK status into an error naming what was being done and OpenVINO's explanation.
    static func check(_ status: ov_status_e, _ action: @autoclosure () -> String) throws {
        guard status != OK else { return }
        let info = String(cString: ov_get_error_info(status))
        let detail = ov_get_last_err_msg().map { String(cString: $0) } ?? ""
        let trimmed = detail.trimmingCharacters(in: .whitespacesAndNewlines)
        throw InferenceError("\(action()): \(info)\(trimmed.isEmpty ? "" : " (\(trimmed))")")
    }
}

/// A dense tensor in row-major order: float32 (images, audio, features) or int64 (token ids, lengths).
package struct Tensor: Sendable, Equatable {
    package enum Elements: Sendable, Equatable {
        case f32([Float])
        case i64([Int64])
    }

    package var shape: [Int]
    package var elements: Elements

    package init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        elements = .f32(values)
    }

    package init(shape: [Int], int64 values: [Int64]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        elements = .i64(values)
    }

    /// The elements as float32 (integers converted).
    package var values: [Float] {
        switch elements {
        case .f32(let values): return values
        case .i64(let values): return values.map(Float.init)
        }
    }

    /// OpenVINO's short name of the element type.
    package var elementType: String {
        switch elements {
        case .f32: return "f32"
        case .i64: return "i64"
        }
    }
}

/// A model input or output: its name, shape (`nil` for a dynamic dimension) and element type.
package struct TensorInfo: Sendable, Hashable, CustomStringConvertible {
    package var name: String
    package var shape: [Int?]
    /// OpenVINO's name of the element type: `f32`, `f16`, ...
    package var elementType: String

    package init(name: String, shape: [Int?], elementType: String = "f32") {
        self.name = name
        self.shape = shape
        self.elementType = elementType
    }

    package var description: String {
        "\(name) [" + shape.map { $0.map(String.init) ?? "?" }.joined(separator: ",") + "]" + (elementType == "f32" ? "" : " \(elementType)")
    }

    /// True when `other` fits this shape (dynamic dimensions match anything).
    package func accepts(_ other: [Int]) -> Bool {
        other.count == shape.count && zip(shape, other).allSatisfy { $0 == nil || $0 == $1 }
    }
}

/// How a model is compiled for the CPU.
package struct CompileOptions: Sendable, Hashable {
    package enum PerformanceHint: String, Sendable, CaseIterable {
        /// One request at a time as fast as possible.
        case latency = "LATENCY"
        /// Several requests in flight, maximum frames per second.
        case throughput = "THROUGHPUT"
    }

    package enum Precision: String, Sendable, CaseIterable {
        /// Full float32: results match onnxruntime to about 1e-5.
        case f32
        /// bfloat16 where the CPU has it (AVX512_BF16, AMX); OpenVINO's own default on such CPUs.
        /// Faster, at about 1e-2 difference.
        case bf16
    }

    /// What a user asks for: a precision, or `auto` (bf16 where the CPU computes it natively, else f32).
    package enum PrecisionChoice: String, Sendable, CaseIterable {
        case auto, f32, bf16
    }

    package var hint: PerformanceHint
    /// Inference precision; OpenVINO would silently pick bf16 on CPUs that support it.
    package var precision: Precision
    /// Inference threads (nil: OpenVINO's choice, all cores).
    package var threads: Int?
    /// Fix the first (batch) dimension of every input to this size; nil keeps the model's own.
    package var batchSize: Int?
    /// Infer requests kept ready, i.e. how many inferences may run at once; nil: OpenVINO's optimum.
    package var requests: Int?
    /// Pin inference threads to cores. OpenVINO pins by default, which puts the threads of separately
    /// compiled models on the same cores; models meant to run side by side need it off.
    package var cpuPinning: Bool?
    /// Kernels kept per input shape, for models with dynamic shapes (OpenVINO's default keeps thousands,
    /// so a voice fed texts of every length grows without bound); nil: OpenVINO's default.
    package var shapeCacheCapacity: Int?
    package var device: String

    package init(hint: PerformanceHint = .latency, precision: Precision = .f32, threads: Int? = nil,
                batchSize: Int? = nil, requests: Int? = nil, cpuPinning: Bool? = nil, shapeCacheCapacity: Int? = nil,
                device: String = "CPU") {
        self.hint = hint
        self.precision = precision
        self.threads = threads
        self.batchSize = batchSize
        self.requests = requests
        self.cpuPinning = cpuPinning
        self.shapeCacheCapacity = shapeCacheCapacity
        self.device = device
    }
}

/// The OpenVINO runtime (one `ov_core_t`), shared by every model of the process.
package final class InferenceRuntime: @unchecked Sendable {
    package static let shared: Result<InferenceRuntime, InferenceError> = Result { try InferenceRuntime() }
        .mapError { $0 as? InferenceError ?? InferenceError("\($0)") }

    let core: OpaquePointer

    package init() throws {
        var core: OpaquePointer?
        try InferenceError.check(ov_core_create(&core), "creating the OpenVINO runtime")
        self.core = core!
    }

    deinit { ov_core_free(core) }

    /// Whether the CPU computes bfloat16 natively (AVX512_BF16 or AMX), as OpenVINO reports it in the
    /// CPU device's optimization capabilities.
    package var cpuSupportsBF16: Bool {
        var value: UnsafeMutablePointer<CChar>?
        guard ov_core_get_property(core, "CPU", "OPTIMIZATION_CAPABILITIES", &value) == OK, let value else { return false }
        defer { ov_free(value) }
        return String(cString: value).split(whereSeparator: { $0 == " " || $0 == "," }).contains("BF16")
    }

    /// The precision to compile with for a user's choice; bf16 on a CPU without it is refused.
    package func resolve(_ choice: CompileOptions.PrecisionChoice) throws -> CompileOptions.Precision {
        switch choice {
        case .f32: return .f32
        case .bf16:
            guard cpuSupportsBF16 else { throw InferenceError("this CPU does not compute bf16 natively (no AVX512_BF16 or AMX); use f32 or auto") }
            return .bf16
        case .auto: return cpuSupportsBF16 ? .bf16 : .f32
        }
    }

    package var version: String {
        var version = ov_version_t()
        guard ov_get_openvino_version(&version) == OK else { return "unknown" }
        defer { ov_version_free(&version) }
        return String(cString: version.buildNumber)
    }

    /// Names and shapes of a model's inputs and outputs, read without compiling it.
    package func describe(_ url: URL) throws -> (inputs: [TensorInfo], outputs: [TensorInfo]) {
        guard FileManager.default.isReadableFile(atPath: url.path) else {
            throw InferenceError("model file \(url.path) does not exist or is not readable")
        }
        var model: OpaquePointer?
        try InferenceError.check(ov_core_read_model(core, url.path, nil, &model), "reading \(url.lastPathComponent)")
        defer { ov_model_free(model) }
        return (try readPorts(of: model!, count: ov_model_inputs_size, port: ov_model_const_input_by_index),
                try readPorts(of: model!, count: ov_model_outputs_size, port: ov_model_const_output_by_index))
    }

    /// Reads an ONNX, TFLite or OpenVINO IR model and compiles it. Inputs and outputs stored as float16
    /// (or bfloat16, float64) take and give float32: OpenVINO's pre- and post-processing converts them.
    package func compile(_ url: URL, options: CompileOptions = CompileOptions()) throws -> CompiledModel {
        guard FileManager.default.isReadableFile(atPath: url.path) else {
            throw InferenceError("model file \(url.path) does not exist or is not readable")
        }
        var read: OpaquePointer?
        try InferenceError.check(ov_core_read_model(core, url.path, nil, &read), "reading \(url.lastPathComponent)")
        defer { ov_model_free(read) }
        return try compile(read!, file: url, options: options)
    }

    /// Compiles an ONNX model held in memory (one edited on loading, such as a voice given an extra
    /// output); `file` names it in messages.
    package func compile(onnx data: Data, file: URL, options: CompileOptions = CompileOptions()) throws -> CompiledModel {
        var read: OpaquePointer?
        let status = data.withUnsafeBytes { bytes in
            ov_core_read_model_from_memory_buffer(core, bytes.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count, nil, &read)
        }
        try InferenceError.check(status, "reading \(file.lastPathComponent)")
        defer { ov_model_free(read) }
        return try compile(read!, file: file, options: options)
    }

    private func compile(_ read: OpaquePointer, file url: URL, options: CompileOptions) throws -> CompiledModel {
        if let batch = options.batchSize {
            try Self.fixBatch(read, to: batch, file: url.lastPathComponent)
        }
        let converted = try Self.floatPorts(read, file: url.lastPathComponent)
        defer { if let converted { ov_model_free(converted) } }
        let model = converted ?? read

        var keys: [String] = [], values: [String] = []
        keys.append(PropertyKey.performanceHint); values.append(options.hint.rawValue)
        keys.append(PropertyKey.precision); values.append(options.precision.rawValue)
        if let threads = options.threads {
            keys.append(PropertyKey.threads); values.append(String(threads))
        }
        if let requests = options.requests {
            keys.append(PropertyKey.requests); values.append(String(requests))
        }
        if let pinning = options.cpuPinning {
            keys.append(PropertyKey.cpuPinning); values.append(pinning ? "YES" : "NO")
        }
        if let capacity = options.shapeCacheCapacity {
            keys.append(PropertyKey.shapeCache); values.append(String(capacity))
        }
        var compiled: OpaquePointer?
        let status = withCStrings(keys + values) { pointers in
            let properties = (0..<keys.count).map { ov_property_t(key: pointers[$0], value: UnsafeRawPointer(pointers[keys.count + $0])) }
            return properties.withUnsafeBufferPointer { buffer in
                ov_core_compile_model_props(core, model, options.device, buffer.count, buffer.baseAddress, &compiled)
            }
        }
        try InferenceError.check(status, "compiling \(url.lastPathComponent) for \(options.device)")
        return try CompiledModel(compiled: compiled!, file: url, options: options)
    }

    /// The model with float32 tensors at every input and output, or nil when it has them already. Other
    /// floating-point types are converted by pre/post-processing; anything else is refused.
    private static func floatPorts(_ model: OpaquePointer, file: String) throws -> OpaquePointer? {
        let inputs = try readPorts(of: model, count: ov_model_inputs_size, port: ov_model_const_input_by_index)
        let outputs = try readPorts(of: model, count: ov_model_outputs_size, port: ov_model_const_output_by_index)
        // Integer ids and lengths (int64) pass as they are; other floating-point types are converted.
        let convertible: Set<String> = ["f16", "bf16", "f64"]
        for (role, port) in inputs.map({ ("input", $0) }) + outputs.map({ ("output", $0) })
        where port.elementType != "f32" && port.elementType != "i64" && !convertible.contains(port.elementType) {
            throw InferenceError("\(role) \(port.name) of \(file) is \(port.elementType); supported: f32, i64, and f16, bf16, f64 (converted to f32)")
        }
        guard (inputs + outputs).contains(where: { convertible.contains($0.elementType) }) else { return nil }
        var processor: OpaquePointer?
        try InferenceError.check(ov_preprocess_prepostprocessor_create(model, &processor), "preparing type conversion for \(file)")
        defer { ov_preprocess_prepostprocessor_free(processor) }
        for (index, port) in inputs.enumerated() where convertible.contains(port.elementType) {
            var info: OpaquePointer?, tensor: OpaquePointer?
            try InferenceError.check(ov_preprocess_prepostprocessor_get_input_info_by_index(processor, index, &info), "converting input \(port.name) of \(file)")
            defer { ov_preprocess_input_info_free(info) }
            try InferenceError.check(ov_preprocess_input_info_get_tensor_info(info, &tensor), "converting input \(port.name) of \(file)")
            defer { ov_preprocess_input_tensor_info_free(tensor) }
            try InferenceError.check(ov_preprocess_input_tensor_info_set_element_type(tensor, F32), "converting input \(port.name) of \(file) to f32")
        }
        for (index, port) in outputs.enumerated() where convertible.contains(port.elementType) {
            var info: OpaquePointer?, tensor: OpaquePointer?
            try InferenceError.check(ov_preprocess_prepostprocessor_get_output_info_by_index(processor, index, &info), "converting output \(port.name) of \(file)")
            defer { ov_preprocess_output_info_free(info) }
            try InferenceError.check(ov_preprocess_output_info_get_tensor_info(info, &tensor), "converting output \(port.name) of \(file)")
            defer { ov_preprocess_output_tensor_info_free(tensor) }
            try InferenceError.check(ov_preprocess_output_set_element_type(tensor, F32), "converting output \(port.name) of \(file) to f32")
        }
        var built: OpaquePointer?
        try InferenceError.check(ov_preprocess_prepostprocessor_build(processor, &built), "converting the inputs and outputs of \(file) to f32")
        return built
    }

    private static func fixBatch(_ model: OpaquePointer, to batch: Int, file: String) throws {
        var count = 0
        try InferenceError.check(ov_model_inputs_size(model, &count), "reading the inputs of \(file)")
        for index in 0..<count {
            var port: OpaquePointer?
            try InferenceError.check(ov_model_const_input_by_index(model, index, &port), "reading input \(index) of \(file)")
            defer { ov_output_const_port_free(port) }
            let info = try portInfo(port!)
            guard !info.shape.isEmpty else { continue }
            var dims = info.shape.map { ov_dimension_t(min: Int64($0 ?? -1), max: Int64($0 ?? -1)) }
            dims[0] = ov_dimension_t(min: Int64(batch), max: Int64(batch))
            var partial = ov_partial_shape_t()
            try InferenceError.check(
                ov_partial_shape_create(Int64(dims.count), &dims, &partial), "shaping input \(info.name) of \(file)")
            defer { ov_partial_shape_free(&partial) }
            try InferenceError.check(
                ov_model_reshape_input_by_name(model, info.name, partial), "setting the batch of \(info.name) in \(file) to \(batch)")
        }
    }
}

/// Names and shapes of the inputs or outputs of a model or compiled model, through the matching pair of
/// C calls (count, port by index).
func readPorts(of owner: OpaquePointer,
               count: (OpaquePointer?, UnsafeMutablePointer<Int>?) -> ov_status_e,
               port: (OpaquePointer?, Int, UnsafeMutablePointer<OpaquePointer?>?) -> ov_status_e) throws -> [TensorInfo] {
    var n = 0
    try InferenceError.check(count(owner, &n), "counting model ports")
    return try (0..<n).map { index in
        var handle: OpaquePointer?
        try InferenceError.check(port(owner, index, &handle), "reading model port \(index)")
        defer { ov_output_const_port_free(handle) }
        return try portInfo(handle!)
    }
}

/// Name and shape of a port (shared by model and compiled-model ports).
func portInfo(_ port: OpaquePointer) throws -> TensorInfo {
    var name: UnsafeMutablePointer<CChar>?
    try InferenceError.check(ov_port_get_any_name(port, &name), "reading a port name")
    defer { ov_free(name) }
    var partial = ov_partial_shape_t()
    try InferenceError.check(ov_port_get_partial_shape(port, &partial), "reading a port shape")
    defer { ov_partial_shape_free(&partial) }
    var type = DYNAMIC
    try InferenceError.check(ov_port_get_element_type(port, &type), "reading a port's element type")
    let rank = Int(partial.rank.max)
    let shape: [Int?] = (0..<max(rank, 0)).map { index in
        let dim = partial.dims[index]
        return dim.min == dim.max && dim.min >= 0 ? Int(dim.min) : nil
    }
    return TensorInfo(name: String(cString: name!), shape: shape, elementType: elementTypeName(type))
}

/// OpenVINO's short name of an element type.
func elementTypeName(_ type: ov_element_type_e) -> String {
    switch type {
    case F32: return "f32"
    case F16: return "f16"
    case BF16: return "bf16"
    case F64: return "f64"
    case I8: return "i8"
    case I16: return "i16"
    case I32: return "i32"
    case I64: return "i64"
    case U8: return "u8"
    case U16: return "u16"
    case U32: return "u32"
    case U64: return "u64"
    case DYNAMIC: return "dynamic"
    default: return "type \(type.rawValue)"
    }
}

/// OpenVINO property names (the values of the C API's `ov_property_key_*` globals, which Swift 6 will
/// not read from concurrent code).
enum PropertyKey {
    static let performanceHint = "PERFORMANCE_HINT"
    static let threads = "INFERENCE_NUM_THREADS"
    static let precision = "INFERENCE_PRECISION_HINT"
    static let cpuPinning = "ENABLE_CPU_PINNING"
    static let shapeCache = "CPU_RUNTIME_CACHE_CAPACITY"
    static let requests = "PERFORMANCE_HINT_NUM_REQUESTS"
    static let optimalRequests = "OPTIMAL_NUMBER_OF_INFER_REQUESTS"
}

/// Keeps an array of Swift strings alive as C strings for the duration of `body`.
func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>]) throws -> R) rethrows -> R {
    let copies = strings.map { strdup($0)! }
    defer { copies.forEach { free($0) } }
    return try body(copies.map { UnsafePointer($0) })
}
