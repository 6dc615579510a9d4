import Testing
import Kernels

/// Plain loops straight from the definition, in Float64. Flat indices into the storage rather than
/// `Tensor`'s variadic subscript, whose index array made these loops most of the kernel tests' time
/// (three runs in CI): y[img, oc, oy, ox] = b[oc] + sum over ic, i, j of x[img, ic, iy, ix] w[oc, ic, i, j].
func referenceConv2d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride s: Int, padding p: Int) -> Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    let ho = (h + 2 * p - kh) / s + 1, wo = (wd + 2 * p - kw) / s + 1
    let xs = x.storage, ws = w.storage
    var ys = [Float](repeating: 0, count: n * o * ho * wo)
    for img in 0..<n { for oc in 0..<o { for oy in 0..<ho { for ox in 0..<wo {
        var acc = Double(b?.storage[oc] ?? 0)
        for ic in 0..<c { for i in 0..<kh { for j in 0..<kw {
            let iy = oy * s - p + i, ix = ox * s - p + j
            if iy >= 0 && iy < h && ix >= 0 && ix < wd {
                acc += Double(xs[((img * c + ic) * h + iy) * wd + ix]) * Double(ws[((oc * c + ic) * kh + i) * kw + j])
            }
        }}}
        ys[((img * o + oc) * ho + oy) * wo + ox] = Float(acc)
    }}}}
    return Tensor(shape: [n, o, ho, wo], storage: ys)
}

/// (N, C, H, W, O, k, stride, padding): odd sizes, 1x1, stride 2, padding, non-square images.
let convCases: [(Int, Int, Int, Int, Int, Int, Int, Int)] = [
    (1, 1, 5, 5, 1, 3, 1, 0), (2, 3, 7, 6, 4, 3, 1, 1), (3, 2, 9, 8, 5, 3, 2, 1),
    (2, 4, 6, 7, 3, 1, 1, 0), (1, 3, 11, 10, 2, 5, 2, 2), (2, 2, 8, 9, 3, 4, 3, 0),
    (2, 3, 5, 5, 2, 5, 1, 0),
]

@Test(arguments: convCases.indices)
func conv2dForwardMatchesReferenceLoops(_ index: Int) {
    let (n, c, h, w, o, k, s, p) = convCases[index]
    var rng = SeededGenerator(seed: UInt64(100 + index))
    let x = randomTensor([n, c, h, w], &rng), weight = randomTensor([o, c, k, k], &rng)
    let bias = randomTensor([o], &rng)
    let expected = referenceConv2d(x, weight, bias, stride: s, padding: p)
    // The portable methods whatever conv2d would pick for this shape (every method:
    // Conv2dDispatchTests.swift).
    let viaGEMM = conv2d(x, weight: weight, bias: bias, stride: s, padding: p, by: panelMethod(stride: s))
    let direct = conv2d(x, weight: weight, bias: bias, stride: s, padding: p, by: .directLoops)
    #expect(viaGEMM.shape == expected.shape && direct.shape == expected.shape)
    #expect(maxAbsDifference(viaGEMM, expected) < 1e-5)
    #expect(maxAbsDifference(direct, expected) < 1e-5)
    #expect(maxAbsDifference(conv2d(x, weight: weight, bias: bias, stride: s, padding: p), expected) < 1e-5)
    #expect(maxAbsDifference(conv2d(x, weight: weight, stride: s, padding: p),
                             referenceConv2d(x, weight, nil, stride: s, padding: p)) < 1e-5)
}

@Test func conv2dOnAPhotoSizedInputTakesTheDirectPathAndMatches() {
    // Few filters on long rows (the explorer's case) go through the direct loops.
    var rng = SeededGenerator(seed: 120)
    let x = randomTensor([1, 2, 11, 131], &rng), weight = randomTensor([3, 2, 5, 5], &rng), bias = randomTensor([3], &rng)
    for (s, p) in [(1, 0), (2, 2)] {
        #expect(maxAbsDifference(conv2d(x, weight: weight, bias: bias, stride: s, padding: p),
                                 referenceConv2d(x, weight, bias, stride: s, padding: p)) < 1e-5)
    }
}

