import Foundation
import Kernels

/// Paths and helpers shared by the explorer tests.
enum TestSupport {
    /// The repository root, found from this file (Tests/FeatureMapsTests/TestSupport.swift).
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// SampleImages/chelsea.png, the photo the layer-1 fixture was computed from.
    static let chelseaPath = repositoryRoot.appendingPathComponent("SampleImages/chelsea.png").path

    /// A fresh empty folder under the system's temporary folder.
    static func temporaryFolder(_ name: String = #function) throws -> String {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("featuremaps-tests-\(safe)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    /// Contents of a fixture in Fixtures/.
    static func fixture(_ name: String) throws -> Data {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures") else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "Fixtures/\(name)"])
        }
        return try Data(contentsOf: url)
    }

    /// Every file under `folder`, relative to it, sorted.
    static func files(under folder: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: folder)
        var result: [String] = []
        while let next = enumerator?.nextObject() as? String {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder + "/" + next, isDirectory: &isFolder), !isFolder.boolValue {
                result.append(next)
            }
        }
        return result.sorted()
    }
}

/// A minimal, independent .npy reader for the tests: parses the v1.0 header by hand.
struct NpyContents {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]
    var values: [Float]
    var headerLength: Int

    init(_ data: Data) throws {
        let bytes = [UInt8](data)
        struct Malformed: Error { var why: String }
        guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else {
            throw Malformed(why: "no magic")
        }
        guard bytes[6] == 1, bytes[7] == 0 else { throw Malformed(why: "version \(bytes[6]).\(bytes[7])") }
        let length = Int(bytes[8]) | Int(bytes[9]) << 8
        headerLength = length
        guard 10 + length <= bytes.count else { throw Malformed(why: "short header") }
        guard let header = String(bytes: bytes[10..<(10 + length)], encoding: .ascii) else { throw Malformed(why: "not ascii") }
        guard header.hasSuffix("\n") else { throw Malformed(why: "header does not end in a newline") }
        func field(_ key: String) throws -> Substring {
            guard let start = header.range(of: "'\(key)': ") else { throw Malformed(why: "no \(key)") }
            return header[start.upperBound...]
        }
        let descrText = try field("descr")
        descr = String(descrText.dropFirst().prefix { $0 != "'" })
        fortranOrder = try field("fortran_order").hasPrefix("True")
        let shapeText = try field("shape")
        guard let close = shapeText.firstIndex(of: ")") else { throw Malformed(why: "shape") }
        shape = shapeText[shapeText.index(after: shapeText.startIndex)..<close]
            .split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let payload = bytes[(10 + length)...]
        guard payload.count == 4 * shape.reduce(1, *) else { throw Malformed(why: "payload of \(payload.count) bytes") }
        values = stride(from: payload.startIndex, to: payload.endIndex, by: 4).map { i in
            Float(bitPattern: UInt32(payload[i]) | UInt32(payload[i + 1]) << 8 | UInt32(payload[i + 2]) << 16 | UInt32(payload[i + 3]) << 24)
        }
    }

    init(path: String) throws {
        try self.init(Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
