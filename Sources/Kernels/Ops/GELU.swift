import KernelsC

// Gaussian error linear unit, elementwise on any shape, in PyTorch's default (exact, erf) form.
//
//   y  = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
//   dx = dy * (Phi(x) + x phi(x))          phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
//
// Sixteen lanes at a time with our own erf and exp (below): libm's scalar erff and expf made
// GELU 23% of an airbench training step. Forward and backward share `geluCDF`.

private let invSqrt2 = Float(0.5).squareRoot()
private let invSqrt2Pi = 1 / Float(2 * Double.pi).squareRoot()

// The Swift code below is what arm64 runs. On x86-64 it is compiled for SSE2, where its fused
// multiply-adds are libm calls, so CPUs with AVX2 or AVX-512 run its C forms (portable_kernels.c,
// gelu_body.h: the same operations, the same bits), chosen by `cpu`.

/// y = GELU(x) into `y` (resized like `x`), by the code `cpu` allows (the same bits on each).
public func geluForward(_ x: Tensor, into y: inout Tensor, cpu: CPUFeatures = .enabled) {
    if cpu.avx512 {
        forEachBlock(x, into: &y) { src, dst, range in
            fm_gelu_forward_avx512(src + range.lowerBound, dst + range.lowerBound, range.count)
        }
    } else if cpu.avx2 {
        forEachBlock(x, into: &y) { src, dst, range in
            fm_gelu_forward_avx2(src + range.lowerBound, dst + range.lowerBound, range.count)
        }
    } else {
        mapVectors(x, into: &y, GELUFunction.self)
    }
}

/// dx = dy * GELU'(x) into `dx`, from the forward pass's input `x`, by the code `cpu` allows
/// (the same bits on each).
public func geluBackward(input x: Tensor, gradOutput dy: Tensor, into dx: inout Tensor,
                         cpu: CPUFeatures = .enabled) {
    if cpu.avx512 {
        forEachBlock(x, dy, into: &dx) { px, pdy, dst, range in
            fm_gelu_backward_avx512(px + range.lowerBound, pdy + range.lowerBound, dst + range.lowerBound, range.count)
        }
    } else if cpu.avx2 {
        forEachBlock(x, dy, into: &dx) { px, pdy, dst, range in
            fm_gelu_backward_avx2(px + range.lowerBound, pdy + range.lowerBound, dst + range.lowerBound, range.count)
        }
    } else {
        zipVectors(x, dy, into: &dx, GELUGradient.self)
    }
}

/// GELU(x) elementwise (erf form). Allocating convenience over `geluForward`.
public func gelu(_ x: Tensor) -> Tensor {
    var y = Tensor.empty
    geluForward(x, into: &y)
    return y
}

/// x Phi(x).
enum GELUFunction: VectorUnaryElementFunction {
    @inline(__always) static func apply(_ v: SIMD16<Float>) -> SIMD16<Float> { v * geluCDF(v) }
}

/// dy (Phi(x) + x phi(x)) (arguments: x, dy).
enum GELUGradient: VectorBinaryElementFunction {
    @inline(__always) static func apply(_ v: SIMD16<Float>, _ g: SIMD16<Float>) -> SIMD16<Float> {
        let pdf = vectorExp(-0.5 * v * v) * invSqrt2Pi
        return g * geluCDF(v).addingProduct(v, pdf)
    }
}

/// Phi(x) = 0.5 (1 + erf(x / sqrt 2)).
@inline(__always)
private func geluCDF(_ v: SIMD16<Float>) -> SIMD16<Float> {
    0.5 * (1 + vectorErf(v * invSqrt2))
}