@Test func conv2dHandComputedEdgeFilter() {
    // The notebook's vertical-edge filter on a ramp: every 3x3 window sees right - left = 2 per row.
    let ramp = Tensor(shape: [1, 1, 3, 4], storage: [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3])
    let edge = Tensor(shape: [1, 1, 3, 3], storage: [-1, 0, 1, -1, 0, 1, -1, 0, 1])
    let y = conv2d(ramp, weight: edge)
    #expect(y.shape == [1, 1, 1, 2])
    #expect(y.storage == [6, 6])
}

@Test(arguments: convCases.indices)
func conv2dGradientsMatchFiniteDifferences(_ index: Int) {
    let (n, c, h, w, o, k, s, p) = convCases[index]
    var rng = SeededGenerator(seed: UInt64(200 + index))
    let x = randomTensor([n, c, h, w], &rng), weight = randomTensor([o, c, k, k], &rng)
    let bias = randomTensor([o], &rng)
    var y = Tensor.empty, scratch = Conv2dScratch()
    conv2dForward(x, weight: weight, bias: bias, stride: s, padding: p, into: &y, scratch: &scratch)
    let r = randomTensor(y.shape, &rng)
    var dx = Tensor.empty, dw = Tensor.empty, db = Tensor.empty
    conv2dBackward(input: x, weight: weight, gradOutput: r, stride: s, padding: p,
                   gradInput: &dx, gradWeight: &dw, scratch: &scratch)
    conv2dBiasBackward(gradOutput: r, into: &db)
    let h1: Float = 1e-2  // the loss is linear in each argument: no truncation error
    #expect(maxGradientError(at: x, analytic: dx, epsilon: h1) {
        weightedSum(conv2d($0, weight: weight, bias: bias, stride: s, padding: p), r) } < gradientTolerance)
    #expect(maxGradientError(at: weight, analytic: dw, epsilon: h1) {
        weightedSum(conv2d(x, weight: $0, bias: bias, stride: s, padding: p), r) } < gradientTolerance)
    #expect(maxGradientError(at: bias, analytic: db, epsilon: h1) {
        weightedSum(conv2d(x, weight: weight, bias: $0, stride: s, padding: p), r) } < gradientTolerance)
}

@Test func conv2dChunkedBatchEqualsImageByImage() {
    // 16 images of 64x64 with 16 channels and a 3x3 kernel need 16*9*4096 column entries per
    // image, so where the columns matrix is built (the weight gradient without AVX-512, the
    // portable run in .ci/run) the batch is split into chunks (conv2dColumnBudget); neither that
    // nor the per-thread image split of the direct kernels may change results.
    var rng = SeededGenerator(seed: 5)
    let x = randomTensor([16, 16, 64, 64], &rng), weight = randomTensor([4, 16, 3, 3], &rng)
    let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: 1, padding: 1)
    #expect(g.imagesPerChunk < 16)
    var y = Tensor.empty, scratch = Conv2dScratch()
    conv2dForward(x, weight: weight, bias: nil, stride: 1, padding: 1, into: &y, scratch: &scratch)
    let dy = randomTensor(y.shape, &rng)
    var dx = Tensor.empty, dw = Tensor.empty
    conv2dBackward(input: x, weight: weight, gradOutput: dy, stride: 1, padding: 1,
                   gradInput: &dx, gradWeight: &dw, scratch: &scratch)
    var dwSum = [Double](repeating: 0, count: dw.count)
    let plane = 16 * 64 * 64, outPlane = 4 * 64 * 64
    for img in 0..<16 {
        let xi = Tensor(shape: [1, 16, 64, 64], storage: Array(x.storage[img * plane..<(img + 1) * plane]))
        let dyi = Tensor(shape: [1, 4, 64, 64], storage: Array(dy.storage[img * outPlane..<(img + 1) * outPlane]))
        let yi = conv2d(xi, weight: weight, padding: 1)
        #expect(Array(y.storage[img * outPlane..<(img + 1) * outPlane]) == yi.storage)
        var dxi = Tensor.empty, dwi = Tensor.empty, s1 = Conv2dScratch()
        conv2dBackward(input: xi, weight: weight, gradOutput: dyi, stride: 1, padding: 1,
                       gradInput: &dxi, gradWeight: &dwi, scratch: &s1)
        #expect(Array(dx.storage[img * plane..<(img + 1) * plane]) == dxi.storage)
        for i in 0..<dw.count { dwSum[i] += Double(dwi.storage[i]) }
    }
    let worst = (0..<dw.count).map { abs(Double(dw.storage[$0]) - dwSum[$0]) / max(1, abs(dwSum[$0])) }.max()!
    // Each dW entry sums 65,536 Float32 products (|dW| ~ 50): rounding differs with the summation
    // order, a missing or doubled chunk would be off by ~100%.
    #expect(worst < 2e-3)
}

