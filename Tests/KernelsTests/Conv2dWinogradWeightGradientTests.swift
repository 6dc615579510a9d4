import AllocationCounter
import Foundation
import Kernels
import Testing

// The weight gradient of 3x3, stride-1, padding-1 convolutions with at least 16 input and output
// channels and C * O >= 512 runs by Winograd on AVX-512 CPUs (Conv2dWinogradWeightGradient.swift):
// F(4x4, 3x3) on planes of at least 3x3, F(2x2, 3x3) on smaller ones; on AVX2 CPUs without AVX-512
// F(4x4) on planes of at least 3x3 (CI runs these tests with FEATUREMAPS_CPU=avx2 too); elsewhere, and for the
// 16 -> 16 shape below, the direct or GEMM path runs, so the first test holds on every machine.
//
// Tolerance: Winograd sums differently from the definition. F(2x2): the input transform adds and
// subtracts up to 4 values per position, the gradient's lift up to 4, the fold back to 3x3
// up to 9 of the 16 positions with factors 1/2 and 1/4, so each product carries a few more roundings
// than x*dy, and the positions' partial sums are larger than the result they cancel down to.
// Measured on these shapes: at most 6.5e-7 of the gradient's largest entry (the portable GEMM
// path, FEATUREMAPS_CPU=portable, is off by up to 5.7e-7 of it on the same shapes). The
// bound, 1e-5 of the largest entry, leaves room for other CPUs and longer sums and is still
// far below what a wrong tap, sign or dropped edge tile gives (errors of order 1e-1 of it).
// F(4x4): 6x6 input tiles whose transform weighs values by up to 5 per pass, a lift A dY A^T by
// up to 8 per pass, and a fold with factors from 1/24 to 1, so its partial sums are larger
// against the result still. Measured on these shapes (Xeon 6/207, with the tile floor,
// `winogradWeightGradientMethodsMatchTheDefinition`): 1.3e-7 to 3.9e-6 of the largest entry,
// 1.06e-5 on the 1031-wide row (the longest sums); the bound is 1e-4 of it. F(2x2) forced on
// the same shapes with the tile floor: 6.3e-8 to 1.6e-6, within its 1e-5.

/// The bound above for a weight gradient computed by `method` (nil: not Winograd), as a fraction
/// of the gradient's largest entry.
private func weightGradientTolerance(_ method: ConvWeightGradientMethod?) -> Float {
    method == .winogradF4 ? 1e-4 : 1e-5
}

/// (N, C, H, W, O): odd sizes (partial last tile row and column), tiny images (1x1, 3x3: a
/// single tile mostly outside the image), channel counts that fill 1 to 8 vectors and ragged
/// ones (17, 48), batches 1 to 5.
let winogradWeightGradientCases: [(Int, Int, Int, Int, Int)] = [
    (1, 16, 7, 9, 16), (2, 17, 5, 5, 32), (3, 32, 1, 1, 17), (4, 48, 3, 3, 48),
    (5, 16, 7, 9, 128), (2, 128, 8, 8, 128), (1, 32, 32, 32, 32), (3, 64, 9, 7, 17),
    // A row of tiles larger than one 512 KiB block of transformed tiles.
    (1, 16, 5, 1031, 32),
    // airbench's 15-wide rows (a whole and a masked 8-column block each row when transposed).
    (2, 24, 15, 15, 64),
]

