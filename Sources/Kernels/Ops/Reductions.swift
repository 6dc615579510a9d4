// Sums over contiguous runs of Float, shared by batch norm, bias gradients and pooling.
//
// A plain `for i in 0..<n { s += p[i] }` cannot be vectorised (floating-point addition is not
// reassociated), so it runs at one add per 4 cycles. These accumulate in two SIMD16 registers
// (32 interleaved partial sums) and then add the lanes: a fixed order, so results are
// repeatable, and about 8x faster on the batch-norm passes. Where the CPU has AVX2 or AVX-512
// the runs go through C (fm_run_sums_strided_*, portable_kernels_body.h: the same lanes and sums), since
// this target is compiled for SSE2 on x86-64, where the four 16-lane accumulators fill every
// register.

import KernelsC

/// Values summed in Float before a partial sum is handed on (to a Double total): batch norm
/// sums the planes of this many values' worth of images at a time, so small planes (8x8) do not
/// pay a horizontal sum and a conversion each.
let floatSumSpan = 1024

/// Images per group for planes of `plane` values (see `floatSumSpan`).
@inline(__always)
package func imagesPerSumGroup(plane: Int) -> Int { max(1, floatSumSpan / max(1, plane)) }

/// sum_i p[i] for i in 0..<n.
@inline(__always)
func sumOf(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var sums = RunSums()
    sums.add(p, p, n, PlainSum())
    return sums.total.sum
}

/// What `RunSums.add` accumulates from each element pair (g, x): a generic parameter, not an
/// enum or a closure, so each kind is specialised into its own vectorised loop.
package protocol RunSumKind {
    /// This kind's FM_RUN_SUM_* for the C forms.
    static var cKind: Int32 { get }
    /// The C forms' mean, scale and shift (0 where the kind has none).
    var cArguments: (mean: Float, scale: Float, shift: Float) { get }
    /// Adds sixteen elements' terms to the partial sums `s` and `d`.
    func add(g: SIMD16<Float>, x: SIMD16<Float>, to s: inout SIMD16<Float>, _ d: inout SIMD16<Float>)
    /// Adds one element's terms (the runs' tails).
    func add(g: Float, x: Float, to s: inout Float, _ d: inout Float)
}

/// sum g (into `sum`).
package struct PlainSum: RunSumKind {
    package init() {}
    package static var cKind: Int32 { FM_RUN_SUM_PLAIN }
    package var cArguments: (mean: Float, scale: Float, shift: Float) { (0, 0, 0) }
    @inline(__always) package func add(g: SIMD16<Float>, x: SIMD16<Float>, to s: inout SIMD16<Float>, _ d: inout SIMD16<Float>) { s += g }
    @inline(__always) package func add(g: Float, x: Float, to s: inout Float, _ d: inout Float) { s += g }
}

/// sum (x - mean)^2 (into `dot`).
package struct SquaredDeviations: RunSumKind {
    let mean: Float
    package init(mean: Float) { self.mean = mean }
    package static var cKind: Int32 { FM_RUN_SUM_SQUARED_DEVIATIONS }
    package var cArguments: (mean: Float, scale: Float, shift: Float) { (mean, 0, 0) }
    @inline(__always) package func add(g: SIMD16<Float>, x: SIMD16<Float>, to s: inout SIMD16<Float>, _ d: inout SIMD16<Float>) {
        let dev = x - mean
        d += dev * dev
    }
    @inline(__always) package func add(g: Float, x: Float, to s: inout Float, _ d: inout Float) {
        let dev = x - mean
        d += dev * dev
    }
}

/// sum g and sum g (x - mean): batch norm's backward sums.
package struct CenteredDot: RunSumKind {
    let mean: Float
    package init(mean: Float) { self.mean = mean }
    package static var cKind: Int32 { FM_RUN_SUM_CENTERED_DOT }
    package var cArguments: (mean: Float, scale: Float, shift: Float) { (mean, 0, 0) }
    @inline(__always) package func add(g: SIMD16<Float>, x: SIMD16<Float>, to s: inout SIMD16<Float>, _ d: inout SIMD16<Float>) {
        s += g
        d += g * (x - mean)
    }
    @inline(__always) package func add(g: Float, x: Float, to s: inout Float, _ d: inout Float) {
        s += g
        d += g * (x - mean)
    }
}

/// `CenteredDot` of a fused ReLU's gradient: g counts only where x * scale + shift > 0 (the
/// forward pass's own expression, so the same mask).
package struct MaskedCenteredDot: RunSumKind {
    let mean: Float, scale: Float, shift: Float
    package init(mean: Float, scale: Float, shift: Float) { (self.mean, self.scale, self.shift) = (mean, scale, shift) }
    package static var cKind: Int32 { FM_RUN_SUM_MASKED_CENTERED_DOT }
    package var cArguments: (mean: Float, scale: Float, shift: Float) { (mean, scale, shift) }
    @inline(__always) package func add(g: SIMD16<Float>, x: SIMD16<Float>, to s: inout SIMD16<Float>, _ d: inout SIMD16<Float>) {
        CenteredDot(mean: mean).add(g: SIMD16<Float>().replacing(with: g, where: x * scale + shift .> 0), x: x, to: &s, &d)
    }
    @inline(__always) package func add(g: Float, x: Float, to s: inout Float, _ d: inout Float) {
        CenteredDot(mean: mean).add(g: normalized(x, scale, shift) > 0 ? g : 0, x: x, to: &s, &d)
    }
}

