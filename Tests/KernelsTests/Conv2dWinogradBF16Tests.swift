import Foundation
import Testing
import Kernels

// Winograd with the transform-domain products in bf16 (`winogradF2BF16`, `winogradF4BF16`):
// U = G w G^T and V = B^T d B are computed in fp32, rounded to bf16, multiplied and summed over
// the channels in fp32; the output transform is fp32.
//
// Tolerance, derived: x and w are bf16 values already, so the Float64 convolution of them is
// what an exact bf16 convolution gives. Rounding U and V to bf16 changes each by at most
// v = 2^-8 of itself, so each product U V by at most (2v + v^2) |U| |V|; the output transform
// y = A^T M A then carries these into each output by
//   E = (2v + v^2) * sum_p |A^T[a][i]| |A^T[b][j]| * sum_c |U[o][c][p]| |V[c][tile][p]|,  p = (i, j)
// (a worst case: every rounding in the same direction; computed here per output in Float64),
// plus what fp32 Winograd itself may lose, 2e-5 S (winogradRelativeTolerance, S = sum |w| |x|).
// Unlike a bf16 direct convolution's error (2v S), E grows with the transforms' coefficients:
// F(4x4) has B^T entries up to 5 and A^T entries up to 8.

/// The Winograd matrices: B^T (n x n), G (n x 3), A^T (m x n) for F(m x m, 3x3), n = m + 2.
private func winogradMatrices(f4: Bool) -> (bt: [[Double]], g: [[Double]], at: [[Double]]) {
    if f4 {
        return ([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                 [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
                [[1.0 / 4, 0, 0], [-1.0 / 6, -1.0 / 6, -1.0 / 6], [-1.0 / 6, 1.0 / 6, -1.0 / 6],
                 [1.0 / 24, 1.0 / 12, 1.0 / 6], [1.0 / 24, -1.0 / 12, 1.0 / 6], [0, 0, 1]],
                [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]])
    }
    return ([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
            [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
            [[1, 1, 1, 0], [0, 1, -1, -1]])
}

/// E above for every output of the 3x3 padding-1 convolution of x [N,C,H,W] by w [O,C,3,3].
func winogradBF16ErrorBound(_ x: Tensor, _ w: Tensor, f4: Bool) -> Tensor {
    let (bt, g, at) = winogradMatrices(f4: f4)
    let n = bt.count, m = at.count
    let (batch, c, h, wd, o) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], w.shape[0])
    // |U[o][c][i][j]|
    var u = [Double](repeating: 0, count: o * c * n * n)
    for oc in 0..<o * c {
        for i in 0..<n { for j in 0..<n {
            var s = 0.0
            for r in 0..<3 { for q in 0..<3 { s += g[i][r] * Double(w.storage[oc * 9 + r * 3 + q]) * g[j][q] } }
            u[(oc * n + i) * n + j] = abs(s)
        }}
    }
    let v = 0x1p-8, factor = 2 * v + v * v
    var bound = Tensor(shape: [batch, o, h, wd])
    for img in 0..<batch { for ty in stride(from: 0, to: h, by: m) { for tx in stride(from: 0, to: wd, by: m) {
        // |V[c][i][j]| of this tile: the n x n patch from (ty - 1, tx - 1), zero outside.
        var vt = [Double](repeating: 0, count: c * n * n)
        for ch in 0..<c {
            var d = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
            for i in 0..<n { for j in 0..<n {
                let y = ty - 1 + i, xx = tx - 1 + j
                if y >= 0 && y < h && xx >= 0 && xx < wd { d[i][j] = Double(x.storage[((img * c + ch) * h + y) * wd + xx]) }
            }}
            for i in 0..<n { for j in 0..<n {
                var s = 0.0
                for k in 0..<n { for l in 0..<n { s += bt[i][k] * d[k][l] * bt[j][l] } }
                vt[(ch * n + i) * n + j] = abs(s)
            }}
        }
        for oc in 0..<o {
            var sp = [Double](repeating: 0, count: n * n)
            for ch in 0..<c { for p in 0..<n * n { sp[p] += u[(oc * c + ch) * n * n + p] * vt[ch * n * n + p] } }
            for a in 0..<m where ty + a < h { for b in 0..<m where tx + b < wd {
                var e = 0.0
                for i in 0..<n { for j in 0..<n { e += abs(at[a][i]) * abs(at[b][j]) * sp[i * n + j] } }
                bound[img, oc, ty + a, tx + b] = Float(factor * e)
            }}
        }
    }}}
    return bound
}

/// (N, C, H, W, O): a partial last tile row and column for both tile sizes, an odd channel
/// count (a zero high half in the last pair), outputs that are no multiple of 8, and VGG's shapes.
let winogradBF16Cases: [(Int, Int, Int, Int, Int)] = [
    (2, 17, 7, 9, 12), (2, 32, 16, 16, 32), (1, 64, 8, 8, 64), (1, 16, 35, 38, 9), (2, 8, 6, 5, 24),
]

@Test(.enabled(if: CPUFeatures.enabled.avx512bf16 && CPUFeatures.enabled.avx512,
               "bf16 Winograd needs AVX512-BF16, which this CPU (or FEATUREMAPS_CPU) lacks"),
      arguments: winogradBF16Cases.indices, [ConvForwardMethod.winogradF2BF16, .winogradF4BF16])
func winogradBF16ForwardWithinTheDerivedBound(_ index: Int, _ method: ConvForwardMethod) {
    let (n, c, h, w, o) = winogradBF16Cases[index]
    var rng = SeededGenerator(seed: UInt64(40 + index))
    let x = roundedToBF16(randomTensor([n, c, h, w], &rng)), weight = roundedToBF16(randomTensor([o, c, 3, 3], &rng))
    let bias = randomTensor([o], &rng)
    let y = conv2d(x, weight: weight, bias: bias, stride: 1, padding: 1, by: method)
    let expected = referenceConv2d(x, weight, bias, stride: 1, padding: 1)
    let scale = referenceConv2d(absolute(x), absolute(weight), absolute(bias), stride: 1, padding: 1)
    let bound = winogradBF16ErrorBound(x, weight, f4: method == .winogradF4BF16)
    var worst: Float = 0, beyondFP32 = false
    for i in 0..<y.count {
        let err = abs(y.storage[i] - expected.storage[i])
        worst = max(worst, err / (bound.storage[i] + winogradRelativeTolerance * scale.storage[i]))
        beyondFP32 = beyondFP32 || err > winogradRelativeTolerance * scale.storage[i]
    }
    #expect(worst <= 1, "error / derived bound \(worst) for \(winogradBF16Cases[index]) by \(method)")
    // The products really were rounded: some output is further off than fp32 Winograd may be.
    #expect(beyondFP32, "no error past fp32 Winograd's for \(winogradBF16Cases[index]) by \(method)")
}

@Test(.enabled(if: CPUFeatures.enabled.avx512bf16 && CPUFeatures.enabled.avx512,
               "bf16 Winograd needs AVX512-BF16, which this CPU (or FEATUREMAPS_CPU) lacks"))
func winogradBF16InputGradientMatchesTheFP32Plan() {
    // The flipped-kernel input gradient through the bf16 forward: within the bf16 rounding of
    // the fp32 Winograd result (a loose check that the flipped weights reach the bf16 kernel).
    var rng = SeededGenerator(seed: 7)
    let x = randomTensor([2, 32, 16, 16], &rng), weight = randomTensor([32, 32, 3, 3], &rng)
    let dy = randomTensor([2, 32, 16, 16], &rng)
    var dx = Tensor.empty, dw = Tensor.empty, scratch = Conv2dScratch()
    Conv2dDispatch.withMethods(ConvolutionMethods(inputGradient: .flippedKernel(.winogradF4BF16))) {
        conv2dBackward(input: x, weight: weight, gradOutput: dy, stride: 1, padding: 1,
                       gradInput: &dx, gradWeight: &dw, scratch: &scratch)
    }
    #expect(scratch.lastInputGradient == .flippedKernel(.winogradF4BF16))
    let (dxExpected, _) = referenceConv2dGradients(x, weight, dy, stride: 1, padding: 1)
    let scale = referenceConv2dGradients(absolute(x), absolute(weight), absolute(dy), stride: 1, padding: 1).0
    #expect(scaledError(dx, dxExpected, scale: scale) < 0.05)
}

/// Measured errors (printed): the largest |y - exact| / S (S = sum |w| |x|) against the Float64
/// convolution of the unrounded x and w, VGG layer 4's shape at batch 2, for fp32 Winograd, the
/// bf16 im2col convolution and bf16 Winograd. KERNELS_BENCH=1 only (it prints figures).
@Test(.enabled(if: ProcessInfo.processInfo.environment["KERNELS_BENCH"] == "1" && CPUFeatures.enabled.avx512bf16,
               "an opt-in measurement that prints figures (KERNELS_BENCH=1, AVX512-BF16)"))
func winogradBF16Errors() {
    var rng = SeededGenerator(seed: 5)
    for (c, h) in [(64, 16), (32, 32), (128, 8)] {
        let x = randomTensor([2, c, h, h], &rng), weight = randomTensor([c, c, 3, 3], &rng)
        let exact = referenceConv2d(x, weight, nil, stride: 1, padding: 1)
        let scale = referenceConv2d(absolute(x), absolute(weight), nil, stride: 1, padding: 1)
        var line = "C\(c) \(h)x\(h):"
        for method in [ConvForwardMethod.winogradF2, .winogradF4, .bf16Im2col, .winogradF2BF16, .winogradF4BF16] {
            let y = conv2d(x, weight: weight, bias: nil, stride: 1, padding: 1, by: method)
            var rms = 0.0
            for i in 0..<y.count { rms += Double((y.storage[i] - exact.storage[i]) / scale.storage[i]).magnitude.squared }
            line += " \(method) max \(String(format: "%.2e", scaledError(y, exact, scale: scale)))"
                + " rms \(String(format: "%.2e", (rms / Double(y.count)).squareRoot()))"
        }
        print(line)
    }
}

private extension Double { var squared: Double { self * self } }

/// fp32 Winograd vs bf16 Winograd on VGG layers 2-6 (batch 128), forward, single thread, best of
/// 7 in thread CPU time. KERNELS_BENCH=1 only.
@Test(.enabled(if: ProcessInfo.processInfo.environment["KERNELS_BENCH"] == "1" && CPUFeatures.enabled.avx512bf16,
               "an opt-in benchmark that prints figures (KERNELS_BENCH=1, AVX512-BF16)"))
func winogradBF16VersusFP32Times() {
    Parallelism.withThreadCount(1) {
        var rng = SeededGenerator(seed: 2)
        var scratch = Conv2dScratch()
        for (c, h, o) in [(32, 32, 32), (32, 16, 64), (64, 16, 64), (64, 8, 128), (128, 8, 128), (64, 16, 32), (128, 8, 64)] {
            let x = randomTensor([128, c, h, h], &rng), weight = randomTensor([o, c, 3, 3], &rng)
            var line = "vgg conv C\(c) \(h)x\(h) O\(o):"
            for method in [ConvForwardMethod.winogradF2, .winogradF2BF16, .winogradF4, .winogradF4BF16] {
                let ms = bestThreadCPUMilliseconds {
                    _ = conv2d(x, weight: weight, bias: nil, stride: 1, padding: 1, by: method, scratch: &scratch)
                }
                line += " \(method) \(String(format: "%.2f", ms))"
            }
            print(line + " ms")
        }
    }
}
