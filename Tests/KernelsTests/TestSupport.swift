import Foundation
import Kernels
import Testing

// Shared helpers for the kernel tests: random inputs, a Float64 finite-difference gradient
// check, and a weighted-sum loss that turns any tensor output into a scalar.

/// Uniform values in [-1, 1) from a fixed seed.
func randomTensor(_ shape: [Int], _ rng: inout SeededGenerator, scale: Float = 1) -> Tensor {
    Tensor.uniform(shape: shape, in: -scale..<scale, using: &rng)
}

/// sum_i y[i] * r[i] in Float64: with r random, its gradient dLoss/dy is exactly r.
func weightedSum(_ y: Tensor, _ r: Tensor) -> Double {
    precondition(y.count == r.count)
    var s: Double = 0
    for i in 0..<y.count { s += Double(y.storage[i]) * Double(r.storage[i]) }
    return s
}

/// The largest error of `analytic` against a central-difference gradient of `loss` at `x`:
/// numeric_i = (loss(x + h e_i) - loss(x - h e_i)) / (x_i+h - (x_i-h)) with the loss summed in
/// Float64 over a Float32 forward pass. The error of one element is
/// |numeric - analytic| / max(1, |analytic|), i.e. absolute for small gradients, relative for large.
func maxGradientError(at x: Tensor, analytic: Tensor, epsilon h: Float, loss: (Tensor) -> Double) -> Double {
    guard x.shape == analytic.shape else {
        Issue.record("gradient shape \(analytic.shape) differs from the value's \(x.shape)")
        return .infinity
    }
    var worst: Double = 0
    var probe = x
    for i in 0..<x.count {
        let original = x.storage[i]
        let up = original + h, down = original - h
        probe.storage[i] = up
        let lossUp = loss(probe)
        probe.storage[i] = down
        let lossDown = loss(probe)
        probe.storage[i] = original
        let numeric = (lossUp - lossDown) / (Double(up) - Double(down))
        let a = Double(analytic.storage[i])
        worst = max(worst, abs(numeric - a) / max(1, abs(a)))
    }
    return worst
}

/// The largest |a - b| over two tensors of one shape.
func maxAbsDifference(_ a: Tensor, _ b: Tensor) -> Float {
    precondition(a.shape == b.shape, "shapes \(a.shape) and \(b.shape) differ")
    var worst: Float = 0
    for i in 0..<a.count { worst = max(worst, abs(a.storage[i] - b.storage[i])) }
    return worst
}

/// Tolerance of the Float64-from-Float32 gradient checks (see Docs/KERNELS.md): the forward
/// pass rounds to Float32 (relative error ~1e-7 per op), which the central difference divides
/// by 2h; with h = 1e-2 on O(1) inputs that stays well below this.
let gradientTolerance = 2e-3

/// The best of 7 timed calls of `body` (after one untimed warm-up), in milliseconds: for the
/// KERNELS_BENCH benchmarks, which print figures and assert nothing about speed.
func bestMilliseconds(_ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    for _ in 0..<7 {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    return best
}

/// `conv2dForward` with its method forced (`Conv2dDispatch.withMethods`); checks that it ran.
func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int, by method: ConvForwardMethod,
            scratch: inout Conv2dScratch) -> Tensor {
    var y = Tensor.empty
    Conv2dDispatch.withMethods(ConvolutionMethods(forward: method)) {
        conv2dForward(x, weight: weight, bias: bias, stride: stride, padding: padding, into: &y, scratch: &scratch)
    }
    #expect(scratch.lastForward == method)
    return y
}

/// `conv2d(...by:scratch:)` with fresh scratch.
func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int, by method: ConvForwardMethod) -> Tensor {
    var scratch = Conv2dScratch()
    return conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, by: method, scratch: &scratch)
}

/// The panel GEMM for a stride: padded wide rows at stride 1, the tap table otherwise.
func panelMethod(stride: Int) -> ConvForwardMethod { stride == 1 ? .paddedPanels : .tapPanels }

/// The CPU levels whose element-wise C forms (GELU, batch norm's rows and sums) this CPU can run,
/// after the Swift code (`portable`) they must match bit for bit.
let portableAndCForms: [CPUFeatures] = {
    let detected = CPUFeatures.detected
    var list = [CPUFeatures.portable]
    for cpu in [detected.limited(to: "avx2"), detected.limited(to: "avx512")] where !list.contains(cpu) {
        list.append(cpu)
    }
    return list
}()
