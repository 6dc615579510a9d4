import Kernels
import Testing

/// The per-thread padded-image slices the direct and panel convolutions read in place.
@Suite struct RowHelpersTests {
    /// Each fill writes the images with their zero border one after another and zeroes the slack
    /// after the last (the kernels' last vectors read it), and touches no other thread's slice.
    @Test(arguments: [(padding: 1, perSlice: 2, slack: 5), (padding: 0, perSlice: 1, slack: 9), (padding: 2, perSlice: 3, slack: 0)])
    func paddedSlicesHoldTheImagesWithTheirBorderThenZeros(padding: Int, perSlice: Int, slack: Int) {
        let (n, c, h, w) = (4, 2, 3, 5)
        let g = Conv2dGeometry(input: [n, c, h, w], weight: [1, c, 3, 3], stride: 1, padding: padding)
        let slices = PaddedImageSlices(g, imagesPerSlice: perSlice, slack: slack)
        let (hp, wp) = (h + 2 * padding, w + 2 * padding)
        #expect(slices.imageSize == c * hp * wp && PaddedImageSlices.imageSize(g) == slices.imageSize)
        #expect(slices.sliceSize == perSlice * slices.imageSize + slack)
        let input = (0..<(n * c * h * w)).map { Float($0 + 1) }
        var buffer = [Float](repeating: .nan, count: 2 * slices.sliceSize)
        let first = 1, count = min(perSlice, n - 1)
        input.withUnsafeBufferPointer { x in
            buffer.withUnsafeMutableBufferPointer { b in
                slices.fill(slices.slice(b.baseAddress!, thread: 1), from: x.baseAddress!, images: first..<first + count)
            }
        }
        #expect(buffer[0..<slices.sliceSize].allSatisfy { $0.isNaN }, "thread 0's slice untouched")
        let slice = Array(buffer[slices.sliceSize...])
        for image in 0..<count {
            for ch in 0..<c {
                for y in 0..<hp {
                    for x in 0..<wp {
                        let (iy, ix) = (y - padding, x - padding)
                        let inside = iy >= 0 && iy < h && ix >= 0 && ix < w
                        let expected = inside ? input[(((first + image) * c + ch) * h + iy) * w + ix] : 0
                        #expect(slice[((image * c + ch) * hp + y) * wp + x] == expected, "image \(image) channel \(ch) (\(y), \(x))")
                    }
                }
            }
        }
        #expect(slice[(count * slices.imageSize)..<(count * slices.imageSize + slack)].allSatisfy { $0 == 0 }, "slack zeroed")
    }
}
