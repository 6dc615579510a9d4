import KernelsC

/// The register-blocked inner kernel `sgemm` runs: the AVX-512 C kernel when the CPU features
/// allow AVX-512, else the Swift SIMD kernel's AVX2 + FMA form in C when they allow AVX2 (the
/// Swift code is compiled for SSE2 on x86-64, where its fused multiply-adds would be libm
/// calls), else the Swift SIMD kernel (NEON on arm64). Docs/BENCHMARKS.md has the measurements
/// behind the choice; `FEATUREMAPS_CPU=portable` (`CPUFeatures`) forces the Swift kernel.
enum MicroKernel: Sendable {
    case swiftSIMD
    /// `SwiftSIMDKernel` in C for AVX2 + FMA: the same tile, packing and bits.
    case avx2
    case avx512

    /// The kernel for `features`.
    init(_ features: CPUFeatures) {
        self = features.avx512 ? .avx512 : features.avx2 ? .avx2 : .swiftSIMD
    }

    /// The kernel for `CPUFeatures.enabled`, fixed for the process.
    static let selected = MicroKernel(CPUFeatures.enabled)

    /// Rows of C per micro-tile.
    var mr: Int {
        switch self {
        case .swiftSIMD, .avx2: return SwiftSIMDKernel.mr
        case .avx512: return Int(FM_AVX512_MR)
        }
    }

    /// Columns of C per micro-tile.
    var nr: Int {
        switch self {
        case .swiftSIMD, .avx2: return SwiftSIMDKernel.nr
        case .avx512: return Int(FM_AVX512_NR)
        }
    }

    /// C[rows, cols] = alpha * (packed A sliver x packed B sliver) + beta * C.
    @inline(__always)
    func run(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
             c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
             alpha: Float, beta: Float) {
        switch self {
        case .swiftSIMD:
            SwiftSIMDKernel.run(kc: kc, a: a, b: b, c: c, ldc: ldc, rows: rows, cols: cols,
                                alpha: alpha, beta: beta)
        case .avx2:
            fm_sgemm_kernel_avx2(kc, a, b, c, ldc, rows, cols, alpha, beta)
        case .avx512:
            fm_sgemm_kernel_avx512(kc, a, b, c, ldc, rows, cols, alpha, beta)
        }
    }
}

/// A 6 x 16 micro-kernel in Swift SIMD: twelve SIMD8 accumulators, two B vectors and one
/// broadcast per row, all kept in registers (NEON on arm64). fm_sgemm_kernel_avx2 is this kernel
/// in C, operation for operation.
enum SwiftSIMDKernel {
    static let mr = Int(FM_AVX2_MR)
    static let nr = Int(FM_AVX2_NR)

    typealias V = SIMD8<Float>

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    static func run(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                    c: UnsafeMutablePointer<Float>, ldc: Int, rows: Int, cols: Int,
                    alpha: Float, beta: Float) {
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        var ap = a
        var bp = b
        for _ in 0..<kc {
            let b0 = load(bp), b1 = load(bp + 8)
            var av = V(repeating: ap[0])
            c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: ap[1])
            c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: ap[2])
            c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: ap[3])
            c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            av = V(repeating: ap[4])
            c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
            av = V(repeating: ap[5])
            c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
            ap += 6
            bp += 16
        }
        let va = V(repeating: alpha), vb = V(repeating: beta)
        if rows == 6 && cols == 16 {
            store(c, c00, c01, va, vb, beta)
            store(c + ldc, c10, c11, va, vb, beta)
            store(c + 2 * ldc, c20, c21, va, vb, beta)
            store(c + 3 * ldc, c30, c31, va, vb, beta)
            store(c + 4 * ldc, c40, c41, va, vb, beta)
            store(c + 5 * ldc, c50, c51, va, vb, beta)
            return
        }
        // Ragged tile: finish in a stack tile, then copy the valid part with the same arithmetic.
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * 16) { tile in
            let t = tile.baseAddress!
            for r in 0..<rows {
                let dst = c + r * ldc
                (t + 16).update(repeating: 0, count: 16)
                if beta != 0 { (t + 16).update(from: dst, count: cols) }
                let acc: (V, V)
                switch r {
                case 0: acc = (c00, c01)
                case 1: acc = (c10, c11)
                case 2: acc = (c20, c21)
                case 3: acc = (c30, c31)
                case 4: acc = (c40, c41)
                default: acc = (c50, c51)
                }
                store(t, acc.0, acc.1, va, vb, beta, from: t + 16)
                for j in 0..<cols { dst[j] = t[j] }
            }
        }
    }

    /// dst[0..<16] = alpha * acc + beta * src (src defaults to dst; beta 0 never reads it).
    @inline(__always)
    static func store(_ dst: UnsafeMutablePointer<Float>, _ lo: V, _ hi: V, _ va: V, _ vb: V,
                      _ beta: Float, from src: UnsafeMutablePointer<Float>? = nil) {
        let s = src ?? dst
        let raw = UnsafeMutableRawPointer(dst)
        if beta == 0 {
            raw.storeBytes(of: va * lo, as: V.self)
            (raw + 32).storeBytes(of: va * hi, as: V.self)
        } else {
            let old0 = load(s), old1 = load(s + 8)
            raw.storeBytes(of: va * lo + vb * old0, as: V.self)
            (raw + 32).storeBytes(of: va * hi + vb * old1, as: V.self)
        }
    }
}
