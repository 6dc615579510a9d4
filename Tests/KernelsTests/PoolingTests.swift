import Testing
import Kernels

/// Distinct values 0.01 apart in random order, so a finite-difference step of 1e-3 never
/// changes which element of a window is the maximum.
func shuffledDistinct(_ shape: [Int], _ rng: inout SeededGenerator) -> Tensor {
    let count = shape.reduce(1, *)
    var values = (0..<count).map { Float($0) * 0.01 - Float(count) * 0.005 }
    values.shuffle(using: &rng)
    return Tensor(shape: shape, storage: values)
}

/// (N, C, H, W, k, s): 2x2/2 with odd sizes (the last row/column is dropped), overlapping 3x3/2, 3x3/1,
/// 3x3/3 on a 3x3 plane (airbench's head).
let poolCases: [(Int, Int, Int, Int, Int, Int)] = [
    (2, 3, 6, 6, 2, 2), (1, 2, 7, 9, 2, 2), (2, 2, 7, 7, 3, 2), (1, 3, 5, 6, 3, 1), (3, 1, 4, 5, 1, 1),
    (2, 4, 3, 3, 3, 3),
    (1, 2, 5, 37, 2, 2),  // 18 windows a row: the 2x2 path's 8-wide, 8-wide, then scalar steps
    (1, 1, 8, 24, 2, 2),  // 12 windows a row: 8-wide, then a 4-window tail
    (2, 3, 15, 15, 2, 2), (2, 3, 7, 7, 2, 2),  // airbench's odd planes: 7 and 3 windows a row, one tail step each
    (1, 2, 6, 14, 2, 2),  // even height: the last plane's last row pair would read past the tensor if loaded whole
]

@Test(arguments: poolCases.indices)
func maxPoolForwardMatchesReferenceLoops(_ index: Int) {
    let (n, c, h, w, k, s) = poolCases[index]
    var rng = SeededGenerator(seed: UInt64(300 + index))
    let x = randomTensor([n, c, h, w], &rng)
    let y = maxPool2d(x, kernelSize: k, stride: s)
    let ho = (h - k) / s + 1, wo = (w - k) / s + 1
    #expect(y.shape == [n, c, ho, wo])
    for img in 0..<n { for ch in 0..<c { for oy in 0..<ho { for ox in 0..<wo {
        var m = -Float.infinity
        for i in 0..<k { for j in 0..<k { m = max(m, x[img, ch, oy * s + i, ox * s + j]) } }
        #expect(y[img, ch, oy, ox] == m)
    }}}}
}

@Test(arguments: poolCases.indices)
func maxPoolGradientMatchesFiniteDifferences(_ index: Int) {
    let (n, c, h, w, k, s) = poolCases[index]
    var rng = SeededGenerator(seed: UInt64(400 + index))
    let x = shuffledDistinct([n, c, h, w], &rng)
    var y = Tensor.empty, argmax: [Int32] = []
    maxPool2dForward(x, kernelSize: k, stride: s, into: &y, argmax: &argmax)
    let r = randomTensor(y.shape, &rng)
    var dx = Tensor.empty, dxGivenWindow = Tensor(shape: x.shape, repeating: .nan)
    maxPool2dBackward(gradOutput: r, argmax: argmax, inputShape: x.shape, into: &dx)
    maxPool2dBackward(gradOutput: r, argmax: argmax, inputShape: x.shape, kernelSize: k, stride: s, into: &dxGivenWindow)
    #expect(maxGradientError(at: x, analytic: dx, epsilon: 1e-3) {
        weightedSum(maxPool2d($0, kernelSize: k, stride: s), r) } < gradientTolerance)
    #expect(dxGivenWindow.storage.map(\.bitPattern) == dx.storage.map(\.bitPattern))
}

