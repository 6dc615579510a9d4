import Foundation
import Testing
import ImageIO

@Suite struct WriteTests {
    /// A deterministic pseudo-random image, so every byte value and neighbour pattern gets exercised.
    static func noise(width: Int, height: Int, channels: Int, seed: UInt64) -> Image {
        var state = seed
        let pixels = (0..<(width * height * channels)).map { _ -> UInt8 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        return Image(width: width, height: height, channels: channels, pixels: pixels)
    }

    @Test func rgbRoundTrip() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let image = Self.noise(width: 37, height: 23, channels: 3, seed: 1)
        let path = folder.appendingPathComponent("rgb.png").path
        try writePNG(image, toPath: path)
        #expect(try readImage(atPath: path) == image)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["rgb.png"])
    }

    @Test func grayRoundTripComesBackAsEqualRGB() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let gray = Self.noise(width: 19, height: 31, channels: 1, seed: 2)
        let path = folder.appendingPathComponent("gray.png").path
        try writePNG(gray, toPath: path)
        let back = try readImage(atPath: path)
        #expect(back.channels == 3 && back.width == 19 && back.height == 31)
        #expect(back.pixels == gray.pixels.flatMap { [$0, $0, $0] })
    }

    @Test func bothCompressionsRoundTrip() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let image = Self.noise(width: 64, height: 9, channels: 3, seed: 9)
        for compression in [PNGCompression.fast, .small] {
            let path = folder.appendingPathComponent("\(compression).png").path
            try writePNG(image, toPath: path, compression: compression)
            #expect(try readImage(atPath: path) == image)
        }
    }

    @Test func overwritesAnExistingFile() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("out.png").path
        try writePNG(Self.noise(width: 4, height: 4, channels: 3, seed: 3), toPath: path)
        let second = Self.noise(width: 5, height: 2, channels: 3, seed: 4)
        try writePNG(second, toPath: path)
        #expect(try readImage(atPath: path) == second)
    }

    @Test func missingFolderFailsAndLeavesNothing() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("no/such/folder/out.png").path
        #expect(throws: ImageIOError.self) { try writePNG(Self.noise(width: 2, height: 2, channels: 1, seed: 5), toPath: path) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
    }

    @Test func renameFailureRemovesTheTemporaryFile() throws {
        // The destination is an existing non-empty folder, so rename(2) fails after the temporary file
        // was written: the temporary file must be gone and the folder untouched.
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let blocker = folder.appendingPathComponent("taken.png")
        try FileManager.default.createDirectory(at: blocker, withIntermediateDirectories: false)
        try Data([1]).write(to: blocker.appendingPathComponent("keep"))
        do {
            try writePNG(Self.noise(width: 3, height: 3, channels: 3, seed: 6), toPath: blocker.path)
            Issue.record("writing over a non-empty folder succeeded")
        } catch {
            #expect(error.path == blocker.path)
            #expect(error.reason.contains("rename"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["taken.png"])
    }

    @Test func unwritableFolderFails() throws {
        // Root ignores permission bits, so use a folder that cannot hold files for anyone: /proc.
        let path = "/proc/imageio-test.png"
        do {
            try writePNG(Self.noise(width: 2, height: 2, channels: 3, seed: 7), toPath: path)
            Issue.record("wrote into /proc")
        } catch {
            #expect(error.description.hasPrefix(path + ": "))
        }
    }

    @Test func folderThatIsAFileFails() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("plain")
        try Data([1, 2, 3]).write(to: file)
        let path = file.appendingPathComponent("out.png").path
        do {
            try writePNG(Self.noise(width: 2, height: 2, channels: 3, seed: 8), toPath: path)
            Issue.record("wrote below a plain file")
        } catch {
            #expect(error.description == "\(path): cannot create a file in folder \(file.path): Not a directory")
        }
    }

    @Test func emptyImageIsRefused() {
        #expect(throws: ImageIOError.self) { try writePNG(Image(width: 0, height: 3, channels: 3, pixels: []), toPath: "/tmp/x.png") }
    }
}
