// Fully connected layer on a batch of vectors (PyTorch's nn.Linear layout).
//
//   x [N, in]      weight [out, in]      bias [out]      y [N, out]
//
//   y[n,o]    = bias[o] + sum_i x[n,i] * weight[o,i]          Y  = X W^T + b   (one GEMM)
//   dx[n,i]   = sum_o dy[n,o] * weight[o,i]                   dX = dY W
//   dW[o,i]   = sum_n dy[n,o] * x[n,i]                        dW = dY^T X
//   dbias[o]  = sum_n dy[n,o]
//
// In bf16 (`precision`, by default `Precision.current`) the three products run in `bf16gemm`:
// x and W rounded (forward), dY and W (input gradient), dY and x (weight gradient), fp32 sums;
// the bias and its gradient stay fp32.

/// y = x W^T + bias into `y` ([N, out]), the product in `precision`.
public func linearForward(_ x: Tensor, weight: Tensor, bias: Tensor?, into y: inout Tensor,
                          precision: Precision = .current) {
    require(x.rank == 2 && weight.rank == 2 && x.shape[1] == weight.shape[1],
                 "linear: input \(x.shape) does not match weight \(weight.shape) (expected [N, \(weight.shape.last ?? 0)])")
    let n = x.shape[0], inFeatures = x.shape[1], outFeatures = weight.shape[0]
    if let bias { require(bias.count == outFeatures, "linear: bias has \(bias.count) elements, expected \(outFeatures)") }
    y.resize(n, outFeatures)
    x.withUnsafeBufferPointer { xp in
    weight.withUnsafeBufferPointer { wp in
    y.withUnsafeMutableBufferPointer { yp in
        gemm(precision, transA: .none, transB: .transposed, m: n, n: outFeatures, k: inFeatures,
              alpha: 1, a: xp.baseAddress!, lda: inFeatures, b: wp.baseAddress!, ldb: inFeatures,
              beta: 0, c: yp.baseAddress!, ldc: outFeatures)
        if let bias {
            bias.withUnsafeBufferPointer { bp in
                for row in 0..<n {
                    for o in 0..<outFeatures { yp[row * outFeatures + o] += bp[o] }
                }
            }
        }
    }}}
}

/// Overwrites `gradWeight` ([out, in]) and, when `computeGradInput`, `gradInput` ([N, in]), the
/// products in `precision`.
public func linearBackward(input x: Tensor, weight: Tensor, gradOutput dy: Tensor,
                           gradInput dx: inout Tensor, gradWeight dw: inout Tensor,
                           computeGradInput: Bool = true, precision: Precision = .current) {
    let n = x.shape[0], inFeatures = x.shape[1], outFeatures = weight.shape[0]
    require(dy.rank == 2 && dy.shape[0] == n && dy.shape[1] == outFeatures,
                 "linear backward: gradient \(dy.shape) does not match the output [\(n), \(outFeatures)]")
    dw.resize(outFeatures, inFeatures)
    if computeGradInput { dx.resize(n, inFeatures) }
    x.withUnsafeBufferPointer { xp in
    weight.withUnsafeBufferPointer { wp in
    dy.withUnsafeBufferPointer { gp in
    dw.withUnsafeMutableBufferPointer { dwp in
        gemm(precision, transA: .transposed, transB: .none, m: outFeatures, n: inFeatures, k: n,
              alpha: 1, a: gp.baseAddress!, lda: outFeatures, b: xp.baseAddress!, ldb: inFeatures,
              beta: 0, c: dwp.baseAddress!, ldc: inFeatures)
        if computeGradInput {
            dx.withUnsafeMutableBufferPointer { dxp in
                gemm(precision, transA: .none, transB: .none, m: n, n: inFeatures, k: outFeatures,
                      alpha: 1, a: gp.baseAddress!, lda: outFeatures, b: wp.baseAddress!, ldb: inFeatures,
                      beta: 0, c: dxp.baseAddress!, ldc: inFeatures)
            }
        }
    }}}}
}

/// dbias[o] = sum over the batch of dy[n,o], into `gradBias` ([out]), accumulated in Double.
public func linearBiasBackward(gradOutput dy: Tensor, into gradBias: inout Tensor) {
    require(dy.rank == 2, "linear bias backward: expected [N, out], got \(dy.shape)")
    let n = dy.shape[0], outFeatures = dy.shape[1]
    if gradBias.shape.count != 1 || gradBias.shape[0] != outFeatures { gradBias.resize(to: [outFeatures]) }
    dy.withUnsafeBufferPointer { gp in
    gradBias.withUnsafeMutableBufferPointer { bp in
        for o in 0..<outFeatures {
            var s: Double = 0
            for row in 0..<n { s += Double(gp[row * outFeatures + o]) }
            bp[o] = Float(s)
        }
    }}
}

/// x W^T + bias for x [N, in], weight [out, in]. Allocating convenience over `linearForward`.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    var y = Tensor.empty
    linearForward(x, weight: weight, bias: bias, into: &y)
    return y
}
