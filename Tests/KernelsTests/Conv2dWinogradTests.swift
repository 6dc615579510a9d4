import AllocationCounter
import Testing
import Kernels

// The Winograd paths (Conv2dWinograd.swift) take 3x3 stride-1 padding-1 convolutions with at
// least 8 input channels, forward and (through the flipped-kernel convolution) the input
// gradient: F(2x2) and F(4x4) on AVX-512 CPUs, F(4x4) on AVX2 CPUs without AVX-512
// (winograd_avx2.c; CI runs these tests with FEATUREMAPS_CPU=avx2 too). These shapes reach them
// there and check the results against the plain loops of Conv2dTests.swift on every machine.
//
// Tolerance: the error of each output is measured against the scale of its sum,
// S = |b| + sum |w| |x| over the taps (the reference on absolute values), which bounds what any
// Float32 summation order can be held to (a few 1e-7 * S for these sums). Winograd's transforms
// add and subtract values around the products: F(2x2, 3x3) (up to 4 input values, weights
// scaled by 1/2) measured at most 2.1e-7 * S on these shapes; F(4x4, 3x3), which the planes 32
// and more wide (or 16 with 64 channels) take, scales by up to 8 and by 1/6 and 1/24, which are
// not exact in binary: at most 3.4e-6 * S. The bound 2e-5 * S leaves about 6x margin while any
// wrong tap, transform coefficient or tile edge is an O(S) error.
let winogradRelativeTolerance: Float = 2e-5

/// (N, C, H, W, O): odd and tiny planes (a partial last tile row and column, for 2x2 and for
/// 4x4 tiles: 35x38, 17x18), 8 (the fewest the path takes), 16, 17, 32, 48, 64 and 128 channels, outputs that are no multiple of 8, planes wider than 32 (two vector chunks
/// per tile row), photo-wide rows, and the VGG net's shapes at a smaller batch.
let winogradCases: [(Int, Int, Int, Int, Int)] = [
    (1, 16, 7, 9, 16), (2, 17, 5, 5, 17), (3, 32, 1, 1, 32), (5, 48, 9, 7, 20), (2, 16, 3, 4, 128),
    (1, 128, 8, 8, 128), (4, 32, 16, 16, 64), (2, 32, 32, 32, 32), (2, 64, 8, 8, 128), (1, 16, 35, 38, 9),
    (2, 8, 6, 5, 12), (2, 64, 17, 18, 24),
    // airbench's odd planes, whose outputs are stored 16 tiles (several tile rows) at a time.
    (3, 32, 15, 15, 24), (6, 16, 7, 7, 16),
    // Photo-wide rows, where the row buffers hold the fewest tile rows per segment: 512 (the
    // widest the path takes), 301 (odd, partial last tiles) and 513 (past it: the vector direct
    // kernel). 9 filters, as 8 or fewer on rows this long take the direct loops.
    (1, 8, 6, 512, 9), (1, 8, 7, 301, 9), (1, 8, 3, 513, 9),
]

/// The largest |y - expected| / scale over all outputs (scale = the absolute-value reference,
/// floored at a tiny value so an all-zero window compares absolutely).
func scaledError(_ y: Tensor, _ expected: Tensor, scale: Tensor) -> Float {
    precondition(y.shape == expected.shape && scale.shape == expected.shape)
    var worst: Float = 0
    for i in 0..<y.count {
        worst = max(worst, abs(y.storage[i] - expected.storage[i]) / max(scale.storage[i], 1e-20))
    }
    return worst
}

func absolute(_ t: Tensor) -> Tensor { Tensor(shape: t.shape, storage: t.storage.map { abs($0) }) }

/// One backward pass of a 3x3 stride-1 padding-1 convolution on random x, weight and dy of
/// [n,c,h,w] / [o,c,3,3] / [n,o,h,w], with the plain-loop gradients to compare against.
struct Conv3x3BackwardCase {
    let x: Tensor, weight: Tensor, gradOutput: Tensor
    let dxExpected: Tensor, dwExpected: Tensor
    var dx = Tensor.empty, dw = Tensor.empty, scratch = Conv2dScratch()

    init(_ shape: (Int, Int, Int, Int, Int), seed: UInt64) {
        let (n, c, h, w, o) = shape
        var rng = SeededGenerator(seed: seed)
        x = randomTensor([n, c, h, w], &rng)
        weight = randomTensor([o, c, 3, 3], &rng)
        gradOutput = randomTensor([n, o, h, w], &rng)
        (dxExpected, dwExpected) = referenceConv2dGradients(x, weight, gradOutput, stride: 1, padding: 1)
        conv2dBackward(input: x, weight: weight, gradOutput: gradOutput, stride: 1, padding: 1,
                       gradInput: &dx, gradWeight: &dw, scratch: &scratch)
    }
}

