import KernelsC

/// Whether a GEMM operand is read as stored or transposed.
public enum Transpose: Sendable {
    /// The operand is used as stored: A as [M,K], B as [K,N].
    case none
    /// The operand is stored transposed (A as [K,M], B as [N,K]) and read as its transpose, so a
    /// weight matrix kept as [out, in] multiplies without a copy.
    case transposed
}

/// Where `sgemm` runs its work.
public enum GEMMThreading: Sendable {
    /// Split over `Parallelism.threadCount` threads when the product is large enough to repay it.
    case automatic
    /// On the calling thread only: for callers that already split their work across threads (a
    /// convolution running one image group per thread), where `sgemm`'s own split would nest.
    /// The same results as `.automatic` with one thread.
    case callingThread
}

/// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, single precision, row-major.
///
/// `lda`, `ldb`, `ldc` are row strides (in elements) of A, B, C as stored: A is stored
/// [M,K] (or [K,M] when transposed), B is stored [K,N] (or [N,K] when transposed).
/// When `beta` is 0, C is overwritten without being read (NaNs in C do not propagate).
///
/// Packed operands, cache blocking and a register-blocked SIMD micro-kernel: AVX-512 when
/// `cpu` has it, else the Swift SIMD kernel's AVX2 form when it has AVX2, else the Swift SIMD
/// kernel (`cpu: .portable` runs the code of arm64 on any machine; the AVX2 form gives its bits). With `.automatic` threading it is split over
/// `Parallelism.threadCount` threads by a static partition of C, so a given thread count gives
/// bit-identical results; do not call it so from a `parallelFor` body (use `.callingThread`).
/// Packing buffers are cached per thread, so steady-state calls do not allocate.
public func sgemm(
    transA: Transpose, transB: Transpose,
    m: Int, n: Int, k: Int,
    alpha: Float,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int,
    threading: GEMMThreading = .automatic,
    cpu: CPUFeatures = .enabled
) {
    require(m >= 0 && n >= 0 && k >= 0, "sgemm: negative dimension m=\(m) n=\(n) k=\(k)")
    if m == 0 || n == 0 { return }
    require(ldc >= n, "sgemm: ldc \(ldc) < n \(n)")
    packedProduct(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c, ldc: ldc, threading: threading, kernel: MicroKernel(cpu), roundingToBF16: false)
}

/// `sgemm`'s body, also `bf16gemm`'s software path: with `roundingToBF16` every packed block of A
/// and panel of B is rounded to bf16 in place after packing (the packed buffers come from the
/// workspace, so this costs no allocation), and the fp32 micro-kernel sums the exact products.
func packedProduct(
    transA: Transpose, transB: Transpose, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int, threading: GEMMThreading, kernel: MicroKernel, roundingToBF16: Bool
) {
    let threads = threading == .automatic ? gemmThreadCount(m: m, n: n, k: k) : 1
    if k == 0 || alpha == 0 {
        scaleMatrix(c, rows: m, cols: n, ld: ldc, by: beta)
        return
    }
    let opA = GEMMOperand(transA, a, ld: lda)
    let opB = GEMMOperand(transB, b, ld: ldb)
    // A * B^T (a convolution's weight gradient): both operands are contiguous along K, so the
    // C "NT" kernel runs on them as stored instead of transposing B while packing (it transposes
    // the small A itself in its outer-product form; see KernelsC.h). Its dot-product form wants a
    // long K; the outer-product form (m >= 32, n >= 64) beats the packed path from K = 32 on
    // (Docs/BENCHMARKS.md). It reads the operands unpacked, so it cannot round them.
    let dotProduct = kernel == .avx512 && !roundingToBF16 && transA == .none && transB == .transposed
        && (k >= 256 || (k >= 32 && m >= 32 && n >= 64))
    nonisolated(unsafe) let cOut = c
    forEachSlab(m: m, n: n, mr: kernel.mr, nr: kernel.nr, threads: threads) { rows, cols in
        let c = cOut + rows.lowerBound * ldc + cols.lowerBound
        GEMMWorkspace.withWorkspace { ws in
            if dotProduct {
                fm_sgemm_nt_avx512(rows.count, cols.count, k, alpha, a + rows.lowerBound * lda, lda,
                                   b + cols.lowerBound * ldb, ldb, beta, c, ldc, ws.ntScratch())
            } else {
                gemmBlocked(kernel, m: rows.count, n: cols.count, k: k, alpha: alpha,
                            a: opA.offset(row: rows.lowerBound, col: 0), b: opB.offset(row: 0, col: cols.lowerBound),
                            beta: beta, c: c, ldc: ldc, workspace: ws, roundingToBF16: roundingToBF16)
            }
        }
    }
}