@Test(arguments: 0..<6)
func conv2dOnRandomShapes(_ trial: Int) {
    // Shapes drawn from a seeded generator: batch 1-3, channels 1-4, sizes 3-12, kernel 1-5,
    // stride 1-3, padding 0-2 (redrawn until the kernel fits).
    var rng = SeededGenerator(seed: UInt64(900 + trial))
    func draw(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    var shape: (n: Int, c: Int, h: Int, w: Int, o: Int, k: Int, s: Int, p: Int)
    repeat {
        shape = (draw(1...3), draw(1...4), draw(3...12), draw(3...12), draw(1...4), draw(1...5), draw(1...3), draw(0...2))
    } while shape.h + 2 * shape.p < shape.k || shape.w + 2 * shape.p < shape.k
    let (n, c, h, w, o, k, s, p) = shape
    let x = randomTensor([n, c, h, w], &rng), weight = randomTensor([o, c, k, k], &rng), bias = randomTensor([o], &rng)
    let expected = referenceConv2d(x, weight, bias, stride: s, padding: p)
    let viaGEMM = conv2d(x, weight: weight, bias: bias, stride: s, padding: p, by: panelMethod(stride: s))
    let direct = conv2d(x, weight: weight, bias: bias, stride: s, padding: p, by: .directLoops)
    var scratch = Conv2dScratch()
    #expect(maxAbsDifference(viaGEMM, expected) < 1e-5, "\(shape)")
    #expect(maxAbsDifference(direct, expected) < 1e-5, "\(shape)")
    let r = randomTensor(expected.shape, &rng)
    var dx = Tensor.empty, dw = Tensor.empty
    conv2dBackward(input: x, weight: weight, gradOutput: r, stride: s, padding: p,
                   gradInput: &dx, gradWeight: &dw, scratch: &scratch)
    #expect(maxGradientError(at: x, analytic: dx, epsilon: 1e-2) {
        weightedSum(conv2d($0, weight: weight, bias: bias, stride: s, padding: p), r) } < gradientTolerance, "\(shape)")
    #expect(maxGradientError(at: weight, analytic: dw, epsilon: 1e-2) {
        weightedSum(conv2d(x, weight: $0, bias: bias, stride: s, padding: p), r) } < gradientTolerance, "\(shape)")
}

