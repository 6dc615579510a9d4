import Foundation
import Testing

@Suite("the explorer in parts (--shard)", .enabled(if: executable != nil, "featuremaps executable not built"))
struct ShardCommandLineTests {
    /// The files three parts write together into one --out, run at once, are those of one run:
    /// the same names, byte for byte. Left out: the run's own pages at the root (index.html,
    /// index-N.html), which list the photos of the run that wrote them with its times, so each
    /// part's lists its own photos. Each photo's page is compared with the seconds it took
    /// blanked, the one thing on it that differs from run to run.
    @Test func threePartsWriteExactlyTheFilesOfOneRun() throws {
        let source = try Scratch.folder()
        try FileManager.default.createDirectory(atPath: source + "/trip", withIntermediateDirectories: true)
        var photos = try (0 ..< 6).map { try Scratch.photo(source + "/p\($0).png", width: 60 + 7 * $0, height: 50) }
        // Two names that want one output folder (p1, p1-png) and a sub-folder: the folders are
        // named before the list is cut, so each part uses the unsharded run's names.
        photos.append(try Scratch.photo(source + "/p1.PNG", width: 90, height: 46))
        photos.append(try Scratch.photo(source + "/trip/p1.png", width: 64, height: 64))
        let whole = try Scratch.folder() + "/whole"
        let parted = try Scratch.folder() + "/parted"
        let common = [source, "--save-maps", "--layers", "edges,4x3"]

        let one = try featuremaps(common + ["--threads", "2", "-o", whole])
        #expect(one.status == 0, "\(one.err)")
        let parts = try (1 ... 3).map { try Running(common + ["--shard", "\($0)/3", "--threads", "1", "-o", parted]) }
        var drawn: [String] = []
        for run in parts {
            let result = try run.wait()
            #expect(result.status == 0, "\(result.err)")
            drawn += result.out.split(separator: "\n").map(String.init)
        }
        #expect(drawn.count == photos.count && Set(drawn).count == photos.count, "\(drawn)")

        let isRunPage = { (name: String) in !name.contains("/") && name.hasPrefix("index") && name.hasSuffix(".html") }
        let wholeFiles = Scratch.files(under: whole).filter { !isRunPage($0) }
        let partedFiles = Scratch.files(under: parted).filter { !isRunPage($0) }
        #expect(wholeFiles == partedFiles)
        for folder in ["p0", "p1", "p1-png", "p2", "p3", "p4", "p5", "trip/p1"] {
            for name in ["in_img.png", "L1.png", "L2.png", "index.html", "maps/input.npy", "maps/L2_pool.npy"] {
                #expect(wholeFiles.contains(folder + "/" + name), "\(folder)/\(name) missing")
            }
        }
        var compared = 0
        for name in wholeFiles where partedFiles.contains(name) {
            var a = try Data(contentsOf: URL(fileURLWithPath: whole + "/" + name))
            var b = try Data(contentsOf: URL(fileURLWithPath: parted + "/" + name))
            if name.hasSuffix(".html") {
                a = Data(String(decoding: a, as: UTF8.self).replacing(#/\d+\.\d{3} s/#, with: "S s").utf8)
                b = Data(String(decoding: b, as: UTF8.self).replacing(#/\d+\.\d{3} s/#, with: "S s").utf8)
            }
            #expect(a == b, "\(name) differs")
            compared += 1
        }
        #expect(compared == wholeFiles.count)
    }

    @Test func aMalformedPartIsAUsageErrorNamingTheFlag() throws {
        for bad in ["0/3", "4/3", "1/0", "3", "a/b"] {
            let run = try featuremaps([Scratch.chelseaPath, "--shard", bad, "-o", try Scratch.folder()])
            #expect(run.status == 2, "\(bad)")
            #expect(run.errLines.first == "Error: --shard must be I/N with 1 <= I <= N, as in 3/8 (part 3 of 8), not '\(bad)'",
                    "\(run.err)")
        }
    }

    /// More parts than inputs: a part with nothing to do says so and succeeds, writing nothing.
    @Test func aPartWithNoInputsSucceedsAndSaysSo() throws {
        let out = try Scratch.folder() + "/out"
        let run = try featuremaps([Scratch.chelseaPath, "--shard", "2/4", "-o", out])
        #expect(run.status == 0)
        #expect(run.errLines == ["featuremaps: --shard 2/4: no inputs in this part (1 found in all)"], "\(run.err)")
        #expect(!FileManager.default.fileExists(atPath: out + "/index.html"))
    }
}
