import Foundation
import ImageIO
import Testing

/// Several real processes writing one output folder at once.
@Suite struct ConcurrencyTests {
    @Test(.enabled(if: executable != nil, "the featuremaps executable is not built beside the tests"))
    func explorersSharingAnOutputFolderCorruptNothing() throws {
        // Four processes over overlapping photos (each photo drawn by two or more of them at once).
        let inputs = try Scratch.folder()
        let photos = try (0 ..< 8).map { try Scratch.photo(inputs + "/p\($0).png", width: 120 + 10 * $0, height: 90) }
        let out = try Scratch.folder() + "/out"
        let subsets = [Array(photos[0 ..< 5]), Array(photos[2 ..< 7]), Array(photos[4 ..< 8]), photos]
        let runs = try subsets.enumerated().map { index, subset in
            try Running(subset + ["--threads", "1", "-o", out] + (index == 3 ? ["--save-maps"] : []))
        }
        for run in runs {
            let result = try run.wait()
            #expect(result.status == 0, "\(result.err)")
        }

        let files = Scratch.files(under: out)
        #expect(!files.contains { $0.hasSuffix(".tmp") }, "\(files)")
        for photo in 0 ..< 8 {
            for name in ["in_img.png", "L1.png", "L2.png", "L3.png", "index.html"] {
                #expect(files.contains("p\(photo)/\(name)"), "p\(photo)/\(name) missing")
            }
        }
        for name in files where name.hasSuffix(".png") {
            #expect(throws: Never.self, "\(name)") { try readImage(atPath: out + "/" + name) }
        }
        for name in files where name.hasSuffix(".npy") {
            // A whole .npy: its header's shape gives its size.
            let bytes = try Data(contentsOf: URL(fileURLWithPath: out + "/" + name))
            let header = String(decoding: bytes.prefix(128), as: UTF8.self)
            let shape = try #require(header.firstMatch(of: #/'shape': \(([0-9, ]*)\)/#)).1
            let count = shape.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }.reduce(1, *)
            let headerEnd = 10 + Int(bytes[8]) + Int(bytes[9]) << 8
            #expect(bytes.count == headerEnd + 4 * count, "\(name)")
        }
        // Every page is whole, and everything it links to is there. OUT/index.html is the page of
        // whichever run finished last: the photos of that run.
        for name in files where name.hasSuffix(".html") {
            let page = try String(contentsOfFile: out + "/" + name, encoding: .utf8)
            #expect(page.hasPrefix("<!DOCTYPE html>") && page.hasSuffix("</html>\n"), "\(name)")
            let folder = (out + "/" + name as NSString).deletingLastPathComponent
            for link in page.matches(of: #/(?:src|href)="([^"#:]+)"/#) {
                let target = String(link.1).removingPercentEncoding ?? String(link.1)
                #expect(FileManager.default.fileExists(atPath: folder + "/" + target), "\(name) links to \(target), which is missing")
            }
        }
        let index = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        let listed = (0 ..< 8).filter { index.contains("p\($0)/index.html") }
        #expect(subsets.contains { $0.count == listed.count }, "index.html lists \(listed)")
    }

    @Test(.enabled(if: executable != nil, "the featuremaps executable is not built beside the tests"))
    func aSecondTrainingInTheSameFolderIsRefusedUntilTheFirstDies() throws {
        let cifar = try Scratch.cifar(records: 64)
        let arguments = ["train-cifar", "--arch", "c4k3p1,bn,relu,mp4,fc10", "--batch-size", "8", "--threads", "1",
                         "--no-tta", "--data", cifar, "--records-per-file", "64"]
        let folder = try Scratch.folder() + "/run"
        let first = try Running(arguments + ["--epochs", "400", "-o", folder])
        let pid = first.process.processIdentifier
        // The first run holds the lock once its pid is in the lock file.
        let deadline = Date().addingTimeInterval(60)
        while (try? String(contentsOfFile: folder + "/.lock", encoding: .utf8)) != "\(pid)\n" && first.process.isRunning
                && Date() < deadline {
            usleep(2_000)
        }
        try #require(first.process.isRunning, "the first run ended early")

        let started = Date()
        let second = try featuremaps(arguments + ["--epochs", "1", "-o", folder])
        #expect(second.status == 1)
        #expect(second.errLines == ["featuremaps: --out \(folder) is in use by another train-cifar run (pid \(pid)); give another --out or wait for it to end"],
                "\(second.err)")
        #expect(Date().timeIntervalSince(started) < 30, "the refusal should come before any training")
        #expect(first.process.isRunning)

        // SIGKILL: no cleanup runs, yet the kernel drops the lock with the process.
        #expect(kill(pid, SIGKILL) == 0)
        _ = try first.wait()
        let third = try featuremaps(arguments + ["--epochs", "1", "-o", folder])
        #expect(third.status == 0, "\(third.err)")
        #expect(FileManager.default.fileExists(atPath: folder + "/model.safetensors"))
    }
}
