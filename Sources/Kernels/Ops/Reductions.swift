// Sums over contiguous runs of Float, shared by batch norm, bias gradients and pooling.
//
// A plain `for i in 0..<n { s += p[i] }` cannot be vectorised (floating-point addition is not
// reassociated), so it runs at one add per 4 cycles. These accumulate in two SIMD16 registers
// (32 interleaved partial sums) and then add the lanes: a fixed order, so results are
// repeatable, and about 8x faster on the batch-norm passes.

/// Values summed in Float before a partial sum is handed on (to a Double total): batch norm
/// sums the planes of this many values' worth of images at a time, so small planes (8x8) do not
/// pay a horizontal sum and a conversion each.
let floatSumSpan = 1024

/// Images per group for planes of `plane` values (see `floatSumSpan`).
@inline(__always)
func imagesPerSumGroup(plane: Int) -> Int { max(1, floatSumSpan / max(1, plane)) }

/// sum_i p[i] for i in 0..<n.
@inline(__always)
func sumOf(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var sums = RunSums()
    sums.add(p, p, n, mean: 0, mode: .plain)
    return sums.total.sum
}

/// sum_i (p[i] - mean)^2 for i in 0..<n.
@inline(__always)
func sumOfSquaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, mean: Float) -> Float {
    var sums = RunSums()
    sums.add(p, p, n, mean: mean, mode: .squaredDeviations)
    return sums.total.dot
}

/// What `RunSums.add` accumulates over runs g[i], x[i].
enum RunSumMode {
    /// sum g.
    case plain
    /// sum (x - mean)^2 (into `dot`; g is ignored).
    case squaredDeviations
    /// sum g and sum g (x - mean): batch norm's backward sums.
    case centeredDot
    /// As `centeredDot` with g[i] counted only where x[i] * scale + shift > 0 (a fused ReLU's gradient).
    case maskedCenteredDot(scale: Float, shift: Float)
}

/// Partial sums over several runs of Float, in 2 x 16 SIMD lanes (a plain `s += p[i]` loop is not
/// vectorised: floating-point addition is not reassociated) plus a scalar for the runs' tails.
/// The order is fixed by the runs, so results are repeatable.
struct RunSums {
    private var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), d0 = SIMD16<Float>(), d1 = SIMD16<Float>()
    private var sTail: Float = 0, dTail: Float = 0

    /// (sum, dot) of everything added.
    var total: (sum: Float, dot: Float) { ((s0 + s1).sum() + sTail, (d0 + d1).sum() + dTail) }

    /// Adds the run g[0..<n], x[0..<n] (`mode` is constant at each call site once inlined, so each
    /// mode compiles to its own loop).
    @inline(__always)
    mutating func add(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, mean: Float, mode: RunSumMode) {
        let rg = UnsafeRawPointer(g), rx = UnsafeRawPointer(x)
        let m = SIMD16<Float>(repeating: mean)
        var scale: Float = 0, shift: Float = 0
        if case let .maskedCenteredDot(s, t) = mode { scale = s; shift = t }
        let vScale = SIMD16<Float>(repeating: scale), vShift = SIMD16<Float>(repeating: shift)
        @inline(__always) func step(_ i: Int, _ s: inout SIMD16<Float>, _ d: inout SIMD16<Float>) {
            switch mode {
            case .plain:
                s += rg.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
            case .squaredDeviations:
                let dev = rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) - m
                d += dev * dev
            case .centeredDot, .maskedCenteredDot:
                var gv = rg.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                let xv = rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                if case .maskedCenteredDot = mode {
                    gv = SIMD16<Float>().replacing(with: gv, where: xv * vScale + vShift .> 0)
                }
                s += gv
                d += gv * (xv - m)
            }
        }
        var i = 0
        while i + 32 <= n {
            step(i, &s0, &d0)
            step(i + 16, &s1, &d1)
            i += 32
        }
        if i + 16 <= n {
            step(i, &s0, &d0)
            i += 16
        }
        while i < n {
            switch mode {
            case .plain:
                sTail += g[i]
            case .squaredDeviations:
                let dev = x[i] - mean
                dTail += dev * dev
            case .centeredDot:
                sTail += g[i]
                dTail += g[i] * (x[i] - mean)
            case .maskedCenteredDot:
                let gi = normalized(x[i], scale, shift) > 0 ? g[i] : 0
                sTail += gi
                dTail += gi * (x[i] - mean)
            }
            i += 1
        }
    }
}
