import KernelsC

/// The arithmetic of the products in convolutions and linear layers.
///
/// `bf16` is mixed precision: the operands of each product (activations, weights, gradients)
/// are rounded to bfloat16 (round to nearest even, 8-bit significand) and the products are
/// summed in fp32. Everything else (batch-norm statistics, softmax and loss, master weights,
/// optimiser state, weight-gradient sums across images) stays fp32.
public enum Precision: String, Sendable, Codable, CaseIterable {
    /// Single precision throughout.
    case fp32
    /// bfloat16 operands, fp32 accumulation.
    case bf16
}

/// Which code computes bf16 products, best first. `CPUFeatures.bf16Path` chooses.
package enum BF16Path: String, Sendable, CaseIterable {
    /// AMX tiles (TDPBF16PS): 32 x 32 blocks of C in four 16 x 16 fp32 tiles.
    case amx
    /// AVX512-BF16 dot products (VDPBF16PS): 8 x 48 micro-tiles in 24 zmm accumulators.
    case avx512bf16
    /// Operands rounded to bf16, then the fp32 kernels: any CPU, the same numerics.
    case software

    /// Whether this machine can run the path: the CPU has the instructions (and, for AMX, the OS
    /// granted tile state), whatever `FEATUREMAPS_CPU` says. The software path runs everywhere.
    public var isAvailable: Bool {
        switch self {
        case .amx: return CPUFeatures.detected.bf16Path == .amx
        case .avx512bf16: return CPUFeatures.detected.avx512bf16 && CPUFeatures.detected.avx512
        case .software: return true
        }
    }
}

/// `x` rounded to the nearest bfloat16 (ties to even), returned as the Float of equal value.
/// NaN stays NaN; values beyond bf16's range round to infinity as the hardware does.
@inline(__always)
public func roundedToBF16(_ x: Float) -> Float {
    let bits = x.bitPattern
    if x.isNaN { return Float(bitPattern: (bits | 0x0040_0000) & 0xFFFF_0000) }
    let rounding: UInt32 = 0x7FFF + ((bits >> 16) & 1)
    return Float(bitPattern: (bits &+ rounding) & 0xFFFF_0000)
}

/// The 32-bit word VDPBF16PS takes for the pair (lo, hi): both rounded as `roundedToBF16`, lo in
/// the low half, hi in the high half (C: `bf16_pair_bits`).
@inline(__always)
func bf16PairWord(_ lo: Float, _ hi: Float) -> UInt32 {
    roundedToBF16(hi).bitPattern | roundedToBF16(lo).bitPattern >> 16
}

