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
    sums.add(p, p, n, PlainSum())
    return sums.total.sum
}

/// What `RunSums.add` accumulates from each element pair (g, x): a generic parameter, not an
/// enum or a closure, so each kind is specialised into its own vectorised loop.
protocol RunSumKind {
    /// Adds sixteen elements' terms to the partial sums `s` and `d`.
    func add(g: SIMD16<Float>, x: SIMD16<Float>, to s: inout SIMD16<Float>, _ d: inout SIMD16<Float>)
    /// Adds one element's terms (the runs' tails).
    func add(g: Float, x: Float, to s: inout Float, _ d: inout Float)
}

/// sum g (into `sum`).
struct PlainSum: RunSumKind {
    @inline(__always) func add(g: SIMD16<Float>, x: SIMD16<Float>, to s: inout SIMD16<Float>, _ d: inout SIMD16<Float>) { s += g }
    @inline(__always) func add(g: Float, x: Float, to s: inout Float, _ d: inout Float) { s += g }
}

/// sum (x - mean)^2 (into `dot`).
struct SquaredDeviations: RunSumKind {
    let mean: Float
    @inline(__always) func add(g: SIMD16<Float>, x: SIMD16<Float>, to s: inout SIMD16<Float>, _ d: inout SIMD16<Float>) {
        let dev = x - mean
        d += dev * dev
    }
    @inline(__always) func add(g: Float, x: Float, to s: inout Float, _ d: inout Float) {
        let dev = x - mean
        d += dev * dev
    }
}

/// sum g and sum g (x - mean): batch norm's backward sums.
struct CenteredDot: RunSumKind {
    let mean: Float
    @inline(__always) func add(g: SIMD16<Float>, x: SIMD16<Float>, to s: inout SIMD16<Float>, _ d: inout SIMD16<Float>) {
        s += g
        d += g * (x - mean)
    }
    @inline(__always) func add(g: Float, x: Float, to s: inout Float, _ d: inout Float) {
        s += g
        d += g * (x - mean)
    }
}

/// `CenteredDot` of a fused ReLU's gradient: g counts only where x * scale + shift > 0 (the
/// forward pass's own expression, so the same mask).
struct MaskedCenteredDot: RunSumKind {
    let mean: Float, scale: Float, shift: Float
    @inline(__always) func add(g: SIMD16<Float>, x: SIMD16<Float>, to s: inout SIMD16<Float>, _ d: inout SIMD16<Float>) {
        CenteredDot(mean: mean).add(g: SIMD16<Float>().replacing(with: g, where: x * scale + shift .> 0), x: x, to: &s, &d)
    }
    @inline(__always) func add(g: Float, x: Float, to s: inout Float, _ d: inout Float) {
        CenteredDot(mean: mean).add(g: normalized(x, scale, shift) > 0 ? g : 0, x: x, to: &s, &d)
    }
}

/// Partial sums over several runs of Float, in 2 x 16 SIMD lanes (a plain `s += p[i]` loop is not
/// vectorised: floating-point addition is not reassociated) plus a scalar for the runs' tails.
/// The order is fixed by the runs, so results are repeatable.
struct RunSums {
    private var s0 = SIMD16<Float>(), s1 = SIMD16<Float>(), d0 = SIMD16<Float>(), d1 = SIMD16<Float>()
    private var sTail: Float = 0, dTail: Float = 0

    /// (sum, dot) of everything added.
    var total: (sum: Float, dot: Float) {
        @inline(__always) get { ((s0 + s1).sum() + sTail, (d0 + d1).sum() + dTail) }
    }

    /// Adds the terms of the run g[0..<n], x[0..<n].
    @inline(__always)
    mutating func add<Kind: RunSumKind>(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, _ kind: Kind) {
        let rg = UnsafeRawPointer(g), rx = UnsafeRawPointer(x)
        var i = 0
        while i + 32 <= n {
            kind.add(g: rg.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self),
                     x: rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self), to: &s0, &d0)
            kind.add(g: rg.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self),
                     x: rx.loadUnaligned(fromByteOffset: (i + 16) * 4, as: SIMD16<Float>.self), to: &s1, &d1)
            i += 32
        }
        if i + 16 <= n {
            kind.add(g: rg.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self),
                     x: rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self), to: &s0, &d0)
            i += 16
        }
        while i < n {
            kind.add(g: g[i], x: x[i], to: &sTail, &dTail)
            i += 1
        }
    }
}