@Test(arguments: winogradWeightGradientCases.indices)
func winogradWeightGradientMatchesTheDefinition(_ index: Int) {
    let (n, c, h, w, o) = winogradWeightGradientCases[index]
    var t = Conv3x3BackwardCase((n, c, h, w, o), seed: UInt64(4100 + index))
    // Every case but 16 -> 16 (C * O < 512) takes the Winograd weight gradient where the CPU
    // allows it: with AVX-512 F(4x4) on planes of at least 3x3, F(2x2) on the 1x1 one; with AVX2
    // alone F(4x4) on planes of at least 3x3, im2col on the 1x1 one.
    let cpu = CPUFeatures.enabled, ran = t.scratch.lastWeightGradient
    let expected: ConvWeightGradientMethod? = c * o < 512 ? nil
        : cpu.avx512 ? (min(h, w) >= 3 ? .winogradF4 : .winogradF2)
        : cpu.avx2 && min(h, w) >= 3 ? .winogradF4 : nil
    if let expected {
        #expect(ran == expected, "case \(index)")
    } else {
        #expect(ran != .winogradF2 && ran != .winogradF4, "case \(index)")
    }
    let largest = t.dwExpected.storage.map { abs($0) }.max() ?? 0
    #expect(largest > 0)
    #expect(t.dw.shape == t.dwExpected.shape)
    #expect(maxAbsDifference(t.dw, t.dwExpected) <= weightGradientTolerance(t.scratch.lastWeightGradient) * largest)
    // dx runs through the forward Winograd path, F(4x4, 3x3) on the 32-wide plane (error bound
    // in Conv2dWinogradTests.swift): 1.0e-4 measured there, so 5e-4.
    #expect(maxAbsDifference(t.dx, t.dxExpected) < 5e-4)
    // Scratch reused by a second, different shape and then this one again gives the same result.
    var rng = SeededGenerator(seed: UInt64(5100 + index))
    var other = Tensor.empty, again = Tensor.empty
    let x2 = randomTensor([1, c, h + 2, w + 1], &rng), r2 = randomTensor([1, o, h + 2, w + 1], &rng)
    conv2dBackward(input: x2, weight: t.weight, gradOutput: r2, stride: 1, padding: 1,
                   gradInput: &t.dx, gradWeight: &other, computeGradInput: false, scratch: &t.scratch)
    conv2dBackward(input: t.x, weight: t.weight, gradOutput: t.gradOutput, stride: 1, padding: 1,
                   gradInput: &t.dx, gradWeight: &again, computeGradInput: false, scratch: &t.scratch)
    #expect(again.storage == t.dw.storage)
}

/// Random x [N,C,H,W], weight [O,C,3,3] and dy [N,O,H,W] for case `index`, from `seed + index`.
private func weightGradientOperands(_ index: Int, seed: UInt64) -> (x: Tensor, weight: Tensor, dy: Tensor) {
    let (n, c, h, w, o) = winogradWeightGradientCases[index]
    var rng = SeededGenerator(seed: seed + UInt64(index))
    let x = randomTensor([n, c, h, w], &rng), weight = randomTensor([o, c, 3, 3], &rng)
    return (x, weight, randomTensor([n, o, h, w], &rng))
}

/// Each Winograd weight gradient, forced, on every case (the rules above choose F(2x2) only on
/// small planes, so this is where it runs on the others).
@Test(.enabled(if: CPUFeatures.enabled.avx512 || CPUFeatures.enabled.avx2,
               "the Winograd weight gradients need AVX-512 (F(2x2), F(4x4)) or AVX2 (F(4x4)), which this CPU (or FEATUREMAPS_CPU) lacks"),
      arguments: winogradWeightGradientCases.indices)
func winogradWeightGradientMethodsMatchTheDefinition(_ index: Int) {
    let (x, weight, dy) = weightGradientOperands(index, seed: 4400)
    let expected = referenceConv2dGradients(x, weight, dy, stride: 1, padding: 1).dw
    let largest = expected.storage.map { abs($0) }.max() ?? 0
    #expect(largest > 0)
    for method in winogradWeightGradientMethodsOfThisCPU() {
        var dx = Tensor.empty, dw = Tensor.empty, scratch = Conv2dScratch()
        Conv2dDispatch.withMethods(ConvolutionMethods(weightGradient: method)) {
            conv2dBackward(input: x, weight: weight, gradOutput: dy, stride: 1, padding: 1, gradInput: &dx,
                           gradWeight: &dw, computeGradInput: false, scratch: &scratch)
        }
        #expect(scratch.lastWeightGradient == method)
        #expect(dw.shape == expected.shape)
        #expect(maxAbsDifference(dw, expected) <= weightGradientTolerance(method) * largest, "\(method) case \(index)")
    }
}

/// The Winograd weight gradients this CPU runs: F(2x2) and F(4x4) with AVX-512, F(4x4) with AVX2
/// alone (winograd_wgrad_avx2.c), none otherwise.
private func winogradWeightGradientMethodsOfThisCPU() -> [ConvWeightGradientMethod] {
    CPUFeatures.enabled.avx512 ? [.winogradF2, .winogradF4] : CPUFeatures.enabled.avx2 ? [.winogradF4] : []
}

