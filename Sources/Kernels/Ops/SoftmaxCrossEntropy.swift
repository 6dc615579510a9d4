import Foundation

// Softmax cross-entropy with label smoothing, averaged or summed over the batch (PyTorch's
// F.cross_entropy(logits, labels, label_smoothing=eps, reduction='mean' or 'sum')).
//
//   logits, p, dLogits [N, K]      labels [N] in 0..<K
//
//   p[n,k]  = exp(l[n,k]) / sum_j exp(l[n,j])          (computed with the row maximum subtracted)
//   q[n,k]  = (1 - eps) [k == label n] + eps / K        (the smoothed target)
//   loss    = s sum_n sum_k -q[n,k] log p[n,k]
//           = s sum_n ( logZ_n - (1 - eps) l[n,label] - (eps/K) sum_k l[n,k] )
//   dLogits = s (p - q)
//   s       = 1/N (mean) or 1 (sum)

/// How the per-image losses of a batch combine into the loss.
public enum LossReduction: String, Sendable, Codable, CaseIterable {
    /// The mean over the batch (PyTorch's default): the gradient does not grow with the batch.
    case mean
    /// The sum over the batch: the gradient grows with the batch, so the learning rate is per
    /// image (airbench's form, whose learning rate is given per 1,024 examples).
    case sum

    /// The factor s applied to the summed loss of `count` images.
    func scale(count: Int) -> Double { self == .mean ? 1 / Double(max(count, 1)) : 1 }
}

/// Computes the softmax of each row into `probabilities` ([N,K]) and returns the loss, the mean
/// or the sum over the rows by `reduction` (accumulated in Double).
public func softmaxCrossEntropyForward(logits: Tensor, labels: [Int], labelSmoothing eps: Float,
                                       reduction: LossReduction = .mean, probabilities p: inout Tensor) -> Float {
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
    return Float(total * reduction.scale(count: n))
}

/// dLogits = s (p - q) into `dLogits` ([N,K]), from the forward pass's probabilities (s = 1/N
/// for the mean, 1 for the sum).
public func softmaxCrossEntropyBackward(probabilities p: Tensor, labels: [Int], labelSmoothing eps: Float,
                                        reduction: LossReduction = .mean, into dLogits: inout Tensor) {
    let n = p.shape[0], k = p.shape[1]
    require(labels.count == n, "cross-entropy backward: \(labels.count) labels for \(n) rows")
    dLogits.resize(n, k)
    let scale = Float(reduction.scale(count: n)), offTarget = eps / Float(k), onTarget = 1 - eps + eps / Float(k)
    p.withUnsafeBufferPointer { pp in
    dLogits.withUnsafeMutableBufferPointer { dp in
        for row in 0..<n {
            for j in 0..<k {
                let q = j == labels[row] ? onTarget : offTarget
                dp[row * k + j] = (pp[row * k + j] - q) * scale
            }
        }
    }}
}