/// The 2x2 stride-2 path against the rule written out: the first maximum in row-major window
/// order wins ties, and the first NaN wins over numbers; on planes whose rows take the 8-wide
/// steps and tails of 6, 7 and 3 windows (AVX-512: 16-wide steps, tails of 6, 7, 3, 15 and 16
/// windows), with few distinct values (many ties) and some NaNs; by the Swift code and, where the
/// CPU has them, by its AVX2 and AVX-512 C forms.
@Test(arguments: [(7, 45), (15, 15), (7, 7), (6, 14), (5, 31), (4, 64)])
func maxPool2x2KeepsTheFirstMaximumAndTheFirstNaN(_ size: (Int, Int)) {
    let detected = CPUFeatures.detected
    let cpus = [CPUFeatures.portable]
        + (detected.avx2 ? [CPUFeatures(avx2: true)] : [])
        + (detected.avx512 ? [CPUFeatures(avx2: true, avx512: true)] : [])
    for cpu in cpus { checkMaxPool2x2(size, cpu: cpu) }
}

private func checkMaxPool2x2(_ size: (Int, Int), cpu: CPUFeatures) {
    let (n, c, h, w) = (2, 3, size.0, size.1)
    var rng = SeededGenerator(seed: 77)
    let values = (0..<(n * c * h * w)).map { _ -> Float in
        let level = Int.random(in: 0..<8, using: &rng)
        return level == 0 ? .nan : Float(level % 3)
    }
    let x = Tensor(shape: [n, c, h, w], storage: values)
    var y = Tensor.empty, argmax: [Int32] = []
    maxPool2dForward(x, kernelSize: 2, stride: 2, into: &y, argmax: &argmax, cpu: cpu)
    let ho = h / 2, wo = w / 2
    #expect(y.shape == [n, c, ho, wo])
    for plane in 0..<(n * c) { for oy in 0..<ho { for ox in 0..<wo {
        var best = 2 * oy * w + 2 * ox
        for p in [2 * oy * w + 2 * ox + 1, (2 * oy + 1) * w + 2 * ox, (2 * oy + 1) * w + 2 * ox + 1] {
            let value = values[plane * h * w + p], current = values[plane * h * w + best]
            if value > current || (value.isNaN && !current.isNaN) { best = p }
        }
        let o = plane * ho * wo + oy * wo + ox
        #expect(argmax[o] == Int32(best), "\(cpu)")
        #expect(y.storage[o].bitPattern == values[plane * h * w + best].bitPattern, "\(cpu)")
    }}}
}

/// The 2x2 stride-2 backward's AVX-512 form against the Swift code, bit for bit: odd and even
/// sizes (the column and row outside every window), rows of 3, 7, 15, 16 and 22 windows (tails
/// and a full 16-wide step), with and without a fused ReLU's output. Skipped without AVX-512.
@Test(.enabled(if: CPUFeatures.detected.avx512, "the CPU has no AVX-512: only the Swift form runs here"),
      arguments: [(7, 7), (15, 15), (31, 31), (6, 32), (5, 45)])
func maxPool2x2BackwardAVX512MatchesTheSwiftCode(_ size: (Int, Int)) {
    let (n, c, h, w) = (2, 3, size.0, size.1)
    var rng = SeededGenerator(seed: 78)
    let x = randomTensor([n, c, h, w], &rng)
    var y = Tensor.empty, argmax: [Int32] = []
    maxPool2dForward(x, kernelSize: 2, stride: 2, into: &y, argmax: &argmax, cpu: .portable)
    let dy = randomTensor(y.shape, &rng)
    let reluOutput = randomTensor(y.shape, &rng)  // about half positive
    for relu in [nil, reluOutput] {
        var swift = Tensor(shape: x.shape, repeating: .nan), c512 = Tensor(shape: x.shape, repeating: .nan)
        maxPool2dBackward(gradOutput: dy, argmax: argmax, inputShape: x.shape, kernelSize: 2, stride: 2,
                          reluOutput: relu, into: &swift, cpu: .portable)
        maxPool2dBackward(gradOutput: dy, argmax: argmax, inputShape: x.shape, kernelSize: 2, stride: 2,
                          reluOutput: relu, into: &c512, cpu: CPUFeatures(avx2: true, avx512: true))
        #expect(c512.storage.map(\.bitPattern) == swift.storage.map(\.bitPattern), "relu: \(relu != nil)")
        #expect(!c512.storage.contains { $0.isNaN }, "every pixel written")
    }
}

