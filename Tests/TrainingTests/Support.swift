import Foundation
import Training

/// Test helpers: fixture paths (found from this file, so no bundle resources are needed) and
/// temporary folders.
enum Fixture {
    /// Tests/TrainingTests/Fixtures.
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// The path of fixture `name`.
    static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// A new empty temporary folder.
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("trainingtests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// The bytes of a batch file as make_fixtures.py defines them: record r of file f has label
    /// (3f + r) % 10 and pixel i = (31f + 7r + i) % 256.
    static func batchBytes(file f: Int, records: Int, label: ((Int) -> UInt8)? = nil) -> [UInt8] {
        var out = [UInt8]()
        for r in 0 ..< records {
            out.append(label?(r) ?? UInt8((3 * f + r) % 10))
            for i in 0 ..< 3072 { out.append(UInt8((31 * f + 7 * r + i) % 256)) }
        }
        return out
    }

    /// Writes a CIFAR folder with `records` records per file into a new temporary folder.
    static func cifarFolder(records: Int) throws -> URL {
        let folder = try temporaryFolder()
        for (f, name) in (CIFAR10.trainFiles + [CIFAR10.testFile]).enumerated() {
            try Data(batchBytes(file: f, records: records)).write(to: folder.appendingPathComponent(name))
        }
        try Data((CIFAR10.classNames.joined(separator: "\n") + "\n\n").utf8).write(to: folder.appendingPathComponent(CIFAR10.metaFile))
        return folder
    }

    /// The one-line message of the error `body` throws (or "no error").
    static func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }
}

/// Hostile model files, made from a valid one: the header JSON edited, the data kept.
enum HostileFile {
    /// The header (as a JSON object) and the data bytes of safetensors `bytes`.
    static func split(_ bytes: [UInt8]) throws -> (header: [String: Any], data: [UInt8]) {
        var n = 0
        for i in (0 ..< 8).reversed() { n = n << 8 | Int(bytes[i]) }
        let header = try JSONSerialization.jsonObject(with: Data(bytes[8 ..< 8 + n])) as? [String: Any] ?? [:]
        return (header, Array(bytes[(8 + n)...]))
    }

    /// Safetensors bytes with `header` (JSON) and `data`, the header padded as the format asks.
    static func join(_ header: [String: Any], _ data: [UInt8]) throws -> [UInt8] {
        var json = [UInt8](try JSONSerialization.data(withJSONObject: header, options: .sortedKeys))
        while json.count % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        return out + json + data
    }

    /// `bytes` with its header changed by `edit` (the data kept, or replaced by `data`).
    static func edited(_ bytes: [UInt8], data: [UInt8]? = nil, _ edit: (inout [String: Any]) -> Void) throws -> [UInt8] {
        var (header, old) = try split(bytes)
        edit(&header)
        return try join(header, data ?? old)
    }

    /// `bytes` with the entry of tensor `name` changed by `edit`.
    static func editedTensor(_ bytes: [UInt8], _ name: String, _ edit: @escaping (inout [String: Any]) -> Void) throws -> [UInt8] {
        try edited(bytes) { header in
            var entry = header[name] as? [String: Any] ?? [:]
            edit(&entry)
            header[name] = entry
        }
    }

    /// `bytes` with its metadata changed by `edit`.
    static func editedMetadata(_ bytes: [UInt8], _ edit: @escaping (inout [String: String]) -> Void) throws -> [UInt8] {
        try edited(bytes) { header in
            var metadata = header["__metadata__"] as? [String: String] ?? [:]
            edit(&metadata)
            header["__metadata__"] = metadata
        }
    }

    /// The data offsets [begin, end] of tensor `name` in `bytes`.
    static func offsets(_ bytes: [UInt8], _ name: String) throws -> [Int] {
        ((try split(bytes).header[name] as? [String: Any])?["data_offsets"] as? [Int]) ?? []
    }
}