/// erf of each lane, within 1.4e-7 of the exact value (worst 1.33e-7: ErfTests measures it
/// against Foundation's erf on a dense grid, |x| <= 10, and checks NaN and the infinities).
///
/// Two least-squares polynomials, fitted by us on 4,000 Chebyshev nodes each in Float64 against
/// Python's math.erf and math.erfc (not taken from a library), with numpy:
///
///     nodes = lambda a, b: (a + b) / 2 + (b - a) / 2 * np.cos(np.pi * (np.arange(4000) + 0.5) / 4000)
///     fit = lambda t, y, deg: np.linalg.lstsq(np.vander(t, deg + 1, increasing=True), y)[0]
///     x = nodes(0, 1);   P = fit(x * x, [math.erf(v) / v for v in x], 6)
///     x = nodes(1, 3.9); Q = fit(x - 2.45, [math.erfc(v) for v in x], 12)
///
/// - |x| < 1:        erf(x) = x P(x^2), P of degree 6 (fit error 1.3e-9 of erf(x)/x);
/// - 1 <= |x| < 3.9: erf(x) = 1 - Q(|x| - 2.45), Q of degree 12 fitted to erfc (fit error 3.2e-8);
/// - |x| >= 3.9:     +-1 (erfc(3.9) = 3.5e-8, below half an ulp of 1).
/// Fitting erfc rather than erf keeps Q's constant small, so Float rounding of Q stays
/// relative to erfc; the 1 - Q is one rounding. Both are evaluated for all lanes and blended.
@inline(__always)
package func vectorErf(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let a = x.replacing(with: -x, where: x .< 0)
    // |x| < 1: x P(x^2).
    let z = a * a
    var p = SIMD16<Float>(repeating: 7.933493886e-05)
    p = horner(p, z, -8.034846650e-04); p = horner(p, z, 5.191218377e-03)
    p = horner(p, z, -2.685539945e-02); p = horner(p, z, 1.128362573e-01)
    p = horner(p, z, -3.761262988e-01); p = horner(p, z, 1.128379167e+00)
    let small = p * a
    // 1 <= |x| < 3.9: 1 - Q(|x| - 2.45).
    let t = a - 2.45
    var q = SIMD16<Float>(repeating: 9.257509716e-06)
    q = horner(q, t, -2.640280808e-05); q = horner(q, t, -4.957691738e-05)
    q = horner(q, t, 3.060933033e-04); q = horner(q, t, -4.168736017e-04)
    q = horner(q, t, -4.286067271e-04); q = horner(q, t, 2.993159067e-03)
    q = horner(q, t, -6.977400300e-03); q = horner(q, t, 1.024984483e-02)
    q = horner(q, t, -1.023571336e-02); q = horner(q, t, 6.836663143e-03)
    q = horner(q, t, -2.789929231e-03); q = horner(q, t, 5.305545647e-04)
    var result = (1 - q).replacing(with: small, where: a .< 1)
    result.replace(with: 1, where: a .>= 3.9)
    result.replace(with: -result, where: x .< 0)
    // NaN fails every comparison above; give it back unchanged.
    result.replace(with: x, where: x .!= x)
    return result
}

/// c + p v, fused: one step of Horner's rule.
@inline(__always)
private func horner(_ p: SIMD16<Float>, _ v: SIMD16<Float>, _ c: Float) -> SIMD16<Float> {
    SIMD16(repeating: c).addingProduct(p, v)
}

/// e^t of each lane, within about 2 ulp for t in [-87, 88]; t below -87 gives 0 (e^-87 is
/// near the smallest normal Float), above 88 gives e^88, NaN gives e^-87 (GELU's backward only
/// needs e^(-x^2/2), and multiplies it by x, which carries the NaN; the 0 makes x = +-inf
/// give inf * 0 = NaN, as PyTorch's GELU gradient does).
/// Cody-Waite reduction t = n ln2 + r, |r| <= ln2 / 2, then e^r = 1 + r + r^2 P(r) with
/// Cephes' expf polynomial and split ln 2 (S. L. Moshier, Cephes Math Library, expf.c), and
/// 2^n built in the exponent bits.
@inline(__always)
func vectorExp(_ t: SIMD16<Float>) -> SIMD16<Float> {
    var u = t.replacing(with: -87, where: .!(t .>= -87))
    u.replace(with: 88, where: u .> 88)
    // Round u / ln 2 to an integer with the 1.5 * 2^23 trick: its low mantissa bits are n.
    let shifter: Float = 12_582_912
    let shifted = SIMD16<Float>(repeating: shifter).addingProduct(u, 1.44269504088896341)
    let n = shifted - shifter
    var r = u.addingProduct(n, -0.693359375)
    r = r.addingProduct(n, 2.12194440e-4)
    var p = SIMD16<Float>(repeating: 1.9875691500e-4)
    p = horner(p, r, 1.3981999507e-3); p = horner(p, r, 8.3334519073e-3)
    p = horner(p, r, 4.1665795894e-2); p = horner(p, r, 1.6666665459e-1)
    p = horner(p, r, 5.0000001201e-1)
    let er = (1 + r).addingProduct(r * r, p)
    let bits = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(SIMD16<Float>(repeating: shifter), to: SIMD16<Int32>.self)
    let scale = unsafeBitCast((bits &+ 127) &<< 23, to: SIMD16<Float>.self)
    return (er * scale).replacing(with: 0, where: t .< -87)
}