/// A window covering its whole plane (airbench's final 3x3 pool): the AVX-512 form, sixteen
/// planes a step (and a partial last step), gives the Swift code's values and arg-maxes (the first
/// maximum, the first NaN) with and without the fused ReLU, on few distinct values (many ties)
/// and some NaNs. Skipped without AVX-512.
@Test(.enabled(if: CPUFeatures.detected.avx512, "the CPU has no AVX-512: only the Swift form runs here"),
      arguments: [(3, 37), (2, 6), (4, 16), (3, 1)])
func maxPoolOverWholePlanesAVX512MatchesTheSwiftCode(_ k: Int, _ planes: Int) {
    var rng = SeededGenerator(seed: 79)
    let values = (0..<(planes * k * k)).map { _ -> Float in
        let level = Int.random(in: 0..<8, using: &rng)
        return level == 0 ? .nan : Float(level % 3) - 1
    }
    let x = Tensor(shape: [planes, 1, k, k], storage: values)
    for relu in [false, true] {
        var swiftY = Tensor.empty, swiftArg: [Int32] = [], cY = Tensor.empty, cArg: [Int32] = []
        maxPool2dForward(x, kernelSize: k, stride: k, applyingReLU: relu, into: &swiftY, argmax: &swiftArg, cpu: .portable)
        maxPool2dForward(x, kernelSize: k, stride: k, applyingReLU: relu, into: &cY, argmax: &cArg,
                         cpu: CPUFeatures(avx2: true, avx512: true))
        #expect(cY.shape == [planes, 1, 1, 1])
        #expect(cArg == swiftArg, "relu: \(relu)")
        #expect(cY.storage.map(\.bitPattern) == swiftY.storage.map(\.bitPattern), "relu: \(relu)")
    }
}

@Test func maxPoolHandComputedAndNaNPropagates() {
    let x = Tensor(shape: [1, 1, 3, 5], storage: [1, 5, 2, 2, 9,  3, 4, 8, 1, 9,  7, 7, 7, 7, 7])
    #expect(maxPool2d(x, kernelSize: 2, stride: 2).storage == [5, 8])
    let withNaN = Tensor(shape: [1, 1, 2, 2], storage: [1, .nan, 3, 2])
    #expect(maxPool2d(withNaN, kernelSize: 2, stride: 2).storage[0].isNaN)
}

@Test(arguments: poolCases.indices)
func avgPoolForwardAndGradient(_ index: Int) {
    let (n, c, h, w, k, s) = poolCases[index]
    var rng = SeededGenerator(seed: UInt64(700 + index))
    let x = randomTensor([n, c, h, w], &rng)
    let y = avgPool2d(x, kernelSize: k, stride: s)
    let ho = (h - k) / s + 1, wo = (w - k) / s + 1
    #expect(y.shape == [n, c, ho, wo])
    for img in 0..<n { for ch in 0..<c { for oy in 0..<ho { for ox in 0..<wo {
        var sum: Double = 0
        for i in 0..<k { for j in 0..<k { sum += Double(x[img, ch, oy * s + i, ox * s + j]) } }
        #expect(abs(Double(y[img, ch, oy, ox]) - sum / Double(k * k)) < 1e-6)
    }}}}
    let r = randomTensor(y.shape, &rng)
    var dx = Tensor.empty
    avgPool2dBackward(gradOutput: r, kernelSize: k, stride: s, inputShape: x.shape, into: &dx)
    #expect(maxGradientError(at: x, analytic: dx, epsilon: 1e-2) {
        weightedSum(avgPool2d($0, kernelSize: k, stride: s), r) } < gradientTolerance)
}

