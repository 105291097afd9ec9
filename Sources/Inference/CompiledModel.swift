import COpenVINO
import Dispatch
import Foundation

/// A model compiled for a device, with a pool of infer requests so several inferences can be in
/// flight at once. Inference blocks a thread for its whole duration, so the async API runs it on a
/// dedicated dispatch queue, never on Swift's cooperative pool, and only once a request is free.
package final class CompiledModel: @unchecked Sendable {
    package let file: URL
    package let options: CompileOptions
    package let inputs: [TensorInfo]
    package let outputs: [TensorInfo]

    private let compiled: OpaquePointer
    private let pool: RequestPool
    private let queue: DispatchQueue

    init(compiled: OpaquePointer, file: URL, options: CompileOptions) throws {
        self.compiled = compiled
        self.file = file
        self.options = options
        do {
            inputs = try readPorts(of: compiled, count: ov_compiled_model_inputs_size, port: ov_compiled_model_input_by_index)
            outputs = try readPorts(of: compiled, count: ov_compiled_model_outputs_size, port: ov_compiled_model_output_by_index)
            let count = try options.requests ?? Self.optimalRequests(compiled)
            var requests: [OpaquePointer] = []
            for _ in 0..<max(1, count) {
                var request: OpaquePointer?
                try InferenceError.check(ov_compiled_model_create_infer_request(compiled, &request), "creating an infer request")
                requests.append(request!)
            }
            pool = RequestPool(requests)
        } catch {
            ov_compiled_model_free(compiled)
            throw error
        }
        queue = DispatchQueue(label: "lipsync.inference.\(file.lastPathComponent)", attributes: .concurrent)
    }

    deinit {
        pool.requests.forEach { ov_infer_request_free($0) }
        ov_compiled_model_free(compiled)
    }

    /// How many inferences can run at once.
    package var concurrentRequests: Int { pool.requests.count }

    private static func optimalRequests(_ compiled: OpaquePointer) throws -> Int {
        var value: UnsafeMutablePointer<CChar>?
        try InferenceError.check(
            ov_compiled_model_get_property(compiled, PropertyKey.optimalRequests, &value),
            "reading the optimal number of infer requests")
        defer { ov_free(value) }
        return Int(String(cString: value!)) ?? 1
    }

    /// Runs one inference, blocking the calling thread (for code already on a dispatch thread, such as
    /// avatar analysis). Inputs are matched by name.
    package func inferBlocking(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        try check(inputs)
        let request = pool.acquireBlocking()
        defer { pool.release(request) }
        return try run(request, inputs: inputs)
    }

    /// Runs one inference; up to `concurrentRequests` run at once. A caller waiting for a free request
    /// is a suspended task, not a parked thread: only running inferences occupy the model's queue.
    package func infer(_ inputs: [String: Tensor]) async throws -> [String: Tensor] {
        try check(inputs)
        nonisolated(unsafe) let request = await pool.acquire()  // used by one inference at a time
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                let result = Result { try self.run(request, inputs: inputs) }
                self.pool.release(request)
                continuation.resume(with: result)
            }
        }
    }

    private func check(_ inputs: [String: Tensor]) throws {
        for info in self.inputs {
            guard let tensor = inputs[info.name] else {
                throw InferenceError("input '\(info.name)' missing; the model takes \(self.inputs.map(\.description).joined(separator: ", "))")
            }
            guard info.accepts(tensor.shape) else {
                throw InferenceError("input '\(info.name)' has shape \(tensor.shape); the model takes \(info)")
            }
            guard info.elementType == tensor.elementType else {
                throw InferenceError("input '\(info.name)' is \(tensor.elementType); the model takes \(info.elementType)")
            }
        }
    }

    private func run(_ request: OpaquePointer, inputs: [String: Tensor]) throws -> [String: Tensor] {
        // Inputs are copied into tensors OpenVINO owns: a copy costs microseconds next to an inference,
        // and no Swift buffer pointer has to outlive its closure.
        for info in self.inputs {
            let input = inputs[info.name]!
            var shape = ov_shape_t()
            var dims = input.shape.map { Int64($0) }
            try InferenceError.check(ov_shape_create(Int64(dims.count), &dims, &shape), "shaping input \(info.name)")
            defer { ov_shape_free(&shape) }
            var tensor: OpaquePointer?
            let type: ov_element_type_e
            switch input.elements {
            case .f32: type = F32
            case .i64: type = I64
            }
            try InferenceError.check(ov_tensor_create(type, shape, &tensor), "allocating input \(info.name)")
            defer { ov_tensor_free(tensor) }
            var data: UnsafeMutableRawPointer?
            try InferenceError.check(ov_tensor_data(tensor, &data), "addressing input \(info.name)")
            switch input.elements {
            case .f32(let values): values.withUnsafeBytes { data!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            case .i64(let values): values.withUnsafeBytes { data!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
            try InferenceError.check(ov_infer_request_set_tensor(request, info.name, tensor), "setting input \(info.name)")
        }
        try InferenceError.check(ov_infer_request_infer(request), "running \(file.lastPathComponent)")
        var results: [String: Tensor] = [:]
        for (index, info) in outputs.enumerated() {
            var handle: OpaquePointer?
            try InferenceError.check(ov_infer_request_get_output_tensor_by_index(request, index, &handle), "reading output \(info.name)")
            defer { ov_tensor_free(handle) }
            var shape = ov_shape_t()
            try InferenceError.check(ov_tensor_get_shape(handle, &shape), "reading the shape of \(info.name)")
            let dims = (0..<Int(shape.rank)).map { Int(shape.dims[$0]) }
            ov_shape_free(&shape)
            var data: UnsafeMutableRawPointer?
            try InferenceError.check(ov_tensor_data(handle, &data), "reading output \(info.name)")
            let count = dims.reduce(1, *)
            if info.elementType == "i64" {
                results[info.name] = Tensor(shape: dims, int64: Array(UnsafeBufferPointer(start: data!.assumingMemoryBound(to: Int64.self), count: count)))
            } else {
                results[info.name] = Tensor(shape: dims, values: Array(UnsafeBufferPointer(start: data!.assumingMemoryBound(to: Float.self), count: count)))
            }
        }
        return results
    }
}

/// Free infer requests. Waiters (async tasks or blocked dispatch threads) are served in order; a
/// released request goes straight to the first of them.
final class RequestPool: @unchecked Sendable {
    let requests: [OpaquePointer]
    private var free: [OpaquePointer]
    private var waiters: [(OpaquePointer) -> Void] = []
    private let lock = NSLock()

    init(_ requests: [OpaquePointer]) {
        self.requests = requests
        free = requests
    }

    /// A free request, suspending the task until one is.
    func acquire() async -> OpaquePointer {
        let handle = await withCheckedContinuation { (continuation: CheckedContinuation<Handle, Never>) in
            let request: OpaquePointer? = lock.withLock {
                if let request = free.popLast() { return request }
                waiters.append { continuation.resume(returning: Handle(pointer: $0)) }
                return nil
            }
            if let request { continuation.resume(returning: Handle(pointer: request)) }
        }
        return handle.pointer
    }

    /// A free request, blocking the calling thread until one is.
    func acquireBlocking() -> OpaquePointer {
        let handoff = Handoff()
        let request: OpaquePointer? = lock.withLock {
            if let request = free.popLast() { return request }
            waiters.append { handoff.give($0) }
            return nil
        }
        return request ?? handoff.take()
    }

    func release(_ request: OpaquePointer) {
        let waiter: ((OpaquePointer) -> Void)? = lock.withLock {
            if waiters.isEmpty {
                free.append(request)
                return nil
            }
            return waiters.removeFirst()
        }
        waiter?(request)
    }

    /// A request crossing from the releasing thread to the waiting task (one owner at a time).
    private struct Handle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// Passes one request to a blocked thread.
    private final class Handoff: @unchecked Sendable {
        private let semaphore = DispatchSemaphore(value: 0)
        private var request: OpaquePointer?

        func give(_ request: OpaquePointer) {
            self.request = request
            semaphore.signal()
        }

        func take() -> OpaquePointer {
            semaphore.wait()
            return request!
        }
    }
}
