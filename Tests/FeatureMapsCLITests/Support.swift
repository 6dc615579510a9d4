import Foundation
import ImageIO
import Training

/// The built `featuremaps` executable beside the test binary in the build folder (this test
/// target depends on it, so `swift test` builds it); nil when it is not there.
let executable: URL? = {
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent(),
                      testBinary.deletingLastPathComponent(),
                      testBinary.deletingLastPathComponent().deletingLastPathComponent()]
        .map { $0.appendingPathComponent("featuremaps") }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) && !isFolder($0.path) }
}()

private func isFolder(_ path: String) -> Bool {
    var folder: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &folder) && folder.boolValue
}

/// What one run of the executable did.
struct Run {
    var status: Int32
    var out: String
    var err: String
    /// The standard-error lines.
    var errLines: [Substring] { err.split(separator: "\n") }
}

/// Runs the executable with `arguments` (and `environment` instead of this process's, when
/// given), returning its exit status and output.
func featuremaps(_ arguments: [String], environment: [String: String]? = nil) throws -> Run {
    let running = try Running(arguments, environment: environment)
    return try running.wait()
}

/// A started run of the executable, for tests that signal it before it ends.
final class Running {
    /// The process.
    let process = Process()
    private let folder: String
    private let out: FileHandle, err: FileHandle

    /// Starts the executable with `arguments` (and `environment`, when given).
    init(_ arguments: [String], environment: [String: String]? = nil) throws {
        guard let executable else { throw CocoaError(.fileNoSuchFile) }
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        // Output goes to files rather than pipes, so a chatty run can never block on a full pipe.
        folder = try Scratch.folder("run")
        _ = FileManager.default.createFile(atPath: folder + "/stdout", contents: nil)
        _ = FileManager.default.createFile(atPath: folder + "/stderr", contents: nil)
        out = try FileHandle(forWritingTo: URL(fileURLWithPath: folder + "/stdout"))
        err = try FileHandle(forWritingTo: URL(fileURLWithPath: folder + "/stderr"))
        process.standardOutput = out
        process.standardError = err
        try process.run()
    }

    /// Waits for the end of the run: its exit status (or signal) and output.
    func wait() throws -> Run {
        process.waitUntilExit()
        defer { try? out.close(); try? err.close(); try? FileManager.default.removeItem(atPath: folder) }
        return Run(status: process.terminationStatus,
                   out: try String(contentsOfFile: folder + "/stdout", encoding: .utf8),
                   err: try String(contentsOfFile: folder + "/stderr", encoding: .utf8))
    }
}

/// Test files: temporary folders, photos and a tiny CIFAR-10 data set.
enum Scratch {
    /// The repository root, found from this file.
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// SampleImages/chelsea.png, shipped with the repository.
    static let chelseaPath = repositoryRoot.appendingPathComponent("SampleImages/chelsea.png").path

    /// A fresh empty folder under the system's temporary folder.
    static func folder(_ name: String = #function) throws -> String {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("featuremaps-cli-tests-\(safe)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    /// A width x height RGB PNG with a pattern at `path`.
    static func photo(_ path: String, width: Int = 48, height: Int = 44) throws -> String {
        var planes = [Float](repeating: 0, count: 3 * width * height)
        for i in planes.indices { planes[i] = Float((i * 7) % 31) / 30 }
        try writePNG(Image(planarFloats: planes, width: width, height: height, channels: 3), toPath: path)
        return path
    }

    /// A CIFAR-10 folder holding `records` records in each batch file (the official layout,
    /// smaller), in a new temporary folder; read it with `--records-per-file records`.
    static func cifar(records: Int = 4) throws -> String {
        let folder = try folder()
        for (f, name) in (CIFAR10.trainFiles + [CIFAR10.testFile]).enumerated() {
            var bytes = [UInt8]()
            for r in 0 ..< records {
                bytes.append(UInt8((3 * f + r) % 10))
                for i in 0 ..< CIFAR10.pixelsPerImage { bytes.append(UInt8((31 * f + 7 * r + i) % 256)) }
            }
            try Data(bytes).write(to: URL(fileURLWithPath: folder + "/" + name))
        }
        try Data((CIFAR10.classNames.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: folder + "/" + CIFAR10.metaFile))
        return folder
    }

    /// Every file under `folder`, relative to it, sorted.
    static func files(under folder: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: folder)
        var result: [String] = []
        while let next = enumerator?.nextObject() as? String {
            if !isFolder(folder + "/" + next) { result.append(next) }
        }
        return result.sorted()
    }
}
