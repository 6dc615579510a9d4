import KernelsC

// Batch normalisation over the batch and spatial dimensions of each channel (PyTorch's BatchNorm2d).
//
//   x, y [N, C, H, W]      weight (gamma), bias (beta), running mean/var, saved mean/invStd: [C]
//   M = N*H*W values per channel
//
// Training (batch statistics):
//   mean[c] = (1/M) sum x         var[c] = (1/M) sum (x - mean)^2  (biased: used to normalise)
//   invStd  = 1 / sqrt(var + eps)      xhat = (x - mean) invStd      y = gamma xhat + beta
//   running_mean = (1 - momentum) running_mean + momentum mean
//   running_var  = (1 - momentum) running_var  + momentum var M/(M-1)   (unbiased, as PyTorch)
// Evaluation: the same y with mean = running_mean and var = running_var.
//
// Backward, per channel, with the statistics of the forward pass:
//   dbeta = sum dy        dgamma = sum dy xhat
//   training:   dx = gamma invStd (dy - dbeta/M - xhat dgamma/M)   (the statistics depend on x)
//   evaluation: dx = gamma invStd dy                                 (they are constants)
//
// Fused with a following ReLU (z = max(y, 0)): the forward writes z instead of y, and the backward
// takes dz and uses the ReLU's gradient dy = dz [y > 0], recomputing y from x with the forward's
// own expression (x * scale + shift, so the same bits) instead of reading another tensor. That
// saves the ReLU's passes over memory (a read and a write forward, two reads and a write backward)
// and gives the same bits as running the two layers one after the other.
//
// Fused with a following GELU (z = GELU(y), `ConvGroup`'s norm -> activ): the forward writes z
// instead of y (GELU.swift's lanes on y in registers), and the backward takes dz, writes
// dy = GELU'(y) dz into dx (y recomputed from x as above) in the pass that sums dy and
// dy (x - mean), then computes dx from that dy in place. The GELU's read and write of y go,
// and y is never stored (a tensor per batch norm less to keep for the backward); the bits are
// those of the two layers run one after the other.
//
// Channel sums are Float sums over groups of images added in Double, in a fixed order; each
// chunk of channels is owned by one thread. Where the CPU has AVX2 or AVX-512 the passes run as C
// (portable_kernels_body.h, the same expressions and bits; the Swift target is compiled for SSE2
// on x86-64) and read a chunk of channels image by image, each image's planes of the chunk one
// stretch of memory: read channel by channel, a plane per image c planes apart, the passes ran at
// half the memory's speed or less (VGG's bf16 step spent 11% in them).

/// Normalises `x` into `y`. In training mode uses and updates the batch statistics (and the
/// running ones); in evaluation mode uses the running ones. Either way `savedMean` and
/// `savedInvStd` ([C]) receive the statistics used, for `batchNorm2dBackward`. With
/// `applyingReLU`, writes max(y, 0) instead (a BatchNorm2d followed by a ReLU in one pass).
public func batchNorm2dForward(
    _ x: Tensor, weight: Tensor, bias: Tensor, eps: Float, momentum: Float, training: Bool,
    applyingReLU: Bool = false,
    runningMean: inout Tensor, runningVar: inout Tensor,
    savedMean: inout Tensor, savedInvStd: inout Tensor, into y: inout Tensor
) {
    batchNorm2dForward(x, weight: weight, bias: bias, eps: eps, momentum: momentum, training: training,
                       activation: applyingReLU ? .relu : .none, runningMean: &runningMean, runningVar: &runningVar,
                       savedMean: &savedMean, savedInvStd: &savedInvStd, into: &y)
}

/// What a batch-norm pass applies to its output: nothing, or the activation after it, fused in
/// (`Sequential` fuses a following ReLU, `ConvGroup` its GELUs). Either fused form gives the bits
/// of the two layers run one after the other.
package enum BatchNormActivation: Sendable, Equatable {
    /// y itself.
    case none
    /// max(y, 0).
    case relu
    /// GELU(y), the exact (erf) form.
    case gelu
}