/// C[M,N] = alpha * bf16(op(A))[M,K] * bf16(op(B))[K,N] + beta * C: `sgemm`'s contract, with
/// both operands rounded to bfloat16 (`roundedToBF16`) and the products summed in fp32.
///
/// Operands and C are fp32 in memory; rounding happens when the operands are packed (into the
/// per-thread pooled workspaces, so steady-state calls do not allocate). The path is
/// `cpu.bf16Path` (AMX, AVX512-BF16, or software over the fp32 kernel `cpu` selects), so a fixed
/// `cpu` always takes the same path; it must be one this machine has (`BF16Path.isAvailable`;
/// `CPUFeatures.enabled` and `CPUFeatures.detected.limited(to:)` always are). The paths differ
/// in the order of the fp32 sums and, on the hardware paths, in subnormals: VDPBF16PS and
/// TDPBF16PS treat subnormal bf16 operands and results as zero (terms below 2^-126 in
/// magnitude). Threading as `sgemm`: `.automatic` splits C over `Parallelism.threadCount` by a
/// static partition (bit-identical results for a fixed count), `.callingThread` stays on the
/// calling thread. When `beta` is 0, C is not read.
public func bf16gemm(
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
    require(m >= 0 && n >= 0 && k >= 0, "bf16gemm: negative dimension m=\(m) n=\(n) k=\(k)")
    if m == 0 || n == 0 { return }
    require(ldc >= n, "bf16gemm: ldc \(ldc) < n \(n)")
    let path = cpu.bf16Path
    require(path.isAvailable, "bf16gemm: the \(path) path needs a CPU (and OS) that has it; this one has \(CPUFeatures.detected)")
    let kernel: BF16Kernel
    switch path {
    case .software:
        packedProduct(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                      beta: beta, c: c, ldc: ldc, threading: threading, kernel: MicroKernel(cpu), roundingToBF16: true)
        return
    case .avx512bf16: kernel = .avx512bf16
    case .amx: kernel = .amx
    }
    if k == 0 || alpha == 0 {
        scaleMatrix(c, rows: m, cols: n, ld: ldc, by: beta)
        return
    }
    let threads = threading == .automatic ? gemmThreadCount(m: m, n: n, k: k) : 1
    let opA = GEMMOperand(transA, a, ld: lda)
    let opB = GEMMOperand(transB, b, ld: ldb)
    nonisolated(unsafe) let cOut = c
    forEachSlab(m: m, n: n, mr: kernel.mr, nr: kernel.nr, threads: threads) { rows, cols in
        GEMMWorkspace.withWorkspace { ws in
            bf16Blocked(kernel, m: rows.count, n: cols.count, k: k, alpha: alpha,
                        a: opA.offset(row: rows.lowerBound, col: 0), b: opB.offset(row: 0, col: cols.lowerBound),
                        beta: beta, c: cOut + rows.lowerBound * ldc + cols.lowerBound, ldc: ldc, workspace: ws)
        }
    }
}

/// The peak microbenchmark's loop on the calling thread: `iterations` rounds of independent
/// VDPBF16PS on registers (`.avx512bf16`: 24 per round) or TDPBF16PS on tiles (`.amx`: 4 per
/// round). Returns the FLOPs done (2 per multiply-add), 0 for `.software` (no unit to measure).
/// The path must be available (`BF16Path.isAvailable`).
package func bf16PeakLoop(_ path: BF16Path, iterations: Int) -> Double {
    require(path.isAvailable, "bf16PeakLoop: this CPU has no \(path) unit")
    var sink: Float = 0
    switch path {
    case .amx: return fm_bf16_peak_amx(iterations, &sink)
    case .avx512bf16: return fm_bf16_peak_avx512bf16(iterations, &sink)
    case .software: return 0
    }
}

/// `bf16PeakLoop`'s loop with 24 fp32 FMAs on zmm registers per round: the fp32 side of
/// `CPUFeatures.bf16DotProductRatio`. Returns the FLOPs done; AVX-512 only.
package func fp32PeakLoop(iterations: Int) -> Double {
    require(CPUFeatures.detected.avx512, "fp32PeakLoop: this CPU has no AVX-512")
    var sink: Float = 0
    return fm_fp32_peak_avx512(iterations, &sink)
}

/// The two hardware kernels and the shapes of their packed operands.
enum BF16Kernel {
    case avx512bf16, amx

    /// Rows of C per micro-tile (AMX: two 16-row tiles).
    var mr: Int { self == .amx ? Int(FM_AMX_MR) : Int(FM_BF16_MR) }
    /// Columns of C per micro-tile (AMX: two 16-column tiles).
    var nr: Int { self == .amx ? Int(FM_AMX_NR) : Int(FM_BF16_NR) }
    /// K is zero-padded to a multiple of this: one bf16 pair, or one AMX tile's 32 values.
    var kQuantum: Int { self == .amx ? 32 : 2 }
    /// Lanes per packed B sliver: the micro-tile's width, or one 16-column AMX tile.
    var bSliver: Int { self == .amx ? 16 : Int(FM_BF16_NR) }
}

