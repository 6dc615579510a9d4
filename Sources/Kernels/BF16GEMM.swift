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

/// Which code computes bf16 products, best first.
public enum BF16Path: String, Sendable, CaseIterable {
    /// AMX tiles (TDPBF16PS).
    case amx
    /// AVX512-BF16 dot products (VDPBF16PS).
    case avx512bf16
    /// Operands rounded to bf16, then the fp32 kernels: any CPU, the same numerics.
    case software
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

/// C[M,N] = alpha * bf16(op(A))[M,K] * bf16(op(B))[K,N] + beta * C: `sgemm`'s contract, with
/// both operands rounded to bfloat16 (`roundedToBF16`) and the products summed in fp32.
///
/// Operands and C are fp32 in memory; rounding happens when the operands are packed.
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
    // Software path: round copies of the operands, then the fp32 product. Products of two bf16
    // values are exact in fp32 (8 + 8 significand bits), so only the summation order differs
    // from the hardware paths.
    let roundedA = UnsafeMutablePointer<Float>.allocate(capacity: max(1, m * k))
    let roundedB = UnsafeMutablePointer<Float>.allocate(capacity: max(1, k * n))
    defer { roundedA.deallocate(); roundedB.deallocate() }
    for i in 0..<m {
        for p in 0..<k {
            roundedA[i * k + p] = roundedToBF16(transA == .none ? a[i * lda + p] : a[p * lda + i])
        }
    }
    for p in 0..<k {
        for j in 0..<n {
            roundedB[p * n + j] = roundedToBF16(transB == .none ? b[p * ldb + j] : b[j * ldb + p])
        }
    }
    sgemm(transA: .none, transB: .none, m: m, n: n, k: k, alpha: alpha, a: roundedA, lda: k,
          b: roundedB, ldb: n, beta: beta, c: c, ldc: ldc, threading: threading, cpu: cpu)
}