/// `batchNorm2dForward` followed by `activation` (see `BatchNormActivation`); the next backward
/// pass then takes the activation output's gradient and the forward pass's `activation` and bias.
package func batchNorm2dForward(
    _ x: Tensor, weight: Tensor, bias: Tensor, eps: Float, momentum: Float, training: Bool,
    activation: BatchNormActivation,
    runningMean: inout Tensor, runningVar: inout Tensor,
    savedMean: inout Tensor, savedInvStd: inout Tensor, into y: inout Tensor
) {
    require(x.rank == 4, "batch norm input must be [N,C,H,W], got \(x.shape)")
    let n = x.shape[0], c = x.shape[1], plane = x.shape[2] * x.shape[3], m = n * plane
    require(weight.count == c && bias.count == c && runningMean.count == c && runningVar.count == c,
                 "batch norm: parameters do not have \(c) channels")
    require(!training || m > 1, "batch norm: training needs more than one value per channel, got input \(x.shape)")
    y.resize(like: x)
    if savedMean.count != c { savedMean.resize(to: [c]) }
    if savedInvStd.count != c { savedInvStd.resize(to: [c]) }
    x.withUnsafeBufferPointer { xp in
    y.withUnsafeMutableBufferPointer { yp in
    weight.withUnsafeBufferPointer { gp in
    bias.withUnsafeBufferPointer { bp in
    runningMean.withUnsafeMutableBufferPointer { rmp in
    runningVar.withUnsafeMutableBufferPointer { rvp in
    savedMean.withUnsafeMutableBufferPointer { smp in
    savedInvStd.withUnsafeMutableBufferPointer { sip in
        let src = xp.baseAddress!, dst = yp.baseAddress!, cpu = CPUFeatures.enabled
        let gamma = gp.baseAddress!, beta = bp.baseAddress!
        let rMean = rmp.baseAddress!, rVar = rvp.baseAddress!, sMean = smp.baseAddress!, sInv = sip.baseAddress!
        forEachChannelChunk(c) { chunk in
            if training {
                channelChunkTotals(src, src, n: n, c: c, plane: plane, channels: chunk, cpu: cpu, kind: { _ in PlainSum() }) { ch, sum, _ in
                    sMean[ch] = Float(sum / Double(m))
                }
                channelChunkTotals(src, src, n: n, c: c, plane: plane, channels: chunk, cpu: cpu,
                                   kind: { SquaredDeviations(mean: sMean[$0]) }) { ch, _, squares in
                    let variance = squares / Double(m)
                    rMean[ch] = (1 - momentum) * rMean[ch] + momentum * sMean[ch]
                    rVar[ch] = (1 - momentum) * rVar[ch] + momentum * Float(variance * Double(m) / Double(m - 1))
                    sInv[ch] = Float(1 / (variance + Double(eps)).squareRoot())
                }
            } else {
                for ch in chunk {
                    sMean[ch] = rMean[ch]
                    sInv[ch] = Float(1 / (Double(rVar[ch]) + Double(eps)).squareRoot())
                }
            }
            normalizeChunk(src, dst, n: n, c: c, plane: plane, channels: chunk, activation: activation, cpu: cpu) { ch in
                affine(gamma: gamma[ch], beta: beta[ch], mean: sMean[ch], invStd: sInv[ch])
            }
        }
    }}}}}}}}
}

/// y = x * scale + shift, then `activation`, over the planes of `channels` (at most
/// `channelChunk`), (scale, shift) = `coefficients(ch)`.
@inline(__always)
package func normalizeChunk(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, n: Int, c: Int, plane: Int,
                            channels: Range<Int>, activation: BatchNormActivation, cpu: CPUFeatures,
                            coefficients: (_ ch: Int) -> (scale: Float, shift: Float)) {
    guard cpu.avx512 || cpu.avx2 else {
        for ch in channels {
            let (scale, shift) = coefficients(ch)
            for img in 0..<n {
                let from = src + (img * c + ch) * plane, to = dst + (img * c + ch) * plane
                switch activation {
                case .none: for i in 0..<plane { to[i] = normalized(from[i], scale, shift) }
                case .relu: for i in 0..<plane { to[i] = ReLUFunction.apply(normalized(from[i], scale, shift)) }
                case .gelu:
                    forEachVector(count: plane, from, nil, to) { v, _ in GELUFunction.apply(v * scale + shift) }
                }
            }
        }
        return
    }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * channelChunk) { q in
        for (k, ch) in channels.enumerated() {
            (q[2 * k], q[2 * k + 1]) = coefficients(ch)
        }
        let mode: Int32 = switch activation { case .none: 0; case .relu: FM_BN_RELU; case .gelu: FM_BN_GELU }
        (cpu.avx512 ? fm_bn_forward_chunk_avx512 : fm_bn_forward_chunk_avx2)(
            src, dst, n, c, plane, channels.lowerBound, channels.count, q.baseAddress!, mode)
    }
}

