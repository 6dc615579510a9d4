import Testing
import Kernels

/// Deterministic pseudo-random values in [-1, 1) (a 64-bit LCG), so failures reproduce.
private func randomMatrix(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: state >> 11) % 2_000_000) / 1_000_000 - 1
    }
}

private struct Case: CustomStringConvertible {
    var m: Int, n: Int, k: Int
    var transA: Transpose = .none, transB: Transpose = .none
    var alpha: Float = 1, beta: Float = 0
    /// Extra elements per row beyond the logical width, to exercise ld > width.
    var pad = 0
    var description: String { "\(m)x\(k)x\(n) \(transA)/\(transB) alpha \(alpha) beta \(beta) pad \(pad)" }
}

/// Runs `sgemm` and the naive loop on the same inputs; returns the worst error relative to
/// the sum of |a||b| terms (the scale of the rounding error of a length-k dot product).
/// The GEMM entry points under test: the shipped one (AVX-512 kernel where the CPU has it), the
/// Swift SIMD kernel's AVX2 form (AVX2-only x86-64; the Swift kernel where the CPU lacks AVX2)
/// and the Swift SIMD kernel itself (arm64), so all run on every CI machine that has them.
private typealias GEMMFunction = @Sendable (Transpose, Transpose, Int, Int, Int, Float, UnsafePointer<Float>, Int,
                                  UnsafePointer<Float>, Int, Float, UnsafeMutablePointer<Float>, Int) -> Void
private let gemmVariants: [GEMMFunction] = [
    { sgemm(transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12) },
    { sgemm(transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12,
            cpu: .portable) },
    { sgemm(transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9, beta: $10, c: $11, ldc: $12,
            cpu: CPUFeatures.detected.limited(to: "avx2")) },
]

private func worstError(_ t: Case, cFill: Float? = nil) -> Float {
    gemmVariants.map { worstError(t, cFill: cFill, using: $0) }.max()!
}

private func worstError(_ t: Case, cFill: Float?, using gemm: GEMMFunction) -> Float {
    let (m, n, k) = (t.m, t.n, t.k)
    let aRows = t.transA == .none ? m : k, aCols = t.transA == .none ? k : m
    let bRows = t.transB == .none ? k : n, bCols = t.transB == .none ? n : k
    let lda = aCols + t.pad, ldb = bCols + t.pad, ldc = n + t.pad
    let a = randomMatrix(max(1, aRows * lda), seed: UInt64(m * 131 + k))
    let b = randomMatrix(max(1, bRows * ldb), seed: UInt64(n * 17 + k * 3))
    let c0 = cFill.map { [Float](repeating: $0, count: max(1, m * ldc)) }
        ?? randomMatrix(max(1, m * ldc), seed: UInt64(m + n))
    var fast = c0, slow = c0
    var scale = [Float](repeating: 0, count: max(1, m * ldc))
    let absA = a.map(abs), absB = b.map(abs)
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            fast.withUnsafeMutableBufferPointer { pc in
                gemm(t.transA, t.transB, m, n, k, t.alpha, pa.baseAddress!, lda, pb.baseAddress!, ldb,
                     t.beta, pc.baseAddress!, ldc)
            }
            slow.withUnsafeMutableBufferPointer { pc in
                sgemmReference(transA: t.transA, transB: t.transB, m: m, n: n, k: k, alpha: t.alpha,
                               a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                               beta: t.beta, c: pc.baseAddress!, ldc: ldc)
            }
        }
    }
    absA.withUnsafeBufferPointer { pa in
        absB.withUnsafeBufferPointer { pb in
            scale.withUnsafeMutableBufferPointer { ps in
                sgemmReference(transA: t.transA, transB: t.transB, m: m, n: n, k: k, alpha: 1,
                               a: pa.baseAddress!, lda: lda, b: pb.baseAddress!, ldb: ldb,
                               beta: 0, c: ps.baseAddress!, ldc: ldc)
            }
        }
    }
    var worst: Float = 0
    for i in 0..<m {
        for j in 0..<n {
            let idx = i * ldc + j
            let prior = t.beta == 0 ? 0 : abs(t.beta * c0[idx])
            let bound = abs(t.alpha) * scale[idx] + prior + 1e-30
            let e = abs(fast[idx] - slow[idx]) / bound
            worst = max(worst, e.isNaN ? .infinity : e)
        }
        // Padding columns beyond n must be left alone.
        for j in n..<ldc where fast[i * ldc + j] != c0[i * ldc + j] && !c0[i * ldc + j].isNaN {
            return .infinity
        }
    }
    return worst
}

/// Shapes around every blocking edge: 1s, primes, ragged micro-tiles, tall, wide, K past one block.
/// For A * B^T the AVX-512 kernel has two forms (KernelsC.h): (70, 97, 260), (40, 70, 1100) and
/// (33, 65, 45) take the outer-product form (ragged 32-row and 8-column tiles, K past one 512
/// block, K tails that are not a multiple of 16), (9, 4, 1100) and (17, 26, 2100) the dot-product
/// form.
private let shapes: [(Int, Int, Int)] = [
    (1, 1, 1), (1, 17, 5), (9, 1, 3), (7, 17, 13), (31, 41, 37), (6, 16, 8), (8, 48, 9),
    (13, 50, 300), (200, 3, 20), (3, 1100, 7), (70, 97, 260), (16, 530, 75), (193, 33, 5),
    (9, 4, 1100), (17, 26, 2100), (40, 70, 1100), (33, 65, 45),
]

