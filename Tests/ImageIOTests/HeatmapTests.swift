import ImageIO
import Testing

@Suite struct HeatmapTests {
    /// Bilinear resizing with aligned pixel centres: 2 -> 4 samples at 1/4 and 3/4 of the way,
    /// edges clamped; the same along columns; a constant map stays constant.
    @Test func bilinearResizeAlignsPixelCentres() {
        let row = Heatmap(width: 2, height: 1, values: [0, 1]).resizedBilinear(width: 4, height: 1)
        #expect(row.values == [0, 0.25, 0.75, 1])
        let column = Heatmap(width: 1, height: 2, values: [2, 6]).resizedBilinear(width: 3, height: 4)
        #expect(column.values == [2, 2, 2, 3, 3, 3, 5, 5, 5, 6, 6, 6])
        let constant = Heatmap(width: 3, height: 2, values: Array(repeating: 0.4, count: 6)).resizedBilinear(width: 7, height: 5)
        #expect(constant.values.allSatisfy { abs($0 - 0.4) < 1e-6 })
        // Shrinking 4 -> 2 samples between input pixels 0,1 and 2,3.
        #expect(Heatmap(width: 4, height: 1, values: [0, 2, 4, 8]).resizedBilinear(width: 2, height: 1).values == [1, 6])
    }

    @Test func normalizedScalesMinimumToZeroAndMaximumToOne() {
        #expect(Heatmap(width: 3, height: 1, values: [2, 4, 3]).normalized().values == [0, 1, 0.5])
        #expect(Heatmap(width: 2, height: 1, values: [5, 5]).normalized().values == [0, 0])
    }

    /// Jet: dark blue, cyan, yellow-green, dark red; out-of-range and NaN clamped.
    @Test func jetColours() {
        #expect(ColorMap.jet.color(0) == (0, 0, 128))
        #expect(ColorMap.jet.color(0.5) == (128, 255, 128))
        #expect(ColorMap.jet.color(1) == (128, 0, 0))
        #expect(ColorMap.jet.color(-3) == ColorMap.jet.color(0) && ColorMap.jet.color(.nan) == ColorMap.jet.color(0))
        let image = Heatmap(width: 2, height: 1, values: [0, 1]).colored(.jet)
        #expect(image.channels == 3 && image.pixels == [0, 0, 128, 128, 0, 0])
    }

    /// Blending is (1 - a) base + a overlay per sample, rounded; a gray base counts as RGB.
    @Test func blendMixesSamples() {
        let base = Image(width: 2, height: 1, channels: 1, pixels: [0, 200])
        let overlay = Image(width: 2, height: 1, channels: 3, pixels: [100, 50, 255, 0, 0, 0])
        #expect(base.blended(with: overlay, opacity: 0.5).pixels == [50, 25, 128, 100, 100, 100])
        #expect(base.blended(with: overlay, opacity: 0).pixels == [0, 0, 0, 200, 200, 200])
        #expect(base.blended(with: overlay, opacity: 1).pixels == overlay.pixels)
    }
}