/// Partial sums over several runs of Float, in 2 x 16 SIMD lanes (a plain `s += p[i]` loop is not
/// vectorised: floating-point addition is not reassociated) plus a scalar for the runs' tails.
/// The order is fixed by the runs, so results are repeatable.
package struct RunSums {
    /// s0, s1, d0, d1, then the tails' sums (lanes 0 and 1 of the fifth): one homogeneous tuple,
    /// so contiguous, and the C forms update it in place.
    private var acc = (SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>())

    /// No sums yet.
    package init() {}

    /// (sum, dot) of everything added.
    package var total: (sum: Float, dot: Float) {
        @inline(__always) get { ((acc.0 + acc.1).sum() + acc.4[0], (acc.2 + acc.3).sum() + acc.4[1]) }
    }

    /// Adds the terms of the run g[0..<n], x[0..<n].
    @inline(__always)
    package mutating func add<Kind: RunSumKind>(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, _ kind: Kind) {
        add(g, x, n, runs: 1, runStride: 0, kind)
    }

    /// Adds the terms of `runs` runs of n elements, run r at g + r * runStride and
    /// x + r * runStride: the same sums as one `add` per run, in one C call where the CPU has
    /// one (a call per run cost more than the run on 4x4 planes).
    @inline(__always)
    package mutating func add<Kind: RunSumKind>(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int,
                                                runs: Int, runStride: Int, _ kind: Kind, cpu: CPUFeatures = .enabled) {
        if cpu.avx512 || cpu.avx2 {
            let (mean, scale, shift) = kind.cArguments
            let run = cpu.avx512 ? fm_run_sums_strided_avx512 : fm_run_sums_strided_avx2
            withUnsafeMutableBytes(of: &acc) {
                run(Kind.cKind, g, x, n, runs, runStride, mean, scale, shift, $0.baseAddress!.assumingMemoryBound(to: Float.self))
            }
            return
        }
        for r in 0..<runs { addInSwift(g + r * runStride, x + r * runStride, n, kind) }
    }

    /// `add` for one run in Swift (the baseline build's SIMD16 code: arm64, and x86-64 without AVX2).
    @inline(__always)
    private mutating func addInSwift<Kind: RunSumKind>(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, _ kind: Kind) {
        var s0 = acc.0, s1 = acc.1, d0 = acc.2, d1 = acc.3, sTail = acc.4[0], dTail = acc.4[1]
        defer { acc = (s0, s1, d0, d1, SIMD16(sTail, dTail, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)) }
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

/// Channels per pass of `forEachChannelChunk` (FM_CHANNEL_CHUNK): a chunk's parameters and
/// totals fit in small stack buffers.
package let channelChunk = Int(FM_CHANNEL_CHUNK)

/// Runs `body` over `0..<c` cut into chunks of at most `channelChunk` channels, each thread
/// taking a contiguous run of chunks (as `parallelFor`). A pass over a chunk reads, image by
/// image, the chunk's planes as one stretch of memory (the C forms of `channelChunkTotals`,
/// `normalizeChunk`, `inputGradientChunk`).
@inline(__always)
package func forEachChannelChunk(_ c: Int, _ body: (_ channels: Range<Int>) -> Void) {
    parallelFor(c) { channels in
        var first = channels.lowerBound
        while first < channels.upperBound {
            let end = min(first + channelChunk, channels.upperBound)
            body(first..<end)
            first = end
        }
    }
}

/// `finish(ch, sum, dot)` for each channel of `channels` (at most `channelChunk`), with the
/// Double totals of `kind(ch)`'s terms over the channel's planes of g and x ([n, c, plane]):
/// Float `RunSums` over groups of `imagesPerSumGroup` images, added in Double group after group,
/// so the bits of `channelTotal` on every path. Where the CPU has AVX2 or AVX-512, one C call
/// reads the chunk image by image (fm_channel_chunk_sums_*); elsewhere the Swift code goes
/// channel by channel.
@inline(__always)
package func channelChunkTotals<Kind: RunSumKind>(
    _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, n: Int, c: Int, plane: Int, channels: Range<Int>,
    cpu: CPUFeatures, kind: (_ ch: Int) -> Kind, finish: (_ ch: Int, _ sum: Double, _ dot: Double) -> Void
) {
    precondition(channels.count <= channelChunk)
    guard cpu.avx512 || cpu.avx2 else {
        for ch in channels {
            let k = kind(ch)
            let total = channelTotal(n: n, c: c, ch: ch, plane: plane) { sums, start, images in
                sums.add(g + start, x + start, plane, runs: images, runStride: c * plane, k, cpu: cpu)
            }
            finish(ch, total.sum, total.dot)
        }
        return
    }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * channelChunk) { params in
    withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * channelChunk) { totals in
        for (k, ch) in channels.enumerated() {
            let arguments = kind(ch).cArguments
            params[3 * k] = arguments.mean
            params[3 * k + 1] = arguments.scale
            params[3 * k + 2] = arguments.shift
        }
        let sums = cpu.avx512 ? fm_channel_chunk_sums_avx512 : fm_channel_chunk_sums_avx2
        sums(Kind.cKind, g, x, n, c, plane, imagesPerSumGroup(plane: plane), channels.lowerBound, channels.count,
             params.baseAddress!, totals.baseAddress!, totals.baseAddress! + channelChunk)
        for (k, ch) in channels.enumerated() { finish(ch, totals[k], totals[channelChunk + k]) }
    }}
}
