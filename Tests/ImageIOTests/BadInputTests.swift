import Foundation
import Testing
import ImageIO

/// Each bad input gives one ImageIOError naming the file and the reason, never a crash.
@Suite struct BadInputTests {
    /// Writes `bytes` to a file in a fresh folder and returns its path (the folder is removed by the caller).
    static func file(_ bytes: [UInt8], named name: String, in folder: URL) throws -> String {
        let url = folder.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    static func bytes(of path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    @Test func missingFile() {
        let reason = expectReadError("/nonexistent/folder/cat.png")
        #expect(reason?.contains("No such file or directory") == true)
    }

    @Test func directoryGivenAsFile() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(expectReadError(folder.path)?.contains("directory") == true)
    }

    @Test func unreadableDevice() {
        // Root reads anything chmod 000, so an unreadable regular file cannot be made here; a
        // character device is refused as "not a regular file" instead of being read forever.
        #expect(expectReadError("/dev/zero")?.contains("not a regular file") == true)
    }

    @Test func unreadableFile() throws {
        // Only meaningful when not root: root reads files whatever their permission bits.
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try Self.file(pngHeader(width: 1, height: 1), named: "locked.png", in: folder)
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: path)
        if FileManager.default.isReadableFile(atPath: path) { return }
        #expect(expectReadError(path)?.contains("Permission denied") == true)
    }

    @Test func zeroByteFile() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try Self.file([], named: "empty.png", in: folder)
        #expect(expectReadError(path)?.contains("empty") == true)
    }

    @Test func notAnImage() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try Self.file(Array("hello, this is text\n".utf8), named: "text.png", in: folder)
        #expect(expectReadError(path)?.contains("not a PNG or JPEG") == true)
        let tiny = try Self.file([0x89, 0x50], named: "tiny.png", in: folder)
        expectReadError(tiny)
    }

    @Test(arguments: [("chelsea.png", 0.1), ("chelsea.png", 0.5), ("chelsea.png", 0.9), ("chelsea.png", 0.99),
                      ("rocket.jpg", 0.01), ("rocket.jpg", 0.3), ("rocket.jpg", 0.9), ("rocket.jpg", 0.999)])
    func truncatedFile(name: String, fraction: Double) throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let whole = try Self.bytes(of: sampleImages.appendingPathComponent(name).path)
        let path = try Self.file(Array(whole.prefix(Int(Double(whole.count) * fraction))), named: "cut-" + name, in: folder)
        #expect(expectReadError(path)?.contains("corrupt or truncated") == true)
    }

    @Test func jpegSignatureWithGarbage() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try Self.file([0xFF, 0xD8, 0xFF] + [UInt8](repeating: 0x42, count: 500), named: "junk.jpg", in: folder)
        expectReadError(path)
    }

    /// A valid PNG header (correct CRC) claiming 100000 x 100000 pixels, then nothing.
    @Test func enormousPNGHeaderIsRefusedByThePixelLimit() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = try Self.file(pngHeader(width: 100_000, height: 100_000), named: "huge.png", in: folder)
        let reason = expectReadError(path)
        #expect(reason?.contains("100000x100000") == true)
        #expect(reason?.contains("100000000") == true)
    }

    @Test func pixelLimitIsSettable() throws {
        var options = ImageReadOptions()
        options.maxPixels = 451 * 300 - 1
        let chelsea = sampleImages.appendingPathComponent("chelsea.png").path
        #expect(expectReadError(chelsea, options: options)?.contains("above the limit of 135299") == true)
        options.maxPixels = 451 * 300
        #expect(try readImage(atPath: chelsea, options: options).width == 451)
        options.maxPixels = 100
        #expect(expectReadError(sampleImages.appendingPathComponent("rocket.jpg").path, options: options)?.contains("limit") == true)
    }

    /// A JPEG whose SOF0 claims 60000 x 60000 (a JPEG can hold at most 65500 a side).
    @Test func enormousJPEGHeaderIsRefusedByThePixelLimit() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var bytes = try Self.bytes(of: JPEGDecodeTests.path(of: "small-gray.jpg"))
        // Patch the frame header: FF C0 (or C2), length(2), precision(1), height(2), width(2).
        let sof = try #require(bytes.indices.first { $0 + 1 < bytes.count && bytes[$0] == 0xFF && (bytes[$0 + 1] == 0xC0 || bytes[$0 + 1] == 0xC2) })
        bytes.replaceSubrange((sof + 5)...(sof + 8), with: [0xEA, 0x60, 0xEA, 0x60])
        let path = try Self.file(bytes, named: "huge.jpg", in: folder)
        #expect(expectReadError(path)?.contains("60000x60000") == true)
    }
}

/// A PNG whose IHDR (8-bit RGB) claims the given size, followed by a token IDAT and IEND, all with
/// correct CRCs, so that only the size is wrong.
func pngHeader(width: UInt32, height: UInt32) -> [UInt8] {
    func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in body {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return be(UInt32(data.count)) + body + be(~crc)
    }
    return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        + chunk("IHDR", be(width) + be(height) + [8, 2, 0, 0, 0])
        + chunk("IDAT", [0x78, 0x9C, 0x03, 0x00])
        + chunk("IEND", [])
}