@Test func globalAvgPoolForwardAndGradient() {
    var rng = SeededGenerator(seed: 8)
    let x = randomTensor([3, 4, 5, 7], &rng)
    let y = globalAvgPool2d(x)
    #expect(y.shape == [3, 4])
    for img in 0..<3 { for ch in 0..<4 {
        var sum: Double = 0
        for i in 0..<5 { for j in 0..<7 { sum += Double(x[img, ch, i, j]) } }
        #expect(abs(Double(y[img, ch]) - sum / 35) < 1e-6)
    }}
    let r = randomTensor(y.shape, &rng)
    var dx = Tensor.empty
    globalAvgPool2dBackward(gradOutput: r, inputShape: x.shape, into: &dx)
    #expect(maxGradientError(at: x, analytic: dx, epsilon: 1e-2) { weightedSum(globalAvgPool2d($0), r) } < gradientTolerance)
}

@Test(arguments: 0..<4)
func poolingOnRandomShapes(_ trial: Int) {
    // Batch 1-3, channels 1-3, sizes 2-11, window 1-4, stride 1-3 (redrawn until the window fits).
    var rng = SeededGenerator(seed: UInt64(950 + trial))
    func draw(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    var shape: (n: Int, c: Int, h: Int, w: Int, k: Int, s: Int)
    repeat {
        shape = (draw(1...3), draw(1...3), draw(2...11), draw(2...11), draw(1...4), draw(1...3))
    } while shape.h < shape.k || shape.w < shape.k
    let (n, c, h, w, k, s) = shape
    let x = shuffledDistinct([n, c, h, w], &rng)
    var y = Tensor.empty, argmax: [Int32] = []
    maxPool2dForward(x, kernelSize: k, stride: s, into: &y, argmax: &argmax)
    #expect(y.shape == [n, c, (h - k) / s + 1, (w - k) / s + 1], "\(shape)")
    let r = randomTensor(y.shape, &rng)
    var dxMax = Tensor.empty, dxAvg = Tensor.empty
    maxPool2dBackward(gradOutput: r, argmax: argmax, inputShape: x.shape, into: &dxMax)
    avgPool2dBackward(gradOutput: r, kernelSize: k, stride: s, inputShape: x.shape, into: &dxAvg)
    #expect(maxGradientError(at: x, analytic: dxMax, epsilon: 1e-3) {
        weightedSum(maxPool2d($0, kernelSize: k, stride: s), r) } < gradientTolerance, "\(shape)")
    #expect(maxGradientError(at: x, analytic: dxAvg, epsilon: 1e-2) {
        weightedSum(avgPool2d($0, kernelSize: k, stride: s), r) } < gradientTolerance, "\(shape)")
}

/// A Sequential runs a ReLU and the MaxPool2d after it as one step (the ReLU on the pooled map):
/// the same output values (a zero's sign may differ) and the same gradient bits as the two
/// layers called in turn; on the 2x2 path's vector widths and on overlapping 3x3/2 windows.
@Test(arguments: [(2, 2, 6, 37), (3, 2, 7, 7)])
func sequentialReLUMaxPoolEqualsTheLayersCalledInTurn(_ window: (Int, Int, Int, Int)) {
    let (k, s, h, w) = window
    var rng = SeededGenerator(seed: 500 + UInt64(k))
    let x = Tensor.uniform(shape: [2, 3, h, w], in: -1.6..<0.4, using: &rng)  // mostly negative: some all-negative windows
    let relu = ReLU(), pool = MaxPool2d(kernelSize: k, stride: s)
    let y = pool(relu(x))
    let dy = randomTensor(y.shape, &rng)
    let dx = relu.backward(pool.backward(dy))

    let net = Sequential { ReLU(); MaxPool2d(kernelSize: k, stride: s) }
    let yNet = net(x)
    #expect(yNet.shape == y.shape && yNet.storage == y.storage)
    #expect(y.storage.contains(0) && y.storage.contains { $0 > 0 })  // some windows were all negative
    #expect(net.backward(dy).storage.map(\.bitPattern) == dx.storage.map(\.bitPattern))
}
