import Foundation
import Testing

@Suite("the explorer's command line", .enabled(if: executable != nil, "featuremaps executable not built"))
struct ExplorerCommandLineTests {
    @Test func usageErrorsExitWithTwo() throws {
        let badSpec = try featuremaps(["--layers", "edges,3x", Scratch.chelseaPath])
        #expect(badSpec.status == 2)
        #expect(badSpec.err.contains("invalid --layers 'edges,3x': layer 2 '3x'"))
        #expect(try featuremaps([]).status == 2)
        #expect(try featuremaps(["--no-such-option", Scratch.chelseaPath]).status == 2)
        #expect(try featuremaps(["--threads", "0", Scratch.chelseaPath]).status == 2)
        #expect(try featuremaps(["--jobs", "0", Scratch.chelseaPath]).status == 2)
    }

    @Test func successWritesTheFiguresAndSaysWhere() throws {
        let out = try Scratch.folder() + "/out"
        let run = try featuremaps([Scratch.chelseaPath, "--out", out])
        #expect(run.status == 0)
        #expect(run.out == "\(Scratch.chelseaPath) -> \(out)/chelsea/\n")  // not a terminal: one line per image
        #expect(run.err.contains("1 image in ") && run.err.contains("1 done, 0 failed; output in \(out), page \(out)/index.html\n"))
        #expect(Scratch.files(under: out) == ["chelsea/L1.png", "chelsea/L1.thumb.png", "chelsea/L2.png", "chelsea/L2.thumb.png",
                                              "chelsea/L3.png", "chelsea/L3.thumb.png", "chelsea/in_img.png", "chelsea/index.html",
                                              "index.html"])

        let quiet = try featuremaps([Scratch.chelseaPath, "-o", out, "--quiet"])
        #expect(quiet.status == 0 && quiet.out.isEmpty && quiet.err.isEmpty)
    }

    @Test func aMissingPathFailsAloneWithOneLine() throws {
        let out = try Scratch.folder() + "/out"
        let run = try featuremaps([Scratch.chelseaPath, "/no/such/photo.png", "--out", out, "--quiet"])
        #expect(run.status == 1)
        #expect(run.err == "featuremaps: /no/such/photo.png: No such file or directory\n")
        #expect(Scratch.files(under: out).count == 9)
        // The page lists the failure with the console's text.
        let page = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        #expect(page.contains("/no/such/photo.png: No such file or directory"))
    }

    @Test func anUnwritableOutputFolderIsOneError() throws {
        let folder = try Scratch.folder()
        _ = FileManager.default.createFile(atPath: folder + "/file", contents: Data([1]))
        let run = try featuremaps([Scratch.chelseaPath, "--out", folder + "/file/out"])
        #expect(run.status == 1)
        #expect(run.err.hasPrefix("featuremaps: cannot write to the output folder \(folder)/file/out: "))
        #expect(run.errLines.count == 1)
    }
}
