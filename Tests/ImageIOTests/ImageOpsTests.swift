import Testing
import ImageIO

@Suite struct ImageOpsTests {
    @Test func grayscaleOfChelseaMatchesNumPy() throws {
        let fixture = try #require(Fixtures.loaded?.chelseaGray)
        let image = try readImage(atPath: sampleImages.appendingPathComponent("chelsea.png").path)
        #expect(image.width == fixture.width && image.height == fixture.height)
        let gray = image.grayscale()
        #expect(gray.count == image.width * image.height)
        let sampled = base64Bytes(fixture.sampled).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        var k = 0, worst: Float = 0
        for y in stride(from: 0, to: image.height, by: fixture.step) {
            for x in stride(from: 0, to: image.width, by: fixture.step) {
                worst = max(worst, abs(gray[y * image.width + x] - sampled[k]))
                k += 1
            }
        }
        #expect(k == sampled.count)
        // Both compute in double and round once to float32: equal up to one float32 step near 1.
        #expect(worst <= 1e-7)
        let sum = gray.reduce(0.0) { $0 + Double($1) }
        #expect(abs(sum - fixture.sum) < 1e-3)
    }

    @Test func grayscaleByHand() {
        let image = Image(width: 2, height: 1, channels: 3, pixels: [255, 0, 0, 10, 20, 30])
        let gray = image.grayscale()
        #expect(gray[0] == Float(0.2125))
        #expect(abs(gray[1] - Float((0.2125 * 10 + 0.7154 * 20 + 0.0721 * 30) / 255)) < 1e-7)
        #expect(Image(width: 1, height: 1, channels: 1, pixels: [51]).grayscale() == [0.2])
    }

    @Test func planarFloatsAreCHW() {
        let image = Image(width: 2, height: 1, channels: 3, pixels: [0, 51, 102, 153, 204, 255])
        #expect(image.planarFloats() == [0, 0.6, 0.2, 0.8, 0.4, 1.0])
        let back = Image(planarFloats: image.planarFloats(), width: 2, height: 1, channels: 3)
        #expect(back == image)
    }

    @Test func planarFloatsInitClampsAndRounds() {
        let image = Image(planarFloats: [-1, 2, .nan, 0.5, 1.0 / 255 * 0.49, 1.0 / 255 * 0.51], width: 6, height: 1, channels: 1)
        #expect(image.pixels == [0, 255, 0, 128, 0, 1])
    }

    @Test func areaAveragingByHand() {
        // 3x3 -> 2x2: each output covers 1.5 x 1.5 input pixels. Top-left output:
        // weights (1, 0.5) x (1, 0.5) over rows 0-1, cols 0-1, divided by 2.25.
        let input = Image(width: 3, height: 3, channels: 1, pixels: [10, 20, 30,
                                                                    40, 50, 60,
                                                                    70, 80, 90])
        let out = input.resizedByAreaAveraging(width: 2, height: 2)
        // (10*1 + 20*.5 + 40*.5 + 50*.25) / 2.25 = 52.5 / 2.25 = 23.33 -> 23
        // top-right, cols (1: .5, 2: 1) x rows (0: 1, 1: .5): (20*.5 + 30*1 + 50*.25 + 60*.5) / 2.25 = 82.5 / 2.25 = 36.67 -> 37
        // bottom-left: (40*.5 + 50*.25 + 70*1 + 80*.5) / 2.25 = 142.5 / 2.25 = 63.33 -> 63
        // bottom-right: (50*.25 + 60*.5 + 80*.5 + 90*1) / 2.25 = 172.5 / 2.25 = 76.67 -> 77
        #expect(out.pixels == [23, 37, 63, 77])
    }

    @Test func areaAveragingWholeBlocksIsTheBlockMean() {
        // 4x2 RGB -> 2x1: exact 2x2 blocks, per channel.
        let input = Image(width: 4, height: 2, channels: 3, pixels: [
            0, 0, 0, 10, 10, 10, 100, 0, 0, 100, 0, 0,
            20, 20, 20, 30, 30, 31, 100, 0, 0, 104, 0, 2,
        ])
        let out = input.resizedByAreaAveraging(width: 2, height: 1)
        #expect(out.pixels == [15, 15, 15, 101, 0, 1])  // (0+10+20+30)/4, ..., (31+10+20+0)/4 = 15.25; 2/4 = 0.5 -> 1
    }

    @Test func areaAveragingKeepsAConstantImage() {
        let input = Image(width: 451, height: 300, channels: 3, pixels: [UInt8](repeating: 77, count: 451 * 300 * 3))
        let out = input.resizedByAreaAveraging(width: 32, height: 32)
        #expect(out.width == 32 && out.height == 32 && out.pixels.allSatisfy { $0 == 77 })
    }
}
