// Synchronised batch normalisation: one batch spread over several processes, each holding a
// shard, normalised with the statistics of the whole batch (PyTorch's SyncBatchNorm). The
// formulas are BatchNorm2d.swift's with every per-channel sum taken over all shards:
//
//   forward:  [sum x (per channel), M_local] summed over the processes -> mean, M;
//             sum (x - mean)^2 summed over the processes -> var = that / M
//   backward: each process's dy is the gradient of its own share of the loss. With w = its
//             weight in the global loss (the shard's share of the batch for a mean loss, 1 for a
//             summed one), the global gradient is w dy, so the processes sum w sum dy and
//             w sum dy xhat, and each uses dx = gamma invStd (dy - (S_dy / w) / M - xhat (S_dyxhat / w) / M),
//             which is 1/w times the global dx, as the rest of its backward pass expects.
//             dgamma and dbeta stay the shard's own sums: the gradient sum over the processes
//             that follows the backward pass adds them up like every other parameter's.
//
// Kernels knows nothing of processes: the sums go through `BatchNormSynchronization.sum`.

/// How synchronised batch norms reach the other processes: `sum` replaces each element of a
/// vector by its sum over the processes (the same bits on each, in a fixed order), and
/// `gradientWeight` is this process's weight in the global loss for the current step.
package final class BatchNormSynchronization {
    package let sum: (inout [Double]) -> Void
    package var gradientWeight: Double = 1
    /// Vectors of sums, lent to one batch norm pass at a time and kept for the next (the batch
    /// norms of a network run one after another), so a step does not allocate.
    private var spare: [[Double]] = [[], []]

    package init(sum: @escaping (inout [Double]) -> Void) { self.sum = sum }

    /// A vector of `count` zeros, reusing a spare vector's storage; give it back with `recycle`.
    func borrow(_ count: Int) -> [Double] {
        var v = spare.popLast() ?? []
        v.removeAll(keepingCapacity: true)
        v.append(contentsOf: repeatElement(0, count: count))
        return v
    }

    func recycle(_ v: [Double]) { spare.append(v) }
}

/// The training-mode forward pass with the whole batch's statistics (see the top of this file);
/// otherwise as `batchNorm2dForward` with `training: true`.
package func batchNorm2dForwardSynchronized(
    _ x: Tensor, weight: Tensor, bias: Tensor, eps: Float, momentum: Float, activation: BatchNormActivation,
    synchronization: BatchNormSynchronization,
    runningMean: inout Tensor, runningVar: inout Tensor,
    savedMean: inout Tensor, savedInvStd: inout Tensor, into y: inout Tensor
) {
    require(x.rank == 4, "batch norm input must be [N,C,H,W], got \(x.shape)")
    let n = x.shape[0], c = x.shape[1], plane = x.shape[2] * x.shape[3]
    require(weight.count == c && bias.count == c && runningMean.count == c && runningVar.count == c,
            "batch norm: parameters do not have \(c) channels")
    y.resize(like: x)
    if savedMean.count != c { savedMean.resize(to: [c]) }
    if savedInvStd.count != c { savedInvStd.resize(to: [c]) }
    var sums = synchronization.borrow(c + 1)
    var squares = synchronization.borrow(c)
    defer { synchronization.recycle(sums); synchronization.recycle(squares) }
    var m = 0.0
    x.withUnsafeBufferPointer { xp in
        let src = xp.baseAddress!, cpu = CPUFeatures.enabled
        sums.withUnsafeMutableBufferPointer { out in
            forEachChannelChunk(c) { chunk in
                channelChunkTotals(src, src, n: n, c: c, plane: plane, channels: chunk, cpu: cpu, kind: { _ in PlainSum() }) { ch, sum, _ in
                    out[ch] = sum
                }
            }
        }
        sums[c] = Double(n * plane)
        synchronization.sum(&sums)
        m = sums[c]
        let means = sums
        squares.withUnsafeMutableBufferPointer { out in
            forEachChannelChunk(c) { chunk in
                channelChunkTotals(src, src, n: n, c: c, plane: plane, channels: chunk, cpu: cpu,
                                   kind: { SquaredDeviations(mean: Float(means[$0] / m)) }) { ch, _, squares in
                    out[ch] = squares
                }
            }
        }
    }
    require(m > 1, "batch norm: training needs more than one value per channel, got \(m) over the processes")
    synchronization.sum(&squares)
    x.withUnsafeBufferPointer { xp in
    y.withUnsafeMutableBufferPointer { yp in
    weight.withUnsafeBufferPointer { gp in
    bias.withUnsafeBufferPointer { bp in
    runningMean.withUnsafeMutableBufferPointer { rMean in
    runningVar.withUnsafeMutableBufferPointer { rVar in
    savedMean.withUnsafeMutableBufferPointer { sMean in
    savedInvStd.withUnsafeMutableBufferPointer { sInv in
        let src = xp.baseAddress!, dst = yp.baseAddress!, cpu = CPUFeatures.enabled
        forEachChannelChunk(c) { chunk in
            for ch in chunk {
                let mean = sums[ch] / m, variance = squares[ch] / m
                rMean[ch] = (1 - momentum) * rMean[ch] + momentum * Float(mean)
                rVar[ch] = (1 - momentum) * rVar[ch] + momentum * Float(variance * m / (m - 1))
                sMean[ch] = Float(mean)
                sInv[ch] = Float(1 / (variance + Double(eps)).squareRoot())
            }
            normalizeChunk(src, dst, n: n, c: c, plane: plane, channels: chunk, activation: activation, cpu: cpu) { ch in
                affine(gamma: gp[ch], beta: bp[ch], mean: sMean[ch], invStd: sInv[ch])
            }
        }
    }}}}}}}}
}

