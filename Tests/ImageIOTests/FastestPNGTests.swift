import Foundation
import Testing
import ImageIO

/// `PNGCompression.fastest` (Up filter, zlib's RLE, through the C shim): lossless round trips, and
/// errors as `ImageIOError`s, not crashes.
@Suite("PNG writing with .fastest")
struct FastestPNGTests {
    func folder() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fastest-png-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    @Test(arguments: [(1, 1, 1), (3, 1, 1), (1, 37, 5), (3, 64, 31), (1, 300, 200), (3, 129, 77)])
    func roundTripsExactly(channels: Int, width: Int, height: Int) throws {
        var state: UInt32 = 12345
        let pixels = (0..<(width * height * channels)).map { i -> UInt8 in
            // Runs, ramps and noise, so every filter and match path is exercised.
            state = state &* 1_103_515_245 &+ 12345
            return i % 97 < 40 ? UInt8(i / 97 % 256) : (i % 97 < 60 ? UInt8(i % 256) : UInt8(state >> 24))
        }
        let image = Image(width: width, height: height, channels: channels, pixels: pixels)
        let path = try folder() + "/x.png"
        try writePNG(image, toPath: path, compression: .fastest)
        let back = try readImage(atPath: path)
        #expect(back.width == width && back.height == height)
        // readImage always gives RGB; a gray image comes back with three equal channels.
        let expected = channels == 3 ? pixels : pixels.flatMap { [$0, $0, $0] }
        #expect(back.pixels == expected)
    }

    @Test func unwritablePathIsAnError() throws {
        let image = Image(width: 2, height: 2, channels: 1, pixels: [0, 1, 2, 3])
        let path = try folder() + "/missing/x.png"
        #expect(throws: ImageIOError.self) { try writePNG(image, toPath: path, compression: .fastest) }
    }
}