/// dy = GELU'(x * scale + shift) dz over the planes of `channels` (at most `channelChunk`),
/// (scale, shift) = `coefficients(ch)`: the gradient of a GELU fused after batch norm, its input
/// recomputed as the forward pass computed it (GELU.swift's lanes, so the GELU layer's bits).
/// `dy` may be `dz`.
@inline(__always)
package func geluGradientChunk(_ x: UnsafePointer<Float>, _ dz: UnsafePointer<Float>, _ dy: UnsafeMutablePointer<Float>,
                               n: Int, c: Int, plane: Int, channels: Range<Int>, cpu: CPUFeatures,
                               coefficients: (_ ch: Int) -> (scale: Float, shift: Float)) {
    guard cpu.avx512 || cpu.avx2 else {
        for ch in channels {
            let (scale, shift) = coefficients(ch)
            for img in 0..<n {
                let at = (img * c + ch) * plane
                forEachVector(count: plane, x + at, dz + at, dy + at) { v, g in GELUGradient.apply(v * scale + shift, g) }
            }
        }
        return
    }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * channelChunk) { q in
        for (k, ch) in channels.enumerated() {
            (q[2 * k], q[2 * k + 1]) = coefficients(ch)
        }
        (cpu.avx512 ? fm_bn_gelu_gradient_chunk_avx512 : fm_bn_gelu_gradient_chunk_avx2)(
            x, dz, dy, n, c, plane, channels.lowerBound, channels.count, q.baseAddress!)
    }
}

/// `finish(ch, sum dy, sum dy (x - mean))` for each channel of `channels` (at most
/// `channelChunk`), with dy = GELU'(x * scale + shift) dz written into `dy` on the way,
/// (scale, shift) = `coefficients(ch)`, mean = `means[ch]`: `geluGradientChunk` then the unmasked
/// `gradientChunkSums` over dy, the same bits, in one pass over x and dz where the CPU has AVX2 or
/// AVX-512 (instead of writing dy and reading it back). `dy` must not overlap `dz` or `x`.
@inline(__always)
package func geluGradientChunkSums(_ x: UnsafePointer<Float>, _ dz: UnsafePointer<Float>, _ dy: UnsafeMutablePointer<Float>,
                                   n: Int, c: Int, plane: Int, channels: Range<Int>, cpu: CPUFeatures, means: UnsafePointer<Float>,
                                   coefficients: (_ ch: Int) -> (scale: Float, shift: Float),
                                   finish: (_ ch: Int, _ sumDy: Double, _ centered: Double) -> Void) {
    guard cpu.avx512 || cpu.avx2 else {
        geluGradientChunk(x, dz, dy, n: n, c: c, plane: plane, channels: channels, cpu: cpu, coefficients: coefficients)
        channelChunkTotals(UnsafePointer(dy), x, n: n, c: c, plane: plane, channels: channels, cpu: cpu,
                           kind: { CenteredDot(mean: means[$0]) }, finish: finish)
        return
    }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * channelChunk) { params in
    withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * channelChunk) { totals in
        for (k, ch) in channels.enumerated() {
            let (scale, shift) = coefficients(ch)
            (params[3 * k], params[3 * k + 1], params[3 * k + 2]) = (means[ch], scale, shift)
        }
        (cpu.avx512 ? fm_bn_gelu_gradient_sums_chunk_avx512 : fm_bn_gelu_gradient_sums_chunk_avx2)(
            x, dz, dy, n, c, plane, imagesPerSumGroup(plane: plane), channels.lowerBound, channels.count,
            params.baseAddress!, totals.baseAddress!, totals.baseAddress! + channelChunk)
        for (k, ch) in channels.enumerated() { finish(ch, totals[k], totals[channelChunk + k]) }
    }}
}