@Test(arguments: winogradCases.indices)
func winogradForwardMatchesReferenceLoops(_ index: Int) {
    let (n, c, h, w, o) = winogradCases[index]
    var rng = SeededGenerator(seed: UInt64(4200 + index))
    let x = randomTensor([n, c, h, w], &rng), weight = randomTensor([o, c, 3, 3], &rng)
    let bias = randomTensor([o], &rng)
    for b in [bias, nil] {
        let expected = referenceConv2d(x, weight, b, stride: 1, padding: 1)
        let scale = referenceConv2d(absolute(x), absolute(weight), b.map(absolute), stride: 1, padding: 1)
        var y = Tensor.empty, scratch = Conv2dScratch()
        conv2dForward(x, weight: weight, bias: b, stride: 1, padding: 1, into: &y, scratch: &scratch)
        // Every case takes Winograd where the CPU allows it (F(2x2) or F(4x4) with AVX-512,
        // F(4x4) with AVX2 alone), but the row past 512.
        let cpu = CPUFeatures.enabled
        let tookWinograd = scratch.lastForward == .winogradF2 || scratch.lastForward == .winogradF4
        #expect(tookWinograd == ((cpu.avx512 || cpu.avx2) && w <= 512), "case \(index): \(String(describing: scratch.lastForward))")
        if !cpu.avx512 && cpu.avx2 && w <= 512 { #expect(scratch.lastForward == .winogradF4) }
        #expect(y.shape == expected.shape)
        #expect(scaledError(y, expected, scale: scale) < winogradRelativeTolerance, "case \(index), bias \(b != nil)")
    }
}

@Test(arguments: winogradCases.indices)
func winogradInputGradientMatchesReferenceLoops(_ index: Int) {
    // dx is a convolution of dy (O channels) with the flipped kernel: Winograd when O >= 16.
    let t = Conv3x3BackwardCase(winogradCases[index], seed: UInt64(4300 + index))
    // Scale of dx[n,c,iy,ix] = sum over o and taps of |w| |dy|: the same gradient of |w| and |dy|.
    let (dxScale, _) = referenceConv2dGradients(absolute(t.x), absolute(t.weight), absolute(t.gradOutput),
                                                stride: 1, padding: 1)
    #expect(scaledError(t.dx, t.dxExpected, scale: dxScale) < winogradRelativeTolerance, "case \(index)")
    #expect(maxAbsDifference(t.dw, t.dwExpected) < 1e-3)
}

@Test func winogradScratchReuseAcrossShapesGivesTheSameResults() {
    // One scratch through a large then a small shape and back: stale transformed tiles of the
    // larger call must not leak into the smaller one, and repeating a call is bit-identical.
    var rng = SeededGenerator(seed: 4400)
    let big = randomTensor([3, 48, 16, 16], &rng), bigW = randomTensor([64, 48, 3, 3], &rng)
    let small = randomTensor([2, 16, 5, 3], &rng), smallW = randomTensor([24, 16, 3, 3], &rng)
    var scratch = Conv2dScratch(), first = Tensor.empty, again = Tensor.empty, y = Tensor.empty
    conv2dForward(small, weight: smallW, bias: nil, stride: 1, padding: 1, into: &first, scratch: &scratch)
    conv2dForward(big, weight: bigW, bias: nil, stride: 1, padding: 1, into: &y, scratch: &scratch)
    conv2dForward(small, weight: smallW, bias: nil, stride: 1, padding: 1, into: &again, scratch: &scratch)
    #expect(first.storage == again.storage)
    let scale = referenceConv2d(absolute(small), absolute(smallW), nil, stride: 1, padding: 1)
    #expect(scaledError(again, referenceConv2d(small, smallW, nil, stride: 1, padding: 1), scale: scale)
            < winogradRelativeTolerance)
}

@Test func winogradConvolutionStepsAreRepeatable() { winogradConvolutionSteps(countAllocations: false) }

@Test(.enabled(if: allocation_counter_installed() == 1, allocationCounterAbsence))
func winogradConvolutionStepsDoNotAllocate() { winogradConvolutionSteps(countAllocations: true) }

private func winogradConvolutionSteps(countAllocations: Bool) {
    // The training-step tests' small network has 4 channels (no Winograd layer), so the
    // no-allocation and repeatability promises are checked here on a Winograd shape: forward
    // and backward with one scratch, as a Conv2d layer runs them.
    var rng = SeededGenerator(seed: 4500)
    let x = randomTensor([3, 16, 6, 10], &rng), weight = randomTensor([24, 16, 3, 3], &rng)
    let bias = randomTensor([24], &rng), r = randomTensor([3, 24, 6, 10], &rng)
    var scratch = Conv2dScratch(), y = Tensor.empty, dx = Tensor.empty, dw = Tensor.empty
    func step() {
        conv2dForward(x, weight: weight, bias: bias, stride: 1, padding: 1, into: &y, scratch: &scratch)
        conv2dBackward(input: x, weight: weight, gradOutput: r, stride: 1, padding: 1,
                       gradInput: &dx, gradWeight: &dw, scratch: &scratch)
    }
    step()
    let first = (y.storage.map(\.bitPattern), dx.storage.map(\.bitPattern))
    step()
    #expect(y.storage.map(\.bitPattern) == first.0 && dx.storage.map(\.bitPattern) == first.1)
    guard countAllocations else { return }
    // From inside a parallelFor chunk (the kernels' own parallelFor then runs inline, as in
    // TrainingStepTests.swift).
    var fewest = UInt64.max
    parallelFor(2) { chunk in
        guard chunk.lowerBound == 0 else { return }
        fewest = fewestAllocations(seconds: 10) { step() }
    }
    #expect(fewest == 0, "a steady-state Winograd step allocated at least \(fewest) times")
}
