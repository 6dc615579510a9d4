// How the precision of the products reaches the ops: a scoped value, like the thread count.
//
// Precision is a property of how a computation runs, not of a model's state (the master weights
// are fp32 either way), just as the thread count is; so it travels the same way: a task-local
// value that the trainer, `evaluate` and `predict` set for the code they run, and that the
// convolution and linear ops read where they choose their method. No library code writes it
// process-wide, and layers need no new property (containers would otherwise have to hand it to
// every child, and every new layer type to know of it).

extension Precision {
    /// The precision of the convolution and linear products in the code running here: the
    /// innermost `Precision.with` scope of this task or thread, else fp32.
    ///
    /// Read on the thread that calls an op (the ops decide before they split work over
    /// threads), so `parallelFor` workers need not see it. Code on threads a task-local does not
    /// reach (a `DispatchQueue`, a `Thread`) runs in fp32 unless it opens its own scope.
    public static var current: Precision { scoped }

    /// Runs `body` with `Precision.current == precision` for everything it calls on this task
    /// or thread (child tasks inherit it); the previous value applies again when it returns.
    public static func with<R>(_ precision: Precision, _ body: () throws -> R) rethrows -> R {
        try $scoped.withValue(precision, operation: body)
    }

    /// The innermost scope's value.
    @TaskLocal private static var scoped: Precision = .fp32
}

/// `sgemm` in fp32, `bf16gemm` in bf16: the one switch the ops' products go through.
@inline(__always)
func gemm(
    _ precision: Precision, transA: Transpose, transB: Transpose, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int, threading: GEMMThreading = .automatic
) {
    switch precision {
    case .fp32:
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
              beta: beta, c: c, ldc: ldc, threading: threading)
    case .bf16:
        bf16gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                 beta: beta, c: c, ldc: ldc, threading: threading)
    }
}
