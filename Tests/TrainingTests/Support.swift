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