/// The backward pass of `batchNorm2dForwardSynchronized` (see the top of this file); otherwise
/// as `batchNorm2dBackward` with `usedBatchStatistics: true`.
package func batchNorm2dBackwardSynchronized(
    input x: Tensor, weight: Tensor, savedMean: Tensor, savedInvStd: Tensor, gradOutput dy: Tensor,
    activation: BatchNormActivation, activationBias: Tensor?, synchronization: BatchNormSynchronization,
    gradInput dx: inout Tensor, gradWeight: inout Tensor, gradBias: inout Tensor
) {
    require(x.shape == dy.shape, "batch norm backward: gradient \(dy.shape) does not match input \(x.shape)")
    require((activation == .none) == (activationBias == nil), "batch norm backward: a fused activation needs the forward pass's bias")
    let n = x.shape[0], c = x.shape[1], plane = x.shape[2] * x.shape[3]
    let reluBias = activation == .relu ? activationBias : nil
    dx.resize(like: x)
    // A fused GELU's gradient goes into dx first (see batchNorm2dBackward); the passes below read it there.
    if activation == .gelu, let bias = activationBias {
        x.withUnsafeBufferPointer { xp in
        dy.withUnsafeBufferPointer { gp in
        dx.withUnsafeMutableBufferPointer { dxp in
            forEachChannelChunk(c) { chunk in
                geluGradientChunk(xp.baseAddress!, gp.baseAddress!, dxp.baseAddress!, n: n, c: c, plane: plane, channels: chunk,
                                  cpu: CPUFeatures.enabled) { ch in
                    affine(gamma: weight.storage[ch], beta: bias.storage[ch], mean: savedMean.storage[ch], invStd: savedInvStd.storage[ch])
                }
            }
        }}}
    }
    if gradWeight.count != c { gradWeight.resize(to: [c]) }
    if gradBias.count != c { gradBias.resize(to: [c]) }
    let w = synchronization.gradientWeight
    var sums = synchronization.borrow(2 * c + 1)
    defer { synchronization.recycle(sums) }
    func mask(_ ch: Int) -> (scale: Float, shift: Float)? {
        reluBias.map { affine(gamma: weight.storage[ch], beta: $0.storage[ch], mean: savedMean.storage[ch], invStd: savedInvStd.storage[ch]) }
    }
    x.withUnsafeBufferPointer { xp in
    (activation == .gelu ? dx : dy).withUnsafeBufferPointer { gp in
    gradWeight.withUnsafeMutableBufferPointer { dGamma in
    gradBias.withUnsafeMutableBufferPointer { dBeta in
    savedMean.withUnsafeBufferPointer { sMean in
    savedInvStd.withUnsafeBufferPointer { sInv in
    sums.withUnsafeMutableBufferPointer { out in
        forEachChannelChunk(c) { chunk in
            gradientChunkSums(gp.baseAddress!, xp.baseAddress!, n: n, c: c, plane: plane, channels: chunk, cpu: CPUFeatures.enabled,
                              means: sMean.baseAddress!, masked: reluBias != nil, mask: { mask($0) ?? (0, 0) }) { ch, sumDy, centered in
                let sumDyXhat = centered * Double(sInv[ch])
                dBeta[ch] = Float(sumDy)
                dGamma[ch] = Float(sumDyXhat)
                out[ch] = w * sumDy
                out[c + ch] = w * sumDyXhat
            }
        }
    }}}}}}}
    sums[2 * c] = Double(n * plane)
    synchronization.sum(&sums)
    let m = sums[2 * c]
    x.withUnsafeBufferPointer { xp in
    dy.withUnsafeBufferPointer { gp in
    dx.withUnsafeMutableBufferPointer { dxp in
        let g = activation == .gelu ? UnsafePointer(dxp.baseAddress!) : gp.baseAddress!
        forEachChannelChunk(c) { chunk in
            inputGradientChunk(xp.baseAddress!, g, dxp.baseAddress!, n: n, c: c, plane: plane, channels: chunk,
                               masked: reluBias != nil, cpu: CPUFeatures.enabled) { ch in
                (weight.storage[ch], savedMean.storage[ch], savedInvStd.storage[ch],
                 Float(sums[ch] / w / m), Float(sums[c + ch] / w / m), mask(ch) ?? (0, 0))
            }
        }
    }}}
}
