import Foundation
import Testing

/// The built `featuremaps` executable, next to this test bundle in the build folder (the test
/// build builds it too); nil when it is not there.
private let executable: URL? = {
    let candidate = Bundle.module.bundleURL.deletingLastPathComponent().appendingPathComponent("featuremaps")
    return FileManager.default.isExecutableFile(atPath: candidate.path) ? candidate : nil
}()

/// Runs the executable with `arguments`; returns its status, standard output and standard error.
private func featuremaps(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    let process = Process()
    process.executableURL = try #require(executable)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

@Suite("the featuremaps command line", .enabled(if: executable != nil, "featuremaps executable not built"))
struct CommandLineTests {
    @Test func usageErrorsExitWithTwo() throws {
        let badSpec = try featuremaps(["--layers", "edges,3x", TestSupport.chelseaPath])
        #expect(badSpec.status == 2)
        #expect(badSpec.err.contains("invalid --layers 'edges,3x': layer 2 '3x'"))
        #expect(try featuremaps([]).status == 2)
        #expect(try featuremaps(["--no-such-option", TestSupport.chelseaPath]).status == 2)
        #expect(try featuremaps(["--threads", "0", TestSupport.chelseaPath]).status == 2)
    }

    @Test func successWritesTheFiguresAndSaysWhere() throws {
        let out = try TestSupport.temporaryFolder() + "/out"
        let run = try featuremaps([TestSupport.chelseaPath, "--out", out])
        #expect(run.status == 0)
        #expect(run.out == "\(TestSupport.chelseaPath) -> \(out)/chelsea/\n")  // not a terminal: one line per image
        #expect(run.err.contains("1 image in ") && run.err.contains("1 done, 0 failed"))
        #expect(TestSupport.files(under: out) == ["chelsea/L1.png", "chelsea/L2.png", "chelsea/L3.png", "chelsea/in_img.png"])

        let quiet = try featuremaps([TestSupport.chelseaPath, "--out", out, "--quiet"])
        #expect(quiet.status == 0 && quiet.out.isEmpty && quiet.err.isEmpty)
    }

    @Test func aMissingPathFailsAloneWithOneLine() throws {
        let out = try TestSupport.temporaryFolder() + "/out"
        let run = try featuremaps([TestSupport.chelseaPath, "/no/such/photo.png", "--out", out, "--quiet"])
        #expect(run.status == 1)
        #expect(run.err == "featuremaps: /no/such/photo.png: No such file or directory\n")
        #expect(TestSupport.files(under: out).count == 4)
    }

    @Test func anUnwritableOutputFolderIsOneError() throws {
        let folder = try TestSupport.temporaryFolder()
        FileManager.default.createFile(atPath: folder + "/file", contents: Data([1]))
        let run = try featuremaps([TestSupport.chelseaPath, "--out", folder + "/file/out"])
        #expect(run.status == 1)
        #expect(run.err.hasPrefix("featuremaps: cannot write to the output folder \(folder)/file/out: "))
        #expect(run.err.split(separator: "\n").count == 1)
    }
}