@Test(arguments: [Transpose.none, .transposed], [Transpose.none, .transposed])
func gemmMatchesNaiveLoop(transA: Transpose, transB: Transpose) {
    for (m, n, k) in shapes {
        let t = Case(m: m, n: n, k: k, transA: transA, transB: transB, pad: (m + n) % 3)
        let e = worstError(t)
        #expect(e < 1e-5, "\(t): relative error \(e)")
    }
}

@Test func gemmAlphaBeta() {
    for (alpha, beta) in [(Float(2.5), Float(0)), (1, 1), (-0.5, 0.75), (0, 2), (1, -1)] {
        for (m, n, k) in [(7, 17, 13), (37, 101, 300), (40, 70, 1100)] {
            for (ta, tb) in [(Transpose.transposed, Transpose.none), (.none, .transposed)] {
                let t = Case(m: m, n: n, k: k, transA: ta, transB: tb, alpha: alpha, beta: beta, pad: 1)
                let e = worstError(t)
                #expect(e < 1e-5, "\(t): relative error \(e)")
            }
        }
    }
}

@Test func gemmBetaZeroIgnoresNaNInC() {
    for (m, n, k) in [(7, 17, 13), (64, 200, 40), (5, 3, 0)] {
        let t = Case(m: m, n: n, k: k, alpha: 1, beta: 0)
        let e = worstError(t, cFill: .nan)
        #expect(e < 1e-5, "\(t): relative error \(e)")
    }
}

@Test func gemmKZeroScalesC() {
    var c: [Float] = [1, 2, 3, 4, 5, 6]
    let a: [Float] = [0], b: [Float] = [0]
    sgemm(transA: .none, transB: .none, m: 2, n: 3, k: 0, alpha: 1, a: a, lda: 1, b: b, ldb: 3,
          beta: 0.5, c: &c, ldc: 3)
    #expect(c == [0.5, 1, 1.5, 2, 2.5, 3])
}

@Test func gemmHandComputedProduct() {
    // [1 2; 3 4] x [5 6; 7 8] = [19 22; 43 50]
    let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8]
    var c = [Float](repeating: 0, count: 4)
    sgemm(transA: .none, transB: .none, m: 2, n: 2, k: 2, alpha: 1, a: a, lda: 2, b: b, ldb: 2,
          beta: 0, c: &c, ldc: 2)
    #expect(c == [19, 22, 43, 50])
    // op(A) = A^T: [1 3; 2 4] x B = [26 30; 38 44]
    sgemm(transA: .transposed, transB: .none, m: 2, n: 2, k: 2, alpha: 1, a: a, lda: 2, b: b, ldb: 2,
          beta: 0, c: &c, ldc: 2)
    #expect(c == [26, 30, 38, 44])
}

@Test func gemmLargeMultithreadedAndRepeatable() {
    // Large enough to be split over threads, with ragged edges on every blocking level.
    let t = Case(m: 150, n: 1100, k: 300, transA: .none, transB: .transposed, pad: 3)
    let e = worstError(t)
    #expect(e < 1e-5, "\(t): relative error \(e)")
    let tall = Case(m: 1100, n: 90, k: 280, transA: .transposed, transB: .none)
    #expect(worstError(tall) < 1e-5)

    let (m, n, k) = (97, 1031, 263)
    let a = randomMatrix(m * k, seed: 1), b = randomMatrix(k * n, seed: 2)
    var first = [Float](repeating: 0, count: m * n), second = first
    sgemm(transA: .none, transB: .none, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n,
          beta: 0, c: &first, ldc: n)
    sgemm(transA: .none, transB: .none, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n,
          beta: 0, c: &second, ldc: n)
    #expect(first == second, "two calls with the same thread count differ")
}

/// The plain triple loop that defines `sgemm`'s result (slow).
func sgemmReference(
    transA: Transpose, transB: Transpose,
    m: Int, n: Int, k: Int,
    alpha: Float,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int
) {
    for i in 0..<m {
        for j in 0..<n {
            var acc: Float = 0
            for p in 0..<k {
                let av = transA == .none ? a[i * lda + p] : a[p * lda + i]
                let bv = transB == .none ? b[p * ldb + j] : b[j * ldb + p]
                acc += av * bv
            }
            let prior = beta == 0 ? 0 : beta * c[i * ldc + j]
            c[i * ldc + j] = alpha * acc + prior
        }
    }
}

@Test(.enabled(if: CPUFeatures.detected.avx2, "this CPU has no AVX2 + FMA: only the Swift SIMD kernel runs"))
func gemmAVX2KernelGivesTheSwiftKernelsBits() {
    // Full and ragged tiles, beta 0 and not: the C form must do the Swift kernel's operations.
    var rng = SeededGenerator(seed: 7)
    for (m, n, k, beta) in [(12, 32, 40, Float(0)), (13, 37, 29, 0.5), (6, 16, 1, 1), (50, 70, 300, -1)] {
        let a = randomTensor([m, k], &rng).storage, b = randomTensor([k, n], &rng).storage
        let c0 = randomTensor([m, n], &rng).storage
        var results: [[UInt32]] = []
        for cpu in [CPUFeatures.portable, CPUFeatures(avx2: true)] {
            var c = c0
            sgemm(transA: .none, transB: .none, m: m, n: n, k: k, alpha: 1.5, a: a, lda: k, b: b, ldb: n,
                  beta: beta, c: &c, ldc: n, cpu: cpu)
            results.append(c.map(\.bitPattern))
        }
        #expect(results[0] == results[1], "\(m)x\(n)x\(k) beta \(beta)")
    }
}
