import Foundation

// Softmax cross-entropy with label smoothing, averaged over the batch (PyTorch's
// F.cross_entropy(logits, labels, label_smoothing=eps)).
//
//   logits, p, dLogits [N, K]      labels [N] in 0..<K
//
//   p[n,k]  = exp(l[n,k]) / sum_j exp(l[n,j])          (computed with the row maximum subtracted)
//   q[n,k]  = (1 - eps) [k == label n] + eps / K        (the smoothed target)
//   loss    = (1/N) sum_n sum_k -q[n,k] log p[n,k]
//           = (1/N) sum_n ( logZ_n - (1 - eps) l[n,label] - (eps/K) sum_k l[n,k] )
//   dLogits = (p - q) / N

/// Computes the softmax of each row into `probabilities` ([N,K]) and returns the mean loss
/// (accumulated in Double).
public func softmaxCrossEntropyForward(logits: Tensor, labels: [Int], labelSmoothing eps: Float,
                                       probabilities p: inout Tensor) -> Float {
    require(logits.rank == 2 && logits.shape[0] == labels.count,
                 "cross-entropy: logits \(logits.shape) do not match \(labels.count) labels")
    let n = logits.shape[0], k = logits.shape[1]
    p.resize(n, k)
    var total: Double = 0
    logits.withUnsafeBufferPointer { lp in
    p.withUnsafeMutableBufferPointer { pp in
        for row in 0..<n {
            let label = labels[row]
            require(label >= 0 && label < k, "cross-entropy: label \(label) outside 0..<\(k)")
            let l = lp.baseAddress! + row * k, prob = pp.baseAddress! + row * k
            var maxLogit = l[0]
            for j in 1..<k where l[j] > maxLogit { maxLogit = l[j] }
            var sumExp: Double = 0, sumLogits: Double = 0
            for j in 0..<k {
                let e = exp(Double(l[j] - maxLogit))
                prob[j] = Float(e)
                sumExp += e
                sumLogits += Double(l[j])
            }
            let inv = 1 / sumExp
            for j in 0..<k { prob[j] = Float(Double(prob[j]) * inv) }
            let logZ = Double(maxLogit) + log(sumExp)
            total += logZ - Double(1 - eps) * Double(l[label]) - Double(eps) / Double(k) * sumLogits
        }
    }}
    return Float(total / Double(n))
}

/// dLogits = (p - q) / N into `dLogits` ([N,K]), from the forward pass's probabilities.
public func softmaxCrossEntropyBackward(probabilities p: Tensor, labels: [Int], labelSmoothing eps: Float,
                                        into dLogits: inout Tensor) {
    let n = p.shape[0], k = p.shape[1]
    require(labels.count == n, "cross-entropy backward: \(labels.count) labels for \(n) rows")
    dLogits.resize(n, k)
    let invN = 1 / Float(n), offTarget = eps / Float(k), onTarget = 1 - eps + eps / Float(k)
    p.withUnsafeBufferPointer { pp in
    dLogits.withUnsafeMutableBufferPointer { dp in
        for row in 0..<n {
            for j in 0..<k {
                let q = j == labels[row] ? onTarget : offTarget
                dp[row * k + j] = (pp[row * k + j] - q) * invN
            }
        }
    }}
}
