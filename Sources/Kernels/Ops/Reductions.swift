// Sums over contiguous runs of Float, shared by batch norm, bias gradients and pooling.
//
// A plain `for i in 0..<n { s += p[i] }` cannot be vectorised (floating-point addition is not
// reassociated), so it runs at one add per 4 cycles. These accumulate in two SIMD16 registers
// (32 interleaved partial sums) and then add the lanes: a fixed order, so results are
// repeatable, and about 8x faster on the batch-norm passes.

/// sum_i p[i] for i in 0..<n.
@inline(__always)
func sumOf(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    let raw = UnsafeRawPointer(p)
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
    var i = 0
    while i + 32 <= n {
        a0 += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        a1 += raw.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self)
        i += 32
    }
    if i + 16 <= n {
        a0 += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
    }
    var s = (a0 + a1).sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

/// sum_i (p[i] - mean)^2 for i in 0..<n.
@inline(__always)
func sumOfSquaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, mean: Float) -> Float {
    let raw = UnsafeRawPointer(p)
    let m = SIMD16<Float>(repeating: mean)
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>()
    var i = 0
    while i + 32 <= n {
        let d0 = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - m
        let d1 = raw.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self) - m
        a0 += d0 * d0
        a1 += d1 * d1
        i += 32
    }
    if i + 16 <= n {
        let d0 = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - m
        a0 += d0 * d0
        i += 16
    }
    var s = (a0 + a1).sum()
    while i < n { let d = p[i] - mean; s += d * d; i += 1 }
    return s
}

/// (sum_i g[i], sum_i g[i] * (x[i] - mean)) for i in 0..<n: batch norm's backward sums. With
/// `reluMask`, g[i] counts only where x[i] * scale + shift > 0 (a fused ReLU's gradient).
@inline(__always)
func sumAndCenteredDot(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean: Float,
                       reluMask: (scale: Float, shift: Float)? = nil) -> (Float, Float) {
    if let reluMask {
        return centeredSums(g, x, n, mean: mean, masked: true, scale: reluMask.scale, shift: reluMask.shift)
    }
    return centeredSums(g, x, n, mean: mean, masked: false, scale: 0, shift: 0)
}

/// `sumAndCenteredDot` with `masked` a constant at each call, so each variant compiles to its own loop.
@inline(__always)
private func centeredSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean: Float,
                          masked: Bool, scale: Float, shift: Float) -> (Float, Float) {
    let rg = UnsafeRawPointer(g), rx = UnsafeRawPointer(x)
    let m = SIMD16<Float>(repeating: mean)
    let vScale = SIMD16<Float>(repeating: scale), vShift = SIMD16<Float>(repeating: shift)
    @inline(__always) func load(_ i: Int) -> (g: SIMD16<Float>, x: SIMD16<Float>) {
        let gv = rg.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        let xv = rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
        guard masked else { return (gv, xv) }
        return (SIMD16<Float>().replacing(with: gv, where: xv * vScale + vShift .> 0), xv)
    }
    var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), d0 = SIMD16<Float>(), d1 = SIMD16<Float>()
    var i = 0
    while i + 32 <= n {
        let (g0, x0) = load(i), (g1, x1) = load(i + 16)
        s0 += g0
        s1 += g1
        d0 += g0 * (x0 - m)
        d1 += g1 * (x1 - m)
        i += 32
    }
    if i + 16 <= n {
        let (g0, x0) = load(i)
        s0 += g0
        d0 += g0 * (x0 - m)
        i += 16
    }
    var sum = (s0 + s1).sum(), dot = (d0 + d1).sum()
    while i < n {
        let gi = !masked || normalized(x[i], scale, shift) > 0 ? g[i] : 0
        sum += gi
        dot += gi * (x[i] - mean)
        i += 1
    }
    return (sum, dot)
}
