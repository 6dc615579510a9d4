import Foundation
import Testing

/// Photos whose header claims more pixels than can be drawn are refused from the header, at once,
/// in one line, before any pixel memory is allocated.
@Suite struct LargeInputTests {
    /// A PNG file of a few dozen bytes whose header (IHDR) claims `width` x `height` 8-bit RGB pixels
    /// (and an IDAT of no rows: libpng reads up to the first IDAT before it gives the size).
    static func claimedPNG(_ path: String, width: UInt32, height: UInt32) throws -> String {
        func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            return bigEndian(UInt32(data.count)) + body + bigEndian(crc32(body))
        }
        let header = bigEndian(width) + bigEndian(height) + [8, 2, 0, 0, 0]
        let bytes = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header)
            + chunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]) + chunk("IEND", [])
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// CRC-32 (ISO 3309, as PNG chunks use it), bit by bit: the files are tiny.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0 ..< 8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    @Test(.enabled(if: executable != nil, "the featuremaps executable is not built beside the tests"))
    func aPhotoClaimingNineHundredMegapixelsIsRefusedFromItsHeader() throws {
        let folder = try Scratch.folder()
        let photo = try Self.claimedPNG(folder + "/huge.png", width: 30000, height: 30000)
        let started = Date()
        let run = try featuremaps([photo, "-o", folder + "/out"])
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(run.status == 1)
        #expect(run.errLines.first == "featuremaps: \(photo): image is 30000x30000 pixels, above the limit of 100000000 pixels (maxPixels)",
                "\(run.err)")
        #expect(!Scratch.files(under: folder + "/out").contains { $0.hasPrefix("huge/") })
    }

    @Test(.enabled(if: executable != nil, "the featuremaps executable is not built beside the tests"),
          .enabled(if: ProcessInfo.processInfo.physicalMemory < 200 << 30, "the machine has 200 GiB or more, room for the photo"))
    func aPhotoWhoseMapsWouldNotFitInMemoryIsRefusedNamingTheBytes() throws {
        // Allowed by --max-pixels, but 3,600 MP need far more memory than the machine has.
        let folder = try Scratch.folder()
        let photo = try Self.claimedPNG(folder + "/wide.png", width: 60000, height: 60000)
        let started = Date()
        let run = try featuremaps([photo, "--max-pixels", "4000000000", "-o", folder + "/out"])
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(run.status == 1)
        let line = try #require(run.errLines.first.map(String.init))
        let pattern = #/^featuremaps: (.*): the image is 60000x60000 pixels \(3600\.0 MP\); drawing its maps needs about ([0-9.]+) GB \(([0-9]+) bytes a pixel\), more than the ([0-9.]+) GB of memory available \((MemAvailable in /proc/meminfo|the cgroup's memory.max less memory.current)\)$/#
        let match = try #require(line.firstMatch(of: pattern), "\(line)")
        #expect(match.1 == photo)
        let perPixel = try #require(Int(match.3))
        #expect((40 ... 120).contains(perPixel), "the default stack's estimate, \(perPixel) bytes a pixel")
        #expect(Double(match.2) == (Double(3_600_000_000 * perPixel) / 1e8).rounded() / 10)
        #expect(Double(match.4)! < Double(match.2)!)
    }
}
