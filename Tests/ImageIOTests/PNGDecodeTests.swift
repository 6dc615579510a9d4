import Foundation
import Testing
import ImageIO

/// Every PngSuite file (and libpng's own gray/rgb/palette/alpha test images) decoded by libpng through
/// readImage, compared pixel for pixel with Pillow/pypng (Fixtures/make_fixtures.py).
@Suite struct PNGDecodeTests {
    static let fixtureNames: [String] = Fixtures.loaded.map { $0.png.files.keys.sorted() } ?? []

    @Test func fixturesCoverEveryPngSuiteFile() throws {
        let fixtures = try #require(Fixtures.loaded)
        let suite = pngFiles(in: pngTestData.appendingPathComponent("pngsuite"))
            + pngFiles(in: pngTestData.appendingPathComponent("pngsuite/interlaced"))
            + pngFiles(in: pngTestData.appendingPathComponent("testpngs"))
        #expect(suite.count >= 160, "PNG test images not found at \(pngTestData.path)")
        for url in suite {
            let name = String(url.path.dropFirst(pngTestData.path.count + 1))
            #expect(fixtures.png.files[name] != nil, "no fixture for \(name)")
        }
    }

    @Test(arguments: fixtureNames)
    func decodesLikeAnIndependentDecoder(name: String) throws {
        let entry = try #require(Fixtures.loaded?.png.files[name])
        let path = pngTestData.appendingPathComponent(name).path
        let image = try readImage(atPath: path)
        #expect(image.width == entry.width && image.height == entry.height && image.channels == 3)
        expectPixels(image, entry: entry, hash: entry.fnv1a64, bytes: entry.rgb, name: name)

        if let otherHash = entry.fnv1a64OnOtherBackground {
            let bg = try #require(Fixtures.loaded?.png.otherBackground)
            var options = ImageReadOptions()
            options.background = (bg[0], bg[1], bg[2])
            let onOther = try readImage(atPath: path, options: options)
            expectPixels(onOther, entry: entry, hash: otherHash, bytes: entry.rgbOnOtherBackground, name: name + " (other background)")
        }
    }

    /// Exact equality, except for 16-bit files with partial alpha (see make_fixtures.py: libpng returns those
    /// premultiplied and rounded to 16 bits, which can move the composited high byte by one).
    private func expectPixels(_ image: Image, entry: Fixtures.PNGEntry, hash: String, bytes: String?, name: String) {
        if entry.tolerance == 0 { #expect(fnv1a64(image.pixels) == hash, "\(name): pixels differ from the fixture") }
        guard let bytes else {
            #expect(entry.tolerance == 0, "\(name): no pixels stored to compare with a tolerance")
            return
        }
        let expected = base64Bytes(bytes)
        let step = entry.sampleStep ?? 1
        var k = 0, worst = 0, differing = 0
        for y in stride(from: 0, to: image.height, by: step) {
            for x in stride(from: 0, to: image.width, by: step) {
                for c in 0..<3 {
                    guard k < expected.count else { break }
                    let diff = abs(Int(image.pixels[(y * image.width + x) * 3 + c]) - Int(expected[k]))
                    if diff > worst { worst = diff }
                    if diff > 0 { differing += 1 }
                    k += 1
                }
            }
        }
        #expect(k == expected.count, "\(name): size differs from the fixture")
        #expect(worst <= entry.tolerance, "\(name): \(differing) samples differ, by up to \(worst)")
        // Off-by-one is a rounding accident: it must stay rare.
        #expect(differing * 20 <= expected.count, "\(name): \(differing) of \(expected.count) samples differ")
    }

    @Test func sixteenBitKeepsTheHighByteNotAGammaCurve() throws {
        // basn0g16 has gAMA 1.0: libpng's simplified API would gamma-encode it; we keep v >> 8.
        let image = try readImage(atPath: pngTestData.appendingPathComponent("pngsuite/basn0g16.png").path)
        let entry = try #require(Fixtures.loaded?.png.files["pngsuite/basn0g16.png"])
        #expect(image.pixels == base64Bytes(entry.rgb ?? ""))
    }

    @Test(arguments: ["testpngs/badpal", "testpngs/crashers"])
    func brokenFilesFailCleanlyOrDecode(folder: String) throws {
        let files = pngFiles(in: pngTestData.appendingPathComponent(folder))
        #expect(files.count >= 9)
        for url in files {
            do {
                let image = try readImage(atPath: url.path)
                // libpng accepts a few (bad ancillary chunks are dropped); those are tiny images.
                #expect(image.pixels.count == image.width * image.height * 3)
                if folder.hasSuffix("crashers") { #expect(image.width * image.height <= 4, "\(url.lastPathComponent)") }
            } catch {
                #expect(error.path == url.path)
                #expect(!error.reason.isEmpty)
            }
        }
    }

    @Test func cicpFileDecodes() throws {
        let image = try readImage(atPath: pngTestData.appendingPathComponent("testpngs/png-3/cicp-display-p3_reencoded.png").path)
        #expect(image.width > 0 && image.height > 0)
    }
}
