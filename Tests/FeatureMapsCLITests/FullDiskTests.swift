import Foundation
import ImageIO
import Kernels
import Testing
import Training

/// A small tmpfs mounted for one test, so a write really meets "No space left on device".
/// Mounting needs root (CAP_SYS_ADMIN); without it the tests that use it are skipped, saying so.
final class TinyDisk {
    /// The mount point.
    let path: String

    /// Whether this process can mount a tmpfs: tried once, on a scratch folder.
    static let canMount: Bool = {
        guard geteuid() == 0, let disk = try? TinyDisk(bytes: 64 << 10) else { return false }
        disk.unmount()
        return true
    }()

    /// Mounts a tmpfs of `bytes` (rounded up to pages by the kernel) on a new empty folder.
    init(bytes: Int) throws {
        path = try Scratch.folder("tinydisk")
        guard mount("tmpfs", path, "tmpfs", 0, "size=\(bytes),mode=0755") == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: path)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "mount tmpfs: \(reason)"])
        }
    }

    /// Unmounts (lazily, so a file still open cannot keep it) and removes the mount point.
    func unmount() {
        _ = umount2(path, Int32(MNT_DETACH))
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Fills the free space with a file `filler` (written until the disk refuses), and returns its path.
    func fill() throws -> String {
        let filler = path + "/filler"
        let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
        defer { close(fd) }
        let block = [UInt8](repeating: 0xA5, count: 4096)
        while block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        guard errno == ENOSPC else { throw CocoaError(.fileWriteUnknown) }
        // Smaller writes use up the last part page.
        while block.withUnsafeBytes({ write(fd, $0.baseAddress, 1) }) > 0 {}
        return filler
    }
}

private let rootNeeded: Comment = "mounting a tmpfs needs root (CAP_SYS_ADMIN); CI runs as root"

/// Writers meeting a full disk: one line naming the file and "No space left on device", no
/// partial file and no temporary file left behind, what was there before left as it was.
@Suite(.serialized) struct FullDiskTests {
    /// Temporary files `AtomicFile` leaves if an error path forgets them (`.<name>.<pid>.<random>.tmp`).
    static func temporaryFiles(under folder: String) -> [String] {
        Scratch.files(under: folder).filter { $0.hasSuffix(".tmp") }
    }

    @Test(.enabled(if: TinyDisk.canMount, rootNeeded))
    func theSafetensorsWriterLeavesTheOldFileWholeOnAFullDisk() throws {
        let disk = try TinyDisk(bytes: 256 << 10)
        defer { disk.unmount() }
        let path = disk.path + "/model.safetensors"
        let small = [("w", Tensor(shape: [4, 4], storage: (0 ..< 16).map(Float.init)))]
        try Safetensors.write(tensors: small, metadata: ["kind": "old"], to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))