/// `out[0..<count] = f(a, b)` sixteen lanes at a time, the last vector's missing lanes zero (as
/// `mapVectors` pads a tensor's tail), `b` zeros when nil. Every lane of `f` is independent, so
/// each element gets the bits it gets in any other grouping. `out` may be `a` or `b`.
@inline(__always)
private func forEachVector(count: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>,
                           _ f: (SIMD16<Float>, SIMD16<Float>) -> SIMD16<Float>) {
    var i = 0
    while i + 16 <= count {
        let va = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self)
        let vb = b.map { UnsafeRawPointer($0 + i).loadUnaligned(as: SIMD16<Float>.self) } ?? SIMD16()
        UnsafeMutableRawPointer(out + i).storeBytes(of: f(va, vb), as: SIMD16<Float>.self)
        i += 16
    }
    guard i < count else { return }
    var va = SIMD16<Float>(), vb = SIMD16<Float>()
    for j in 0..<(count - i) {
        va[j] = a[i + j]
        if let b { vb[j] = b[i + j] }
    }
    let r = f(va, vb)
    for j in 0..<(count - i) { out[i + j] = r[j] }
}

/// Gradients of batch normalisation: overwrites `gradInput` ([N,C,H,W]), `gradWeight` and
/// `gradBias` ([C]). `savedMean`/`savedInvStd` are those the forward pass produced;
/// `usedBatchStatistics` is the forward pass's `training` flag. `reluBias`: when the forward
/// pass applied ReLU, the `bias` it used; `gradOutput` is then the gradient of the ReLU's output.
public func batchNorm2dBackward(
    input x: Tensor, weight: Tensor, savedMean: Tensor, savedInvStd: Tensor, gradOutput dy: Tensor,
    usedBatchStatistics: Bool, reluBias: Tensor? = nil,
    gradInput dx: inout Tensor, gradWeight: inout Tensor, gradBias: inout Tensor
) {
    batchNorm2dBackward(input: x, weight: weight, savedMean: savedMean, savedInvStd: savedInvStd, gradOutput: dy,
                        usedBatchStatistics: usedBatchStatistics, activation: reluBias == nil ? .none : .relu,
                        activationBias: reluBias, gradInput: &dx, gradWeight: &gradWeight, gradBias: &gradBias)
}

