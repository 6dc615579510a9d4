/// Whether a GEMM operand is read as stored or transposed.
public enum Transpose: Sendable {
    case none, transposed
}

/// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, single precision, row-major.
///
/// `lda`, `ldb`, `ldc` are row strides (in elements) of A, B, C as stored: A is stored
/// [M,K] (or [K,M] when transposed), B is stored [K,N] (or [N,K] when transposed).
/// When `beta` is 0, C is overwritten without being read (NaNs in C do not propagate).
///
/// REFERENCE IMPLEMENTATION: a plain triple loop that fixes the interface. The fast packed,
/// cache-blocked, SIMD, multi-threaded version replaces this body.
public func sgemm(
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
