import Foundation
import Testing
import ImageIO

/// JPEGs decoded by the system libjpeg-turbo compared with Pillow's (its wheels bundle their own
/// libjpeg-turbo). Both use libjpeg's default accurate integer IDCT and fancy upsampling, so equal
/// output is expected; the tolerance allows one level for a differing library version's rounding.
@Suite struct JPEGDecodeTests {
    static let tolerance = 1

    static func path(of name: String) -> String {
        name.hasPrefix("small-")
            ? fixturesFolder.appendingPathComponent(name).path
            : sampleImages.appendingPathComponent(name).path
    }

    @Test(arguments: ["rocket.jpg", "hubble_deep_field.jpg", "small-progressive.jpg", "small-gray.jpg", "small-cmyk.jpg"])
    func decodesLikePillow(name: String) throws {
        let entry = try #require(Fixtures.loaded?.jpeg[name])
        let image = try readImage(atPath: Self.path(of: name))
        #expect(image.width == entry.width && image.height == entry.height && image.channels == 3)
        let expected = base64Bytes(entry.sampled)
        var k = 0, worst = 0
        for y in stride(from: 0, to: image.height, by: entry.step) {
            for x in stride(from: 0, to: image.width, by: entry.step) {
                for c in 0..<3 where k < expected.count {
                    worst = max(worst, abs(Int(image.pixels[(y * image.width + x) * 3 + c]) - Int(expected[k])))
                    k += 1
                }
            }
        }
        #expect(k == expected.count)
        if ProcessInfo.processInfo.environment["IMAGEIO_BENCH"] != nil { print("jpeg \(name): largest difference from Pillow \(worst)") }
        #expect(worst <= Self.tolerance, "\(name): differs from Pillow by up to \(worst)")
        for c in 0..<3 {
            var sum = 0
            for i in stride(from: c, to: image.pixels.count, by: 3) { sum += Int(image.pixels[i]) }
            #expect(abs(Double(sum) / Double(image.width * image.height) - entry.mean[c]) < 0.05)
        }
    }

    @Test func grayJPEGComesBackAsEqualChannels() throws {
        let image = try readImage(atPath: Self.path(of: "small-gray.jpg"))
        for i in stride(from: 0, to: image.pixels.count, by: 3) {
            #expect(image.pixels[i] == image.pixels[i + 1] && image.pixels[i] == image.pixels[i + 2])
        }
    }
}