/// The training-step tests' small net has no layer this path takes, so its determinism and
/// no-allocation promises are checked here: the same inputs and thread count give the same bits
/// with reused or fresh scratch, and a call with sized scratch allocates nothing.
@Test(arguments: [ConvWeightGradientMethod.winogradF2, .winogradF4])
func winogradWeightGradientIsBitIdentical(_ method: ConvWeightGradientMethod) {
    guard winogradWeightGradientMethodsOfThisCPU().contains(method) else {
        // The shape's chosen method (im2col without AVX-512 or AVX2) keeps the same promises.
        return winogradWeightGradientSteps(countAllocations: false)
    }
    Conv2dDispatch.withMethods(ConvolutionMethods(weightGradient: method)) {
        winogradWeightGradientSteps(countAllocations: false, method: method)
    }
}

@Test(.enabled(if: allocation_counter_installed() == 1, allocationCounterAbsence),
      .enabled(if: CPUFeatures.enabled.avx512 || CPUFeatures.enabled.avx2,
               "no AVX-512 or AVX2: this shape's weight gradient is im2col, not Winograd (steadyStateTrainingStepDoesNotAllocate covers im2col)"))
func winogradWeightGradientDoesNotAllocate() {
    for method in winogradWeightGradientMethodsOfThisCPU() {
        Conv2dDispatch.withMethods(ConvolutionMethods(weightGradient: method)) {
            winogradWeightGradientSteps(countAllocations: true, method: method)
        }
    }
}