/// Cache blocking of the bf16 products: sgemm's (`GEMMBlocking`) in bytes, so twice its K per
/// block (a packed A sliver of 8 x 768 bf16 is sgemm's 12 KiB; the B panel fills the same
/// 1 MiB). Measured on the Zen 4 (1 thread, CPU time, 2026-11-29): KC 768 against 384 and
/// panels of 1 MiB against 512 and 256 KiB, MC 480 against 240: within 4% on the large
/// shapes except a 256 KiB panel (-20% at 1024^3), so sgemm's choices stand.
enum BF16Blocking {
    static let maxKC = 2 * GEMMBlocking.maxKC
    static let panel = GEMMBlocking.panelBytes
    static let maxMC = GEMMBlocking.maxMC
}

/// One thread's share of a hardware bf16 product: sgemm's loop nest (`blockedProduct`: N blocks,
/// K blocks with the B panel packed once, M blocks with A packed, then micro-tiles) with
/// packers that round to bf16 into the kernels' layouts.
func bf16Blocked(
    _ kernel: BF16Kernel, m: Int, n: Int, k: Int, alpha: Float, a: GEMMOperand, b: GEMMOperand, beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int, workspace ws: GEMMWorkspace
) {
    let mr = kernel.mr, nr = kernel.nr, kq = kernel.kQuantum
    let kcBlock = GEMMBlocking.evenBlock(k, limit: BF16Blocking.maxKC, quantum: kq)
    let mcBlock = GEMMBlocking.evenBlock(m, limit: BF16Blocking.maxMC, quantum: mr)
    let ncBlock = GEMMBlocking.evenBlock(n, limit: max(nr, BF16Blocking.panel / 2 / kcBlock), quantum: nr)
    let ap = ws.packedBF16A(count: kcBlock * mcBlock)
    let bp = ws.packedBF16B(count: kcBlock * ncBlock)
    if kernel == .amx { fm_amx_configure() }
    defer { if kernel == .amx { fm_amx_release() } }
    var jc = 0
    while jc < n {
        let nc = min(ncBlock, n - jc)
        var pc = 0
        while pc < k {
            let kc = min(kcBlock, k - pc)
            let kp = (kc + kq - 1) / kq * kq
            fm_bf16_pack_pairs(b.base + pc * b.rowStride + jc * b.colStride, b.colStride, b.rowStride, nc, kc, kp,
                               kernel.bSliver, bp)
            let blockBeta: Float = pc == 0 ? beta : 1
            var ic = 0
            while ic < m {
                let mc = min(mcBlock, m - ic)
                let aBlock = a.base + ic * a.rowStride + pc * a.colStride
                if kernel == .amx {
                    fm_bf16_pack_rows16(aBlock, a.rowStride, a.colStride, mc, kc, kp, ap)
                } else {
                    fm_bf16_pack_pairs(aBlock, a.rowStride, a.colStride, mc, kc, kp, mr, ap)
                }
                let cBlock = c + ic * ldc + jc
                var ir = 0
                while ir < mc {
                    let rows = min(mr, mc - ir)
                    var jr = 0
                    while jr < nc {
                        let cols = min(nr, nc - jr)
                        let cTile = cBlock + ir * ldc + jr
                        if kernel == .amx {
                            // Slivers of 16 rows / columns; a missing second one is never stored.
                            let a0 = ap + ir * kp, b0 = bp + jr * kp
                            fm_bgemm_kernel_amx(kp / 32, a0, rows > 16 ? a0 + 16 * kp : a0, b0,
                                                cols > 16 ? b0 + 16 * kp : b0, cTile, ldc, rows, cols, alpha, blockBeta)
                        } else {
                            fm_bgemm_kernel_avx512bf16(kp / 2, ap + ir * kp, bp + jr * kp, cTile, ldc, rows, cols,
                                                       alpha, blockBeta)
                        }
                        jr += nr
                    }
                    ir += mr
                }
                ic += mc
            }
            pc += kc
        }
        jc += nc
    }
}