/// `batchNorm2dBackward` of a forward pass that applied `activation` with `activationBias` (its
/// `bias`; nil for `.none`): `gradOutput` is the activation output's gradient.
package func batchNorm2dBackward(
    input x: Tensor, weight: Tensor, savedMean: Tensor, savedInvStd: Tensor, gradOutput dy: Tensor,
    usedBatchStatistics: Bool, activation: BatchNormActivation, activationBias: Tensor?,
    gradInput dx: inout Tensor, gradWeight: inout Tensor, gradBias: inout Tensor
) {
    require(x.shape == dy.shape, "batch norm backward: gradient \(dy.shape) does not match input \(x.shape)")
    require((activation == .none) == (activationBias == nil), "batch norm backward: a fused activation needs the forward pass's bias")
    if let activationBias { require(activationBias.count == x.shape[1], "batch norm backward: bias does not have \(x.shape[1]) channels") }
    let reluBias = activation == .relu ? activationBias : nil, geluBias = activation == .gelu ? activationBias : nil
    let n = x.shape[0], c = x.shape[1], plane = x.shape[2] * x.shape[3], m = Float(n * plane)
    dx.resize(like: x)
    if gradWeight.count != c { gradWeight.resize(to: [c]) }
    if gradBias.count != c { gradBias.resize(to: [c]) }
    x.withUnsafeBufferPointer { xp in
    dy.withUnsafeBufferPointer { gp in
    dx.withUnsafeMutableBufferPointer { dxp in
    weight.withUnsafeBufferPointer { wp in
    savedMean.withUnsafeBufferPointer { smp in
    savedInvStd.withUnsafeBufferPointer { sip in
    gradWeight.withUnsafeMutableBufferPointer { dwp in
    gradBias.withUnsafeMutableBufferPointer { dbp in
    withOptionalBuffer(reluBias) { rbp in
    withOptionalBuffer(geluBias) { gbp in
        let src = xp.baseAddress!, d = dxp.baseAddress!, cpu = CPUFeatures.enabled
        // With a fused GELU, its gradient dy goes into dx first, and batch norm's passes read it there.
        let g = gbp == nil ? gp.baseAddress! : UnsafePointer(d)
        let gamma = wp.baseAddress!, sMean = smp.baseAddress!, sInv = sip.baseAddress!
        let dGamma = dwp.baseAddress!, dBeta = dbp.baseAddress!
        // The ReLU's mask, recomputed as the forward pass computed it. (Not an optional closure:
        // that would escape, and allocate its context every pass.)
        let masked = rbp != nil
        func mask(_ ch: Int) -> (scale: Float, shift: Float) {
            rbp.map { affine(gamma: gamma[ch], beta: $0[ch], mean: sMean[ch], invStd: sInv[ch]) } ?? (0, 0)
        }
        func finishSums(_ ch: Int, _ sumDy: Double, _ centered: Double) {
            dBeta[ch] = Float(sumDy)
            dGamma[ch] = Float(centered * Double(sInv[ch]))
        }
        forEachChannelChunk(c) { chunk in
            if let gbp {
                geluGradientChunkSums(src, gp.baseAddress!, d, n: n, c: c, plane: plane, channels: chunk, cpu: cpu, means: sMean,
                                      coefficients: { affine(gamma: gamma[$0], beta: gbp[$0], mean: sMean[$0], invStd: sInv[$0]) },
                                      finish: finishSums)
            } else {
                gradientChunkSums(g, src, n: n, c: c, plane: plane, channels: chunk, cpu: cpu, means: sMean, masked: masked, mask: mask,
                                  finish: finishSums)
            }
            inputGradientChunk(src, g, d, n: n, c: c, plane: plane, channels: chunk, masked: masked, cpu: cpu) { ch in
                (gamma[ch], sMean[ch], sInv[ch],
                 usedBatchStatistics ? dBeta[ch] / m : 0, usedBatchStatistics ? dGamma[ch] / m : 0, mask(ch))
            }
        }
    }}}}}}}}}}
}

/// `finish(ch, sum dy, sum dy (x - mean))` for each channel of `channels`, with dy, when
/// `masked`, through the fused ReLU's mask (x * scale + shift > 0, (scale, shift) = `mask(ch)`):
/// batch norm's backward sums.
@inline(__always)
func gradientChunkSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, n: Int, c: Int, plane: Int, channels: Range<Int>,
                       cpu: CPUFeatures, means: UnsafePointer<Float>, masked: Bool, mask: (Int) -> (scale: Float, shift: Float),
                       finish: (_ ch: Int, _ sumDy: Double, _ centered: Double) -> Void) {
    if masked {
        channelChunkTotals(g, x, n: n, c: c, plane: plane, channels: channels, cpu: cpu, kind: { ch in
            let mask = mask(ch)
            return MaskedCenteredDot(mean: means[ch], scale: mask.scale, shift: mask.shift)
        }, finish: finish)
    } else {
        channelChunkTotals(g, x, n: n, c: c, plane: plane, channels: channels, cpu: cpu,
                           kind: { CenteredDot(mean: means[$0]) }, finish: finish)
    }
}

/// dx = gamma invStd (dy - meanDy - xhat meanDyXhat) = scale dy + a x + b: (scale, a, b).
@inline(__always)
func inputGradientCoefficients(gamma: Float, mean: Float, invStd: Float, meanDy: Float, meanDyXhat: Float) -> (scale: Float, a: Float, b: Float) {
    let scale = gamma * invStd
    let a = -scale * meanDyXhat * invStd
    return (scale, a, -scale * meanDy - a * mean)
}

