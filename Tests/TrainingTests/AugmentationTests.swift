import Testing
import Kernels
import Training

/// airbench's augmentation and test-time views on a small image whose pixels name their place:
/// channel 0 holds 8 x row, channel 1 holds 8 x column (so a value says where it came from).
@Suite struct AugmentationTests {
    let split: CIFARSplit = {
        var pixels = [UInt8](repeating: 0, count: 3072)
        for y in 0 ..< 32 {
            for x in 0 ..< 32 {
                pixels[y * 32 + x] = UInt8(8 * y % 256)
                pixels[1024 + y * 32 + x] = UInt8(8 * x % 256)
            }
        }
        return CIFARSplit(pixels: pixels, labels: [3])
    }()
    let identity = Normalization(mean: [0, 0, 0], std: [1, 1, 1])

    /// The (row, column) each output pixel of `crop` came from, read back from the values.
    func sources(_ crop: CropFlip, padding: Int, mode: PaddingMode) -> [[(Int, Int)]] {
        var batch = Tensor(shape: [0])
        var labels = [Int]()
        BatchAssembler(normalization: identity, padding: padding, paddingMode: mode)
            .fill(&batch, labels: &labels, from: split, indices: [0], crops: [crop])
        return (0 ..< 32).map { y in
            (0 ..< 32).map { x in (Int((batch[0, 0, y, x] * 255 / 8).rounded()), Int((batch[0, 1, y, x] * 255 / 8).rounded())) }
        }
    }

    /// PyTorch's reflect padding: -1 -> 1, 32 -> 30.
    func reflect(_ v: Int) -> Int { v < 0 ? -v : v > 31 ? 62 - v : v }

    @Test func reflectPaddedCropsReadTheMirroredEdge() {
        // Offsets 0 and 4 at padding 2: the image moved 2 down-right / 2 up-left, edges mirrored.
        for (dy, dx) in [(0, 0), (4, 4), (0, 3)] {
            let got = sources(CropFlip(dy: dy, dx: dx, flip: false), padding: 2, mode: .reflect)
            for y in 0 ..< 32 {
                for x in 0 ..< 32 { #expect(got[y][x] == (reflect(y + dy - 2), reflect(x + dx - 2)), "(\(dy),\(dx)) at \(y),\(x)") }
            }
        }
        // The centre is the image itself, and zero padding still gives black.
        #expect(sources(CropFlip(dy: 2, dx: 2, flip: false), padding: 2, mode: .reflect)[0][0] == (0, 0))
        #expect(sources(CropFlip(dy: 0, dx: 0, flip: false), padding: 2, mode: .zero)[0][0] == (0, 0))
        #expect(sources(CropFlip(dy: 0, dx: 0, flip: false), padding: 2, mode: .zero)[2][3] == (0, 1))
    }

    @Test func alternatingFlipMirrorsEveryImageEveryOtherEpoch() {
        let aug = AlternatingFlipTranslate(count: 1_000, seed: 7)
        let mirrored = aug.pattern.filter { $0 }.count
        #expect((400 ... 600).contains(mirrored), "epoch 0 flips are fair coins")
        var rng = TrainingRandom(seed: 1)
        var offsets = Set<Int>()
        for epoch in 0 ..< 4 {
            let crops = aug.crops(epoch: epoch, using: &rng)
            for (i, crop) in crops.enumerated() {
                #expect(crop.flip == (aug.pattern[i] != (epoch % 2 == 1)))
                #expect((0 ... 4).contains(crop.dy) && (0 ... 4).contains(crop.dx))
                offsets.insert(crop.dy * 5 + crop.dx)
            }
        }
        #expect(offsets.count == 25, "every translation in -2...2 x -2...2 occurs")
        #expect(AlternatingFlipTranslate(count: 1_000, seed: 7) == aug, "the pattern is drawn again from the seed")
    }

    @Test func airbenchTestViewsAreWhatTheySay() {
        let views = TestTimeAugmentation.mirrorTranslate.views
        #expect(views.count == 6 && abs(views.map(\.weight).reduce(0, +) - 1) < 1e-7)
        #expect(views.map(\.weight) == [0.25, 0.25, 0.125, 0.125, 0.125, 0.125])
        let p = TestTimeAugmentation.mirrorTranslate.padding
        // The plain image, its mirror image, one pixel down-right (and mirrored), one pixel up-left (and mirrored).
        let expected: [(Int, Int, Bool)] = [(0, 0, false), (0, 0, true), (-1, -1, false), (-1, -1, true), (1, 1, false), (1, 1, true)]
        for (view, (sy, sx, flip)) in zip(views, expected) {
            let got = sources(view.crop, padding: p, mode: .reflect)
            for y in 0 ..< 32 {
                for x in 0 ..< 32 {
                    let column = flip ? 31 - x : x
                    #expect(got[y][x] == (reflect(y + sy), reflect(column + sx)), "\(view.crop) at \(y),\(x)")
                }
            }
        }
        #expect(TestTimeAugmentation.flip.views.map(\.crop) == [CropFlip(dy: 0, dx: 0, flip: false), CropFlip(dy: 0, dx: 0, flip: true)])
        #expect(TestTimeAugmentation.preset(for: "airbench") == .mirrorTranslate && TestTimeAugmentation.preset(for: "vgg") == .flip)
    }
}
