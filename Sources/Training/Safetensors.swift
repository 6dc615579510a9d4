import Foundation
import Kernels
import ImageIO

/// Reading and writing the safetensors format (https://huggingface.co/docs/safetensors):
/// an 8-byte little-endian header length N, N bytes of JSON
/// `{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
/// "__metadata__": {"key": "string", ...}}` padded with spaces to a multiple of 8, then the
/// raw little-endian tensor bytes (offsets are relative to the end of the header).
public enum Safetensors {
    /// The contents of a safetensors file: tensors in file order, and string metadata.
    public struct Contents: Sendable {
        /// Tensors with their names, in the order of their data in the file.
        public var tensors: [(name: String, tensor: Tensor)]
        /// The `__metadata__` strings.
        public var metadata: [String: String]

        /// Contents holding `tensors` and `metadata`.
        public init(tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) {
            self.tensors = tensors
            self.metadata = metadata
        }

        /// The tensor called `name`, if present.
        public subscript(name: String) -> Tensor? {
            tensors.first { $0.name == name }?.tensor
        }
    }

    /// The bytes of a safetensors file holding `tensors` (F32) and `metadata`.
    public static func encode(tensors: [(name: String, tensor: Tensor)], metadata: [String: String]) -> [UInt8] {
        var header = "{"
        var offset = 0
        for (name, tensor) in tensors {
            let size = tensor.count * 4
            header += "\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]},"
            offset += size
        }
        header += "\"__metadata__\":{"
        header += metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0] ?? ""))" }.joined(separator: ",")
        header += "}}"
        var headerBytes = Array(header.utf8)
        while (8 + headerBytes.count) % 8 != 0 { headerBytes.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + headerBytes.count + offset)
        var length = UInt64(headerBytes.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        for (_, tensor) in tensors {
            tensor.withUnsafeBufferPointer { p in
                // Float32 bit patterns, little-endian on every platform we build for.
                for v in p { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
            }
        }
        return out
    }

    /// Writes a safetensors file atomically (temporary file in the same folder, then rename).
    ///
    /// - Parameters:
    ///   - tensors: The tensors in file order, under the names a reader looks them up by
    ///     (PyTorch's `state_dict` names for a model); stored as F32.
    ///   - metadata: The `__metadata__` strings (a model's architecture, class names, normalisation).
    ///   - path: The file to write.
    /// - Throws: `TrainingError.file` naming `path` when it cannot be written.
    public static func write(tensors: [(name: String, tensor: Tensor)], metadata: [String: String], to path: String) throws {
        // Durable: a checkpoint or model is hours of work, and the previous one is only safe to
        // lose once the new one is on disk.
        try writeAtomically(encode(tensors: tensors, metadata: metadata), to: path, durable: true)
    }

    /// Reads the safetensors file at `path`.
    public static func read(path: String) throws -> Contents {
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw TrainingError.file(path: path, reason: "cannot be read (\(error.localizedDescription))")
        }
        return try decode(bytes, named: path)
    }

    /// Parses safetensors bytes; `name` is used in error messages.
    public static func decode(_ bytes: [UInt8], named name: String) throws -> Contents {
        let notSafetensors = "not a safetensors file"
        guard bytes.count >= 8 else {
            throw TrainingError.file(path: name, reason: "\(notSafetensors) (\(bytes.count) bytes, shorter than the 8-byte header length)")
        }
        var n: UInt64 = 0
        for i in (0 ..< 8).reversed() { n = n << 8 | UInt64(bytes[i]) }
        guard n >= 2, n <= 100_000_000 else {
            throw TrainingError.file(path: name, reason: "\(notSafetensors) (header length \(n) is implausible)")
        }
        guard 8 + Int(n) <= bytes.count else {
            throw TrainingError.file(path: name, reason: "truncated (the header says \(n) bytes of JSON, the file holds \(bytes.count - 8) after the length)")
        }
        let headerEnd = 8 + Int(n)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes[8 ..< headerEnd])),
              let header = object as? [String: Any] else {
            throw TrainingError.file(path: name, reason: "\(notSafetensors) (the header is not a JSON object)")
        }
        var metadata = [String: String]()
        if let meta = header["__metadata__"] {
            guard let strings = meta as? [String: String] else {
                throw TrainingError.file(path: name, reason: "__metadata__ must map strings to strings")
            }
            metadata = strings
        }
        let dataSize = bytes.count - headerEnd
        var entries = [(name: String, begin: Int, end: Int, shape: [Int])]()
        for (key, value) in header where key != "__metadata__" {
            guard let info = value as? [String: Any],
                  let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int],
                  let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
                throw TrainingError.file(path: name, reason: "tensor \(key) lacks dtype, shape or data_offsets (or they are not whole numbers that fit 64 bits)")
            }
            guard dtype == "F32" else {
                throw TrainingError.file(path: name, reason: "tensor \(key) has dtype \(dtype); only F32 is supported")
            }
            // Every figure is checked before any arithmetic on it and before anything is
            // allocated: the file may come from anyone, and a claimed size is only a claim.
            guard shape.allSatisfy({ $0 >= 0 }) else {
                throw TrainingError.file(path: name, reason: "tensor \(key) has a negative dimension in its shape \(shape)")
            }
            guard let bytesNeeded = Self.byteCount(of: shape) else {
                throw TrainingError.file(path: name, reason: "tensor \(key) of shape \(shape) has more elements than a 64-bit size can count")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end else {
                throw TrainingError.file(path: name, reason: "tensor \(key) has data_offsets \(offsets), which are not a range (begin must be at least 0 and at most end)")
            }
            guard end <= dataSize else {
                throw TrainingError.file(path: name, reason: "truncated (tensor \(key) ends at data byte \(end), the file holds \(dataSize) bytes of data)")
            }
            guard end - begin == bytesNeeded else {
                throw TrainingError.file(path: name, reason: "tensor \(key) of shape \(shape) has data_offsets \(offsets), which do not span \(bytesNeeded) bytes")
            }
            entries.append((key, begin, end, shape))
        }
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        for (previous, next) in zip(entries, entries.dropFirst()) where next.begin < previous.end {
            throw TrainingError.file(path: name, reason: "tensors \(previous.name) and \(next.name) share data bytes (\(previous.begin)..<\(previous.end) and \(next.begin)..<\(next.end))")
        }
        let tensors = bytes.withUnsafeBufferPointer { raw in
            entries.map { entry -> (name: String, tensor: Tensor) in
                let count = (entry.end - entry.begin) / 4
                var values = [Float](repeating: 0, count: count)
                let base = headerEnd + entry.begin
                for i in 0 ..< count {
                    let o = base + 4 * i
                    let bits = UInt32(raw[o]) | UInt32(raw[o + 1]) << 8 | UInt32(raw[o + 2]) << 16 | UInt32(raw[o + 3]) << 24
                    values[i] = Float(bitPattern: bits)
                }
                return (entry.name, Tensor(shape: entry.shape, storage: values))
            }
        }
        return Contents(tensors: tensors, metadata: metadata)
    }

    /// The bytes of an F32 tensor of `shape`, or nil when that count overflows `Int`.
    private static func byteCount(of shape: [Int]) -> Int? {
        var total = 4
        for dimension in shape {
            let (product, overflow) = total.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            total = product
        }
        return total
    }

    private static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Writes `bytes` to `path` with ImageIO's `AtomicFile` (a temporary file in the same folder, then a
/// rename, so a reader or a crash never sees a half-written file), creating the folder first.
/// Failures become a `TrainingError.file` naming the path. `durable`: flushed to disk before it
/// replaces the old file (see `AtomicFile.write(_:toPath:durable:)`).
package func writeAtomically(_ bytes: [UInt8], to path: String, durable: Bool = false) throws {
    do {
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty { try AtomicFile.createDirectories(folder) }
        try AtomicFile.write(bytes, toPath: path, durable: durable)
    } catch {
        throw TrainingError.file(path: error.path, reason: error.reason)
    }
}

/// Writes `text` as UTF-8 to `path` atomically.
package func writeAtomically(_ text: String, to path: String) throws {
    try writeAtomically(Array(text.utf8), to: path)
}