/// dx = gamma invStd (dy - meanDy - xhat meanDyXhat) over the planes of `channels` (at most
/// `channelChunk`), with (gamma, mean, invStd, meanDy, meanDyXhat, mask) = `parameters(ch)`; when
/// `masked`, dy counts only where x * mask.scale + mask.shift > 0 (a fused ReLU's gradient).
@inline(__always)
package func inputGradientChunk(_ src: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>,
                                n: Int, c: Int, plane: Int, channels: Range<Int>, masked: Bool, cpu: CPUFeatures,
                                parameters: (_ ch: Int) -> (gamma: Float, mean: Float, invStd: Float, meanDy: Float, meanDyXhat: Float,
                                                            mask: (scale: Float, shift: Float))) {
    guard cpu.avx512 || cpu.avx2 else {
        for ch in channels {
            let p = parameters(ch)
            let (scale, a, b) = inputGradientCoefficients(gamma: p.gamma, mean: p.mean, invStd: p.invStd, meanDy: p.meanDy, meanDyXhat: p.meanDyXhat)
            for img in 0..<n {
                let xr = src + (img * c + ch) * plane, gr = g + (img * c + ch) * plane
                let out = d + (img * c + ch) * plane
                if masked {
                    for i in 0..<plane {
                        // dy read whatever the mask: a load under the condition needs a
                        // masked load to be vectorised.
                        let xi = xr[i], gi = gr[i]
                        let dyi = normalized(xi, p.mask.scale, p.mask.shift) > 0 ? gi : 0
                        out[i] = scale * dyi + a * xi + b
                    }
                } else {
                    for i in 0..<plane { out[i] = scale * gr[i] + a * xr[i] + b }
                }
            }
        }
        return
    }
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 5 * channelChunk) { q in
        for (k, ch) in channels.enumerated() {
            let p = parameters(ch)
            let (scale, a, b) = inputGradientCoefficients(gamma: p.gamma, mean: p.mean, invStd: p.invStd, meanDy: p.meanDy, meanDyXhat: p.meanDyXhat)
            (q[5 * k], q[5 * k + 1], q[5 * k + 2], q[5 * k + 3], q[5 * k + 4]) = (scale, a, b, p.mask.scale, p.mask.shift)
        }
        (cpu.avx512 ? fm_bn_backward_chunk_avx512 : fm_bn_backward_chunk_avx2)(
            src, g, d, n, c, plane, channels.lowerBound, channels.count, q.baseAddress!, masked ? 1 : 0)
    }
}

/// The Double totals of `add`'s Float sums over channel `ch`'s planes (image-major storage: plane
/// of image i at (i * c + ch) * plane), summed in Float over groups of `imagesPerSumGroup` images.
/// `add` gets a group at a time: the offset of its first plane and its number of images (the
/// planes `c * plane` apart).
@inline(__always)
func channelTotal(n: Int, c: Int, ch: Int, plane: Int,
                  _ add: (inout RunSums, _ start: Int, _ images: Int) -> Void) -> (sum: Double, dot: Double) {
    let group = imagesPerSumGroup(plane: plane)
    var sum: Double = 0, dot: Double = 0
    var first = 0
    while first < n {
        var sums = RunSums()
        add(&sums, (first * c + ch) * plane, min(n, first + group) - first)
        let total = sums.total
        sum += Double(total.sum)
        dot += Double(total.dot)
        first += group
    }
    return (sum, dot)
}

/// The per-channel affine map of the forward pass, y = x * scale + shift, from the saved statistics.
@inline(__always)
func affine(gamma: Float, beta: Float, mean: Float, invStd: Float) -> (scale: Float, shift: Float) {
    let scale = gamma * invStd
    return (scale, beta - mean * scale)
}

/// x * scale + shift: one expression for the forward pass and the fused ReLU's mask, so both round alike.
@inline(__always)
func normalized(_ x: Float, _ scale: Float, _ shift: Float) -> Float {
    x * scale + shift
}
