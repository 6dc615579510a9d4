import Foundation
import Testing
import Kernels

/// `vectorErf` (GELU's erf) against Foundation's erf (glibc, computed in Double and rounded) on
/// every multiple of 2^-12 in [-10, 10] (163,841 points, tails included) and on 10^5
/// log-spaced small magnitudes: worst absolute error 1.33e-7 (near x = -0.975), tolerance 2e-7.
@Test func vectorErfMatchesFoundationErf() {
    var grid = [Float]()
    for i in -40_960...40_960 { grid.append(Float(i) / 4096) }
    for i in 0..<100_000 {
        let magnitude = Float(pow(10, -12 + 12 * Double(i) / 100_000))
        grid += [magnitude, -magnitude]
    }
    var worst: Double = 0, worstAt: Float = 0
    var i = 0
    while i < grid.count {
        var v = SIMD16<Float>()
        for j in 0..<16 where i + j < grid.count { v[j] = grid[i + j] }
        let e = vectorErf(v)
        for j in 0..<16 where i + j < grid.count {
            let error = abs(Double(e[j]) - erf(Double(v[j])))
            if error > worst { worst = error; worstAt = v[j] }
        }
        i += 16
    }
    print("vectorErf: worst absolute error \(worst) at x = \(worstAt)")
    #expect(worst < 2e-7)
}

@Test func vectorErfOfNaNAndInfinities() {
    var v = SIMD16<Float>(repeating: 0.5)
    v[0] = .nan; v[1] = .infinity; v[2] = -.infinity; v[3] = 3.95; v[4] = -100; v[5] = 0
    let e = vectorErf(v)
    #expect(e[0].isNaN)
    #expect(e[1] == 1 && e[2] == -1 && e[3] == 1 && e[4] == -1 && e[5] == 0)
    #expect(abs(e[6] - Float(erf(0.5))) < 1e-7)
}

/// The vector GELU and its derivative against the scalar formulas with Foundation's erf and exp
/// in Double, on a grid of 2^-8 steps over [-12, 12] plus NaN and the infinities (the
/// elements past the last full vector run through the tail path: the count is not a multiple of 16).
@Test func geluMatchesScalarErfFormOnAGrid() {
    var values = (-3_072...3_072).map { Float($0) / 256 }
    values += [.nan, .infinity, -.infinity]
    let x = Tensor(shape: [values.count], storage: values)
    let dy = Tensor(shape: [values.count], repeating: 1)
    var dx = Tensor.empty
    let y = gelu(x)
    geluBackward(input: x, gradOutput: dy, into: &dx)
    var worstValue: Double = 0, worstGradient: Double = 0
    for (i, v) in values.enumerated() where v.isFinite {
        let d = Double(v)
        let cdf = 0.5 * (1 + erf(d / 2.0.squareRoot()))
        let pdf = exp(-0.5 * d * d) / (2 * Double.pi).squareRoot()
        worstValue = max(worstValue, abs(Double(y.storage[i]) - d * cdf) / max(1, abs(d)))
        worstGradient = max(worstGradient, abs(Double(dx.storage[i]) - (cdf + d * pdf)))
    }
    print("GELU: worst error \(worstValue) (relative beyond |x| = 1), gradient \(worstGradient)")
    #expect(worstValue < 3e-7)
    #expect(worstGradient < 5e-7)
    let n = values.count
    // PyTorch's GELU: NaN stays NaN, GELU(inf) = inf, GELU(-inf) = -inf * 0 = NaN.
    #expect(y.storage[n - 3].isNaN && y.storage[n - 2] == .infinity && y.storage[n - 1].isNaN)
    // And its gradient: NaN for NaN and for both infinities (inf * pdf(inf) = inf * 0).
    #expect(dx.storage[n - 3].isNaN && dx.storage[n - 2].isNaN && dx.storage[n - 1].isNaN)
}
