import Testing
import ImageIO

@Suite("bitmap font")
struct BitmapFontTests {
    @Test func letterLMatchesItsPicture() {
        var pixels = [UInt8](repeating: 0, count: 5 * 7)
        BitmapFont.draw("L", into: &pixels, width: 5, height: 7, x: 0, y: 0, scale: 1, color: [1])
        let expected: [UInt8] = [1, 0, 0, 0, 0,
                                 1, 0, 0, 0, 0,
                                 1, 0, 0, 0, 0,
                                 1, 0, 0, 0, 0,
                                 1, 0, 0, 0, 0,
                                 1, 0, 0, 0, 0,
                                 1, 1, 1, 1, 1]
        #expect(pixels == expected)
        // Scale 2 doubles every pixel; drawing is clipped at the buffer's edge without trapping.
        var big = [UInt8](repeating: 0, count: 10 * 14)
        BitmapFont.draw("L", into: &big, width: 10, height: 14, x: 0, y: 0, scale: 2, color: [1])
        #expect(big.filter { $0 == 1 }.count == 4 * expected.filter { $0 == 1 }.count)
        var clipped = [UInt8](repeating: 0, count: 3 * 3)
        BitmapFont.draw("LL", into: &clipped, width: 3, height: 3, x: -2, y: -5, scale: 1, color: [1])
        // Only row 6 of the first L ("#####", columns -2...2) lands inside, at y = 1.
        #expect(clipped == [0, 0, 0, 1, 1, 1, 0, 0, 0])
        #expect(BitmapFont.width(of: "L1-Map1ReLUPool", scale: 2) == (15 * 6 - 1) * 2)
    }

    @Test func everyLabelCharacterHasAGlyph() {
        // A missing glyph is drawn as a 5x7 box outline (5 + 5 + 2 x 5 = 20 pixels); real glyphs differ from it.
        func pixels(_ text: String) -> [UInt8] {
            var buffer = [UInt8](repeating: 0, count: 5 * 7)
            BitmapFont.draw(text, into: &buffer, width: 5, height: 7, x: 0, y: 0, scale: 1, color: [1])
            return buffer
        }
        let box = pixels("\u{2603}")
        #expect(box.filter { $0 == 1 }.count == 20)
        // The explorer's labels, and the CIFAR class names in both cases with the preview's figures.
        let used = "L0123456789-MapReLUPool" + "airplane automobile bird cat deer dog frog horse ship truck".uppercased()
            + "airplane automobile bird cat deer dog frog horse ship truck" + ".%_:/"
        for character in used {
            #expect(pixels(String(character)) != box, "glyph for \(character)")
        }
    }

    @Test func drawTextPaintsEveryChannelOfAnRGBImage() {
        var image = Image(width: 12, height: 7, channels: 3, pixels: [UInt8](repeating: 255, count: 12 * 7 * 3))
        image.drawText("LL", x: 0, y: 0, color: [10, 20, 30])
        // Each L has 7 + 4 = 11 pixels; the two glyphs sit 6 columns apart, so 22 painted pixels.
        let painted = (0..<(12 * 7)).filter { image.pixels[3 * $0] == 10 }
        #expect(painted.count == 22)
        #expect(painted.allSatisfy { image.pixels[3 * $0 + 1] == 20 && image.pixels[3 * $0 + 2] == 30 })
        // Bottom-left pixel of the second L (x 6, y 6) is ink, the blank column between glyphs (x 5) is not.
        #expect(image.pixels[3 * (6 * 12 + 6)] == 10)
        #expect((0..<7).allSatisfy { image.pixels[3 * ($0 * 12 + 5)] == 255 })
    }
}