/// Gradients of sum(r * conv2d(x, w)) straight from the definition, in Float64.
func referenceConv2dGradients(_ x: Tensor, _ w: Tensor, _ r: Tensor, stride s: Int, padding p: Int) -> (dx: Tensor, dw: Tensor) {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
    let (ho, wo) = (r.shape[2], r.shape[3])
    let xs = x.storage, ws = w.storage, rs = r.storage
    var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: w.count)
    for img in 0..<n { for oc in 0..<o { for oy in 0..<ho { for ox in 0..<wo {
        let g = Double(rs[((img * o + oc) * ho + oy) * wo + ox])
        for ic in 0..<c { for i in 0..<kh { for j in 0..<kw {
            let iy = oy * s - p + i, ix = ox * s - p + j
            guard iy >= 0 && iy < h && ix >= 0 && ix < wd else { continue }
            let xi = ((img * c + ic) * h + iy) * wd + ix, wi = ((oc * c + ic) * kh + i) * kw + j
            dx[xi] += g * Double(ws[wi])
            dw[wi] += g * Double(xs[xi])
        }}}
    }}}}
    return (Tensor(shape: x.shape, storage: dx.map { Float($0) }), Tensor(shape: w.shape, storage: dw.map { Float($0) }))
}

/// (N, C, H, W, O, k, padding), stride 1: the channel counts of the AVX-512 kernels' two tile
/// widths (16 and 32 channels) with a ragged last block, 3x3 and 5x5 (their weight-gradient
/// kernels) and 1x1 and 7x7 (the other weight-gradient path), padding 0 to 3, output widths
/// that wide-row tiles cover and widths that row-aligned tiles divide.
let wideConvCases: [(Int, Int, Int, Int, Int, Int, Int)] = [
    (3, 5, 9, 7, 32, 3, 1), (2, 4, 6, 6, 48, 3, 1), (2, 3, 10, 9, 64, 3, 0), (2, 6, 12, 11, 16, 5, 2),
    (1, 2, 8, 8, 17, 5, 0), (2, 3, 7, 7, 40, 1, 0), (2, 3, 9, 9, 33, 7, 3), (5, 16, 8, 8, 128, 3, 1),
    // Output widths the row-aligned tiles divide (24, 28 for the input gradient, 16, 32).
    (1, 3, 28, 28, 16, 5, 0), (2, 4, 16, 16, 16, 3, 1), (2, 4, 32, 32, 32, 3, 1),
]

@Test(arguments: wideConvCases.indices)
func conv2dWithManyChannelsMatchesTheDefinition(_ index: Int) {
    let (n, c, h, w, o, k, p) = wideConvCases[index]
    var rng = SeededGenerator(seed: UInt64(1300 + index))
    let x = randomTensor([n, c, h, w], &rng), weight = randomTensor([o, c, k, k], &rng), bias = randomTensor([o], &rng)
    let expected = referenceConv2d(x, weight, bias, stride: 1, padding: p)
    var y = Tensor.empty, scratch = Conv2dScratch()
    conv2dForward(x, weight: weight, bias: bias, stride: 1, padding: p, into: &y, scratch: &scratch)
    let viaPanels = conv2d(x, weight: weight, bias: bias, stride: 1, padding: p, by: .paddedPanels)
    #expect(y.shape == expected.shape && viaPanels.shape == expected.shape)
    #expect(maxAbsDifference(y, expected) < 1e-4)
    #expect(maxAbsDifference(viaPanels, expected) < 1e-4)
    let r = randomTensor(expected.shape, &rng)
    let (dxExpected, dwExpected) = referenceConv2dGradients(x, weight, r, stride: 1, padding: p)
    var dx = Tensor.empty, dw = Tensor.empty
    conv2dBackward(input: x, weight: weight, gradOutput: r, stride: 1, padding: p,
                   gradInput: &dx, gradWeight: &dw, scratch: &scratch)
    // dx against the scale of its sums (Conv2dWinogradTests.swift's bound): where the input
    // gradient takes Winograd F(4x4) (AVX2 alone: 128 -> 16 channels on 8x8 planes) its error
    // grows with sum |w||dy| over 1,152 terms, 2.6e-4 absolute there, within 2e-5 of that sum.
    let (dxScale, _) = referenceConv2dGradients(absolute(x), absolute(weight), absolute(r), stride: 1, padding: p)
    #expect(scaledError(dx, dxExpected, scale: dxScale) < winogradRelativeTolerance)
    #expect(maxAbsDifference(dw, dwExpected) < 1e-4)
}