/// The static partition of C every GEMM uses: `threads` slabs along N when C is at least as
/// wide as it is tall (the im2col shapes), along M otherwise, with edges on micro-tile
/// boundaries (`mr`, `nr`); `body(rows, columns)` runs once per non-empty slab, on
/// `parallelFor`'s threads (inline when `threads` is 1). A fixed thread count gives fixed slabs,
/// so bit-identical results.
@inline(__always)
func forEachSlab(m: Int, n: Int, mr: Int, nr: Int, threads: Int,
                 _ body: (_ rows: Range<Int>, _ columns: Range<Int>) -> Void) {
    let splitColumns = n >= m
    let extent = splitColumns ? n : m
    let quantum = splitColumns ? nr : mr
    let tiles = (extent + quantum - 1) / quantum
    parallelFor(threads) { range in
        for t in range {
            let lo = min(extent, tiles * t / threads * quantum)
            let hi = min(extent, tiles * (t + 1) / threads * quantum)
            if lo >= hi { continue }
            if splitColumns { body(0..<m, lo..<hi) } else { body(lo..<hi, 0..<n) }
        }
    }
}

/// Threads worth using: small products do not repay the hand-off to a second core.
@inline(__always)
func gemmThreadCount(m: Int, n: Int, k: Int) -> Int {
    let flops = 2.0 * Double(m) * Double(n) * Double(k)
    if flops < 4.0e6 { return 1 }
    return max(1, Parallelism.threadCount)
}

/// C = beta * C over an m x n block (beta 0 writes zeros without reading C).
func scaleMatrix(_ c: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ld: Int, by beta: Float) {
    for i in 0..<rows {
        let row = c + i * ld
        if beta == 0 {
            row.update(repeating: 0, count: cols)
        } else if beta != 1 {
            for j in 0..<cols { row[j] *= beta }
        }
    }
}

/// A matrix operand as seen by the product: element (r, c) of op(X) sits at
/// `base[r * rowStride + c * colStride]`, which folds the transpose into two strides.
struct GEMMOperand: @unchecked Sendable {
    let base: UnsafePointer<Float>
    let rowStride: Int
    let colStride: Int

    init(_ trans: Transpose, _ base: UnsafePointer<Float>, ld: Int) {
        self.base = base
        switch trans {
        case .none: rowStride = ld; colStride = 1
        case .transposed: rowStride = 1; colStride = ld
        }
    }

    init(base: UnsafePointer<Float>, rowStride: Int, colStride: Int) {
        self.base = base
        self.rowStride = rowStride
        self.colStride = colStride
    }

    /// The sub-matrix starting at (row, col).
    func offset(row: Int, col: Int) -> GEMMOperand {
        GEMMOperand(base: base + row * rowStride + col * colStride,
                    rowStride: rowStride, colStride: colStride)
    }
}

/// Cache blocking for a 48 KiB L1d / 2 MiB L2 core. One packed MR x KC sliver of A (12 KiB
/// at MR 8, KC 384) stays in L1 while the micro-kernel streams the NR-wide slivers of a packed
/// KC x NC panel of B (at most 1 MiB, half of L2) past it; the broadcast operand sits in L1 and
/// the vector operand streams, as in BLIS. Block lengths are split evenly (K = 576 runs as
/// 2 x 288, not 384 + 192) so no block is a short remainder that pays full C traffic for little
/// work. KC 384 against 256: the conv layers' K of 288 and 1152 then need one block fewer
/// (32x288x1024 85 -> 98 GFLOP/s single-threaded); 576 was slower everywhere.
enum GEMMBlocking {
    static let maxKC = 384
    static let maxMC = 480
    /// Bytes of L2 the packed KC x NC panel of B may fill (half of it).
    static let panelBytes = 1 << 20

    /// Splits `total` into the fewest blocks of at most `limit`, equal up to rounding to `quantum`.
    static func evenBlock(_ total: Int, limit: Int, quantum: Int) -> Int {
        let blocks = (total + limit - 1) / limit
        let size = (total + blocks - 1) / blocks
        return max(quantum, (size + quantum - 1) / quantum * quantum)
    }
}