        // 128k floats, 512 KB: more than the whole disk.
        let large = [("w", Tensor(shape: [128, 1024], storage: [Float](repeating: 1, count: 128 * 1024)))]
        #expect {
            try Safetensors.write(tensors: large, metadata: ["kind": "new"], to: path)
        } throws: { error in
            "\(error)" == "\(path): cannot write: No space left on device"
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try Safetensors.read(path: path).metadata["kind"] == "old")
        #expect(Self.temporaryFiles(under: disk.path).isEmpty)
    }

    @Test(.enabled(if: TinyDisk.canMount, rootNeeded))
    func atomicWritesFailingAtEveryPointLeaveNoTemporaryFile() throws {
        // A disk with n pages free for n = 0...: a 40 KB write fails until it fits, and never
        // leaves a temporary file or a piece of the new content.
        let disk = try TinyDisk(bytes: 256 << 10)
        defer { disk.unmount() }
        let path = disk.path + "/data.bin"
        try AtomicFile.write([1, 2, 3], toPath: path)
        let filler = try disk.fill()
        let content = [UInt8](repeating: 7, count: 40_000)
        var failures = 0
        for _ in 0 ..< 16 {
            do {
                try AtomicFile.write(content, toPath: path, durable: true)
                break
            } catch {
                failures += 1
                #expect(error.description == "\(path): cannot write: No space left on device")
                #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data([1, 2, 3]))
                #expect(Self.temporaryFiles(under: disk.path).isEmpty)
            }
            // Free 4 KB more and try again.
            let size = try FileManager.default.attributesOfItem(atPath: filler)[.size] as! Int
            #expect(truncate(filler, off_t(max(0, size - 4096))) == 0)
        }
        #expect(failures >= 9, "the disk was not full: \(failures) failures")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(content), "it never fitted")
    }

    @Test(.enabled(if: TinyDisk.canMount, rootNeeded),
          .enabled(if: executable != nil, "the featuremaps executable is not built beside the tests"))
    func theExplorerReportsEachPhotoItCouldNotWriteAndGoesOn() throws {
        // One photo's pictures, thumbnails, maps and page on a disk with less room every time:
        // wherever the disk runs out, the photo fails in one line naming the file, and what is
        // left on disk is whole (every PNG decodes, every .npy has its full size) or gone.
        let inputs = try Scratch.folder()
        let photo = try Scratch.photo(inputs + "/a.png", width: 300, height: 200)
        let arguments = [photo, "--threads", "1", "--save-maps", "--layers", "edges,4x3"]
        let roomy = try TinyDisk(bytes: 8 << 20)
        let whole = try featuremaps(arguments + ["-o", roomy.path + "/out"])
        let needed = Scratch.files(under: roomy.path).reduce(0) { total, name in
            let size = (try? FileManager.default.attributesOfItem(atPath: roomy.path + "/" + name)[.size] as? Int) ?? 0
            return total + (size + 4095) / 4096 * 4096
        }
        roomy.unmount()
        #expect(whole.status == 0, "\(whole.err)")

        var failedFiles = Set<String>()
        for bytes in stride(from: 4096, to: needed, by: max(4096, needed / 24 / 4096 * 4096)) {
            let disk = try TinyDisk(bytes: bytes)
            defer { disk.unmount() }
            let out = disk.path + "/out"
            let run = try featuremaps(arguments + ["-o", out])
            #expect(run.status == 1, "\(bytes) bytes: \(run.err)")
            // One line for the photo (and one for the batch's page when that did not fit either),
            // naming the file that did not fit.
            let lines = run.errLines.filter { $0.hasPrefix("featuremaps: ") }
            #expect((1 ... 2).contains(lines.count), "\(bytes) bytes: \(run.err)")
            #expect(lines.first?.hasPrefix("featuremaps: \(photo): cannot write output: \(out)/a/") == true, "\(bytes) bytes: \(run.err)")
            let pattern = #/^featuremaps: (?:.*: cannot write output: |cannot write the page )(.*): cannot write: No space left on device$/#
            for line in lines {
                let match = try #require(String(line).firstMatch(of: pattern), "\(bytes) bytes: \(line)")
                failedFiles.insert(String(match.1).split(separator: "/").last.map(String.init) ?? "")
            }
            #expect(Self.temporaryFiles(under: disk.path).isEmpty, "\(bytes) bytes")
            for name in Scratch.files(under: disk.path) {
                let file = disk.path + "/" + name
                if name.hasSuffix(".png") { #expect(throws: Never.self) { try readImage(atPath: file) } }
                if name.hasSuffix(".html") { #expect(try String(contentsOfFile: file, encoding: .utf8).hasSuffix("</html>\n")) }
            }
            // The photo failed, so nothing of it is left; only the batch's page may be there.
            #expect(Scratch.files(under: disk.path).allSatisfy { $0 == "out/index.html" }, "\(bytes) bytes: \(Scratch.files(under: disk.path))")
        }
        // The sizes tried ran out of room in each kind of file.
        #expect(failedFiles.contains("in_img.png") || failedFiles.contains("L1.png"), "\(failedFiles)")
        #expect(failedFiles.contains { $0.hasSuffix(".thumb.png") }, "\(failedFiles)")
        #expect(failedFiles.contains { $0.hasSuffix(".npy") }, "\(failedFiles)")
    }

    @Test(.enabled(if: TinyDisk.canMount, rootNeeded),
          .enabled(if: executable != nil, "the featuremaps executable is not built beside the tests"))
    func aBatchGoesOnPastAPhotoItCouldNotWrite() throws {
        // The first photo's pictures do not fit; the small ones after it do, and are listed.
        let inputs = try Scratch.folder()
        _ = try Scratch.photo(inputs + "/a_large.png", width: 900, height: 700)
        for name in ["b", "c"] { _ = try Scratch.photo(inputs + "/\(name).png", width: 48, height: 44) }
        let disk = try TinyDisk(bytes: 256 << 10)
        defer { disk.unmount() }
        let out = disk.path + "/out"
        let run = try featuremaps([inputs, "--threads", "1", "-o", out])
        #expect(run.status == 1)
        #expect(run.errLines.first?.hasPrefix("featuremaps: \(inputs)/a_large.png: cannot write output: \(out)/a_large/") == true, "\(run.err)")
        #expect(run.errLines.first?.hasSuffix(": cannot write: No space left on device") == true, "\(run.err)")
        #expect(run.errLines.last?.contains("3 images") == true && run.errLines.last?.contains("2 done, 1 failed") == true, "\(run.err)")
        let files = Scratch.files(under: out)
        #expect(!files.contains { $0.hasPrefix("a_large/") })
        #expect(files.contains("b/L3.png") && files.contains("c/index.html"), "\(files)")
        let page = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        #expect(page.contains("a_large.png") && page.contains("No space left on device"))
        #expect(Self.temporaryFiles(under: disk.path).isEmpty)
    }

    @Test(.enabled(if: TinyDisk.canMount, rootNeeded),
          .enabled(if: executable != nil, "the featuremaps executable is not built beside the tests"))
    func aFullDiskStopsTrainingWithTheLastCheckpointWholeAndResumable() throws {
        let cifar = try Scratch.cifar(records: 400)
        let arguments = ["train-cifar", "--arch", "c4k3p1,bn,relu,mp4,fc10", "--epochs", "8", "--batch-size", "8",
                         "--threads", "1", "--seed", "3", "--no-tta", "--data", cifar, "--records-per-file", "400"]
        let straight = try Scratch.folder() + "/run"
        let whole = try featuremaps(arguments + ["-o", straight])
        #expect(whole.status == 0, "\(whole.err)")

        let disk = try TinyDisk(bytes: 16 << 20)
        defer { disk.unmount() }
        let folder = disk.path + "/run", checkpoint = folder + "/checkpoint.safetensors", report = folder + "/report.html"
        let running = try Running(arguments + ["-o", folder])
        // Once an epoch's last file (report.html, after the checkpoint) is written, fill the disk,
        // so the next epoch's checkpoint is the write that meets it.
        func modified(_ path: String) -> Date? {
            (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        }
        let deadline = Date().addingTimeInterval(120)
        while running.process.isRunning && Date() < deadline {
            if let saved = modified(checkpoint), let page = modified(report), page >= saved { break }
            usleep(1_000)
        }
        let filler = try disk.fill()
        let run = try running.wait()
        try #require(run.status == 1, "the run ended before the disk was full: \(run.err)")
        #expect(run.errLines == ["featuremaps: \(checkpoint): cannot write: No space left on device"], "\(run.err)")
        #expect(Self.temporaryFiles(under: disk.path).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: folder + "/model.safetensors"))

        // The checkpoint left is whole, and resuming from it (with room again) ends where an
        // uninterrupted run ends.
        try FileManager.default.removeItem(atPath: filler)
        let resumed = try featuremaps(arguments + ["-o", folder, "--resume"])
        #expect(resumed.status == 0, "\(resumed.err)")
        #expect(resumed.out.contains("resuming from \(checkpoint): epoch "))
        let a = try Data(contentsOf: URL(fileURLWithPath: straight + "/model.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: folder + "/model.safetensors"))
        #expect(a == b, "the resumed model differs from the uninterrupted one")
    }
}