/// `method`: the method forced by the caller, checked to have run in the counted calls too.
private func winogradWeightGradientSteps(countAllocations: Bool, method: ConvWeightGradientMethod? = nil) {
    var rng = SeededGenerator(seed: 4200)
    let x = randomTensor([5, 32, 9, 8], &rng), weight = randomTensor([48, 32, 3, 3], &rng)
    let r = randomTensor([5, 48, 9, 8], &rng)
    var dx = Tensor.empty, scratch = Conv2dScratch()
    func gradient(_ scratch: inout Conv2dScratch, into dw: inout Tensor) {
        conv2dBackward(input: x, weight: weight, gradOutput: r, stride: 1, padding: 1, gradInput: &dx,
                       gradWeight: &dw, computeGradInput: false, scratch: &scratch)
    }
    // Results are promised for one thread count: the scope fixes it for the three calls.
    Parallelism.withThreadCount(2) {
        var first = Tensor.empty, second = Tensor.empty, fresh = Tensor.empty, freshScratch = Conv2dScratch()
        gradient(&scratch, into: &first)
        gradient(&scratch, into: &second)
        gradient(&freshScratch, into: &fresh)
        #expect(first.storage.map(\.bitPattern) == second.storage.map(\.bitPattern))
        #expect(first.storage.map(\.bitPattern) == fresh.storage.map(\.bitPattern))
        if let method { #expect(scratch.lastWeightGradient == method) }
    }
    guard countAllocations else { return }
    // From inside a parallelFor chunk the kernel's own parallelFor runs inline (one transient
    // closure box per multi-threaded hand-off is Parallel.swift's, measured elsewhere).
    var dw = Tensor.empty, fewest = UInt64.max
    parallelFor(2) { chunk in
        guard chunk.lowerBound == 0 else { return }
        gradient(&scratch, into: &dw)
        fewest = fewestAllocations(seconds: 10) { gradient(&scratch, into: &dw) }
    }
    #expect(fewest == 0, "a sized Winograd weight gradient allocated at least \(fewest) times")
    if let method { #expect(scratch.lastWeightGradient == method, "the counted calls ran \(String(describing: scratch.lastWeightGradient))") }
}

/// A benchmark: the weight gradient of the VGG net's 3x3 layers 2-6 at batch 128 through
/// `conv2dBackward` (dx not computed) by each Winograd method, single-threaded, best of 7 in
/// thread CPU time; the total is the chosen methods'. Only runs
/// with KERNELS_BENCH=1: `KERNELS_BENCH=1 swift test -c release --filter vggWeightGradientTimes`.
@Test(.enabled(if: ProcessInfo.processInfo.environment["KERNELS_BENCH"] == "1", "an opt-in benchmark that prints figures: set KERNELS_BENCH=1 to run it"))
func vggWeightGradientTimes() {
    Parallelism.withThreadCount(1, vggWeightGradientTimesSingleThreaded)
}

private func vggWeightGradientTimesSingleThreaded() {
    var rng = SeededGenerator(seed: 3)
    var scratch = Conv2dScratch()
    var total = 0.0
    for (c, h, o) in [(32, 32, 32), (32, 16, 64), (64, 16, 64), (64, 8, 128), (128, 8, 128)] {
        let x = randomTensor([128, c, h, h], &rng), weight = randomTensor([o, c, 3, 3], &rng)
        let dy = randomTensor([128, o, h, h], &rng)
        var dx = Tensor.empty, dw = Tensor.empty
        let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: 1, padding: 1)
        let chosen = Conv2dDispatch.plan(for: g).weightGradient
        var line = "vgg weight gradient C\(c) \(h)x\(h) O\(o):"
        for method in [ConvWeightGradientMethod.winogradF2, .winogradF4] where Conv2dDispatch.supports(method, g, cpu: .enabled) {
            let ms = bestThreadCPUMilliseconds {
                Conv2dDispatch.withMethods(ConvolutionMethods(weightGradient: method)) {
                    conv2dBackward(input: x, weight: weight, gradOutput: dy, stride: 1, padding: 1, gradInput: &dx,
                                   gradWeight: &dw, computeGradInput: false, scratch: &scratch)
                }
            }
            if method == chosen { total += ms }
            let gflops = 2.0 * 128 * Double(c * o * h * h * 9) / (ms * 1e6)
            line += " \(method) \(String(format: "%.2f", ms)) ms (\(String(format: "%.0f", gflops)) direct-equivalent GFLOP/s)\(method == chosen ? " chosen" : "");"
        }
        print(line)
    }
    print("vgg weight gradient, layers 2-6: \(String(format: "%.2f", total)) ms")
}

// bf16 (`winogradF2BF16`): V = B^T d B and Z = A dY A^T are computed in fp32 and rounded to bf16
// as they are written, and dU[p][o][c] = sum_t Z[p][o][t] V[p][c][t] runs on VDPBF16PS with fp32
// sums; the fold dw = G^T dU G is fp32. Tolerance, derived: rounding changes Z and V by at most
// v = 2^-8 of themselves, so each product by at most (2v + v^2) |Z| |V|, and the fold carries
// these into each tap by
//   E[o][c][i][j] = (2v + v^2) * sum_{a,b} |G[a][i]| |G[b][j]| * sum_t |Z[(a,b)][o][t]| |V[(a,b)][c][t]|
// (every rounding in the same direction; computed per tap in Float64 below), plus fp32
// Winograd's own 1e-5 of the largest entry (above).

/// E above for the weight gradient of the 3x3 padding-1 convolution of x [N,C,H,W] with output
/// gradient dy [N,O,H,W]: [O, C, 3, 3].
func winogradBF16WeightGradientBound(_ x: Tensor, _ dy: Tensor) -> Tensor {
    let bt: [[Double]] = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    let a: [[Double]] = [[1, 0], [1, 1], [1, -1], [0, -1]]
    let gm: [[Double]] = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
    let (batch, c, h, w, o) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], dy.shape[1])
    var sums = [Double](repeating: 0, count: o * c * 16)  // sum_t |Z| |V| per (o, c, position)
    var v = [Double](repeating: 0, count: c * 16), z = [Double](repeating: 0, count: o * 16)
    for img in 0..<batch { for ty in stride(from: 0, to: h, by: 2) { for tx in stride(from: 0, to: w, by: 2) {
        for ch in 0..<c {
            for i in 0..<4 { for j in 0..<4 {
                var s = 0.0
                for k in 0..<4 { for l in 0..<4 {
                    let yy = ty - 1 + k, xx = tx - 1 + l
                    guard yy >= 0 && yy < h && xx >= 0 && xx < w else { continue }
                    s += bt[i][k] * Double(x[img, ch, yy, xx]) * bt[j][l]
                }}
                v[ch * 16 + i * 4 + j] = abs(s)
            }}
        }
        for oc in 0..<o {
            for i in 0..<4 { for j in 0..<4 {
                var s = 0.0
                for k in 0..<2 { for l in 0..<2 where ty + k < h && tx + l < w {
                    s += a[i][k] * Double(dy[img, oc, ty + k, tx + l]) * a[j][l]
                }}
                z[oc * 16 + i * 4 + j] = abs(s)
            }}
        }
        for oc in 0..<o { for ch in 0..<c { for p in 0..<16 { sums[(oc * c + ch) * 16 + p] += z[oc * 16 + p] * v[ch * 16 + p] } } }
    }}}
    let unit = 0x1p-8, factor = 2 * unit + unit * unit
    var bound = Tensor(shape: [o, c, 3, 3])
    for oc in 0..<o { for ch in 0..<c { for i in 0..<3 { for j in 0..<3 {
        var e = 0.0
        for p in 0..<4 { for q in 0..<4 { e += abs(gm[p][i]) * abs(gm[q][j]) * sums[(oc * c + ch) * 16 + p * 4 + q] } }
        bound[oc, ch, i, j] = Float(factor * e)
    }}}}
    return bound
}