/// C[rows, columns] = alpha * (packed A block x packed B panel) + beta * C, one micro-tile at a
/// time: `a` holds MR-row slivers of `kc` ([rows/MR][kc][MR]), `b` NR-column slivers
/// ([columns/NR][kc][NR]). The innermost loops of every packed product (`gemmBlocked`, the
/// convolution's panel GEMM).
@inline(__always)
func runMacroKernel(_ kernel: MicroKernel, kc: Int, rows m: Int, columns n: Int,
                    a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                    c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    let mr = kernel.mr, nr = kernel.nr
    var ir = 0
    while ir < m {
        let rows = min(mr, m - ir)
        let aSliver = a + ir * kc
        let cRow = c + ir * ldc
        var jr = 0
        while jr < n {
            kernel.run(kc: kc, a: aSliver, b: b + jr * kc, c: cRow + jr, ldc: ldc,
                       rows: rows, cols: min(nr, n - jr), alpha: alpha, beta: beta)
            jr += nr
        }
        ir += mr
    }
}

/// One thread's share: the blocked loops around the micro-kernel over an m x n block of C.
func gemmBlocked(
    _ kernel: MicroKernel, m: Int, n: Int, k: Int, alpha: Float,
    a: GEMMOperand, b: GEMMOperand, beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int, workspace ws: GEMMWorkspace, roundingToBF16: Bool = false
) {
    let mcBlock = GEMMBlocking.evenBlock(m, limit: GEMMBlocking.maxMC, quantum: kernel.mr)
    let kcBlock = GEMMBlocking.evenBlock(k, limit: GEMMBlocking.maxKC, quantum: 8)
    let ap = ws.packedA(capacity: kcBlock * mcBlock)
    blockedProduct(kernel, m: m, n: n, k: k, kcBlock: kcBlock, mcBlock: mcBlock, alpha: alpha, beta: beta,
                   c: c, ldc: ldc, workspace: ws,
                   packA: { ic, mc, pc, kc in
                       packA(a.offset(row: ic, col: pc), mc: mc, kc: kc, mr: kernel.mr, into: ap)
                       if roundingToBF16 { roundToBF16InPlace(ap, count: (mc + kernel.mr - 1) / kernel.mr * kernel.mr * kc, kernel: kernel) }
                       return UnsafePointer(ap)
                   },
                   packB: { pc, kc, jc, nc, panel in
                       packB(b.offset(row: pc, col: jc), kc: kc, nc: nc, kernel: kernel, into: panel)
                       if roundingToBF16 { roundToBF16InPlace(panel, count: (nc + kernel.nr - 1) / kernel.nr * kernel.nr * kc, kernel: kernel) }
                   })
}

/// The loop nest of every packed product (`gemmBlocked`, the convolutions' panel GEMMs), BLIS
/// order: N blocks (jc), K blocks (pc, B panel packed once by `packB(pc, kc, jc, nc, into)`),
/// M blocks (ic, the A block `packA(ic, mc, pc, kc)` returns, packed now or beforehand), then
/// the micro-tiles. Later K blocks accumulate onto the partial sums already in C.
@inline(__always)
func blockedProduct(
    _ kernel: MicroKernel, m: Int, n: Int, k: Int, kcBlock: Int, mcBlock: Int, alpha: Float, beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int, workspace ws: GEMMWorkspace,
    packA: (_ ic: Int, _ mc: Int, _ pc: Int, _ kc: Int) -> UnsafePointer<Float>,
    packB: (_ pc: Int, _ kc: Int, _ jc: Int, _ nc: Int, _ into: UnsafeMutablePointer<Float>) -> Void
) {
    let nr = kernel.nr
    let ncLimit = max(nr, GEMMBlocking.panelBytes / 4 / kcBlock)
    let ncBlock = GEMMBlocking.evenBlock(n, limit: ncLimit, quantum: nr)
    let bp = ws.packedB(capacity: kcBlock * ncBlock)
    var jc = 0
    while jc < n {
        let nc = min(ncBlock, n - jc)
        var pc = 0
        while pc < k {
            let kc = min(kcBlock, k - pc)
            packB(pc, kc, jc, nc, bp)
            let blockBeta: Float = pc == 0 ? beta : 1
            var ic = 0
            while ic < m {
                let mc = min(mcBlock, m - ic)
                runMacroKernel(kernel, kc: kc, rows: mc, columns: nc, a: packA(ic, mc, pc, kc), b: bp,
                               c: c + ic * ldc + jc, ldc: ldc, alpha: alpha, beta: blockBeta)
                ic += mc
            }
            pc += kc
        }
        jc += nc
    }
}