@Test(.enabled(if: CPUFeatures.enabled.avx512bf16 && CPUFeatures.enabled.avx512,
               "the bf16 Winograd weight gradient needs AVX512-BF16, which this CPU (or FEATUREMAPS_CPU) lacks"),
      arguments: winogradWeightGradientCases.indices)
func winogradBF16WeightGradientWithinTheDerivedBound(_ index: Int) {
    let (x, weight, dy) = weightGradientOperands(index, seed: 4300)
    var dx = Tensor.empty, dw = Tensor.empty, scratch = Conv2dScratch()
    Conv2dDispatch.withMethods(ConvolutionMethods(weightGradient: .winogradF2BF16)) {
        conv2dBackward(input: x, weight: weight, gradOutput: dy, stride: 1, padding: 1, gradInput: &dx,
                       gradWeight: &dw, computeGradInput: false, scratch: &scratch)
    }
    #expect(scratch.lastWeightGradient == .winogradF2BF16)
    let expected = referenceConv2dGradients(x, weight, dy, stride: 1, padding: 1).dw
    let bound = winogradBF16WeightGradientBound(x, dy)
    let largest = expected.storage.map { abs($0) }.max() ?? 0
    var worst: Float = 0, beyondFP32 = false
    for i in 0..<dw.count {
        let err = abs(dw.storage[i] - expected.storage[i])
        worst = max(worst, err / (bound.storage[i] + 1e-5 * largest))
        beyondFP32 = beyondFP32 || err > 1e-5 * largest
    }
    #expect(worst <= 1, "error / derived bound \(worst) for \(winogradWeightGradientCases[index])")
    // The products really were rounded: some tap is further off than fp32 Winograd may be.
    #expect(beyondFP32, "no error past fp32 Winograd's for \(winogradWeightGradientCases[index])")
}

/// bf16 keeps the fp32 path's promises: the same bits for the same inputs and thread count with
/// reused or fresh scratch, and no allocation once the scratch is sized.
@Test(.enabled(if: CPUFeatures.enabled.avx512bf16 && CPUFeatures.enabled.avx512,
               "the bf16 Winograd weight gradient needs AVX512-BF16, which this CPU (or FEATUREMAPS_CPU) lacks"))
func winogradBF16WeightGradientIsBitIdentical() {
    Conv2dDispatch.withMethods(ConvolutionMethods(weightGradient: .winogradF2BF16)) {
        winogradWeightGradientSteps(countAllocations: false, method: .winogradF2BF16)
    }
}

@Test(.enabled(if: CPUFeatures.enabled.avx512bf16 && CPUFeatures.enabled.avx512 && allocation_counter_installed() == 1,
               "needs AVX512-BF16 and the allocation counter"))
func winogradBF16WeightGradientDoesNotAllocate() {
    Conv2dDispatch.withMethods(ConvolutionMethods(weightGradient: .winogradF2BF16)) {
        winogradWeightGradientSteps(countAllocations: true, method: .winogradF2BF16)
    }
}
