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
// Channel sums are accumulated in Double; each channel is owned by one thread. The per-row
// loops run as C (portable_kernels_body.h, the same expressions and bits) where the CPU has AVX2 or
// AVX-512: the Swift target is compiled for SSE2 on x86-64.

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
        parallelFor(c) { channels in
            for ch in channels {
                let mean: Double, variance: Double
                if training {
                    mean = channelSum(src, n: n, c: c, ch: ch, plane: plane) / Double(m)
                    variance = channelSquaredDeviations(src, n: n, c: c, ch: ch, plane: plane, mean: Float(mean)) / Double(m)
                    rMean[ch] = (1 - momentum) * rMean[ch] + momentum * Float(mean)
                    rVar[ch] = (1 - momentum) * rVar[ch] + momentum * Float(variance * Double(m) / Double(m - 1))
                } else {
                    mean = Double(rMean[ch])
                    variance = Double(rVar[ch])
                }
                let invStd = 1 / (variance + Double(eps)).squareRoot()
                sMean[ch] = Float(mean)
                sInv[ch] = Float(invStd)
                let (scale, shift) = affine(gamma: gamma[ch], beta: beta[ch], mean: sMean[ch], invStd: sInv[ch])
                normalizeRows(src, dst, n: n, c: c, ch: ch, plane: plane, scale: scale, shift: shift, applyingReLU: applyingReLU, cpu: cpu)
            }
        }
    }}}}}}}}
}

/// y = x * scale + shift (then max(., 0) when `applyingReLU`) over channel `ch`'s planes.
@inline(__always)
func normalizeRows(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, n: Int, c: Int, ch: Int, plane: Int,
                   scale: Float, shift: Float, applyingReLU: Bool, cpu: CPUFeatures) {
    if cpu.avx512 || cpu.avx2 {
        // One call for the channel's n planes (a call per 4x4 plane cost more than its work).
        (cpu.avx512 ? fm_bn_forward_rows_avx512 : fm_bn_forward_rows_avx2)(
            src + ch * plane, dst + ch * plane, plane, n, c * plane, scale, shift, applyingReLU ? 1 : 0)
        return
    }
    for img in 0..<n {
        let from = src + (img * c + ch) * plane, to = dst + (img * c + ch) * plane
        if applyingReLU {
            for i in 0..<plane { to[i] = ReLUFunction.apply(normalized(from[i], scale, shift)) }
        } else {
            for i in 0..<plane { to[i] = normalized(from[i], scale, shift) }
        }
    }
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
    require(x.shape == dy.shape, "batch norm backward: gradient \(dy.shape) does not match input \(x.shape)")
    if let reluBias { require(reluBias.count == x.shape[1], "batch norm backward: bias does not have \(x.shape[1]) channels") }
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
        let src = xp.baseAddress!, g = gp.baseAddress!, d = dxp.baseAddress!, cpu = CPUFeatures.enabled
        let gamma = wp.baseAddress!, sMean = smp.baseAddress!, sInv = sip.baseAddress!
        let dGamma = dwp.baseAddress!, dBeta = dbp.baseAddress!
        parallelFor(c) { channels in
            for ch in channels {
                let mean = sMean[ch], invStd = sInv[ch]
                // The ReLU's mask, recomputed as the forward pass computed it.
                let reluMask = rbp.map { affine(gamma: gamma[ch], beta: $0[ch], mean: mean, invStd: invStd) }
                let (sumDy, sumDyXhat) = gradientSums(g, src, n: n, c: c, ch: ch, plane: plane, mean: mean, invStd: invStd, reluMask: reluMask)
                dBeta[ch] = Float(sumDy)
                dGamma[ch] = Float(sumDyXhat)
                // dx = scale * (dy - meanDy - xhat * meanDyXhat) = scale*dy + a*x + b
                let meanDy = usedBatchStatistics ? Float(sumDy) / m : 0
                let meanDyXhat = usedBatchStatistics ? Float(sumDyXhat) / m : 0
                inputGradientRows(src, g, d, n: n, c: c, ch: ch, plane: plane, gamma: gamma[ch], mean: mean, invStd: invStd,
                                  meanDy: meanDy, meanDyXhat: meanDyXhat, reluMask: reluMask, cpu: cpu)
            }
        }
    }}}}}}}}}
}

/// Channel `ch`'s sum of x (the forward pass's statistics; the synchronised form sums it over processes).
@inline(__always)
func channelSum(_ src: UnsafePointer<Float>, n: Int, c: Int, ch: Int, plane: Int) -> Double {
    channelTotal(n: n, c: c, ch: ch, plane: plane) { sums, start, images in
        sums.add(src + start, src + start, plane, runs: images, runStride: c * plane, PlainSum())
    }.sum
}

/// Channel `ch`'s sum of (x - mean)^2.
@inline(__always)
func channelSquaredDeviations(_ src: UnsafePointer<Float>, n: Int, c: Int, ch: Int, plane: Int, mean: Float) -> Double {
    channelTotal(n: n, c: c, ch: ch, plane: plane) { sums, start, images in
        sums.add(src + start, src + start, plane, runs: images, runStride: c * plane, SquaredDeviations(mean: mean))
    }.dot
}

/// Channel `ch`'s sum of dy and of dy * xhat (through the fused ReLU's mask when there is one).
@inline(__always)
func gradientSums(_ g: UnsafePointer<Float>, _ src: UnsafePointer<Float>, n: Int, c: Int, ch: Int, plane: Int,
                          mean: Float, invStd: Float, reluMask: (scale: Float, shift: Float)?) -> (sumDy: Double, sumDyXhat: Double) {
    var (sumDy, sumDyXhat) = reluMask.map { mask in
        channelTotal(n: n, c: c, ch: ch, plane: plane) { sums, start, images in
            sums.add(g + start, src + start, plane, runs: images, runStride: c * plane,
                     MaskedCenteredDot(mean: mean, scale: mask.scale, shift: mask.shift))
        }
    } ?? channelTotal(n: n, c: c, ch: ch, plane: plane) { sums, start, images in
        sums.add(g + start, src + start, plane, runs: images, runStride: c * plane, CenteredDot(mean: mean))
    }
    sumDyXhat *= Double(invStd)
    return (sumDy, sumDyXhat)
}

/// dx = gamma invStd (dy - meanDy - xhat meanDyXhat) over channel `ch`'s planes.
@inline(__always)
func inputGradientRows(_ src: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, n: Int, c: Int, ch: Int, plane: Int,
                               gamma: Float, mean: Float, invStd: Float, meanDy: Float, meanDyXhat: Float,
                               reluMask: (scale: Float, shift: Float)?, cpu: CPUFeatures) {
    let scale = gamma * invStd
    // dx = scale * (dy - meanDy - xhat * meanDyXhat) = scale*dy + a*x + b
    let a = -scale * meanDyXhat * invStd
    let b = -scale * meanDy - a * mean
    if cpu.avx512 || cpu.avx2 {
        // One call for the channel's n planes, as in the forward pass.
        let masked: Int32 = reluMask == nil ? 0 : 1
        let mask = reluMask ?? (0, 0)
        (cpu.avx512 ? fm_bn_backward_rows_avx512 : fm_bn_backward_rows_avx2)(
            src + ch * plane, g + ch * plane, d + ch * plane, plane, n, c * plane, scale, a, b, masked, mask.scale, mask.shift)
        return
    }
    for img in 0..<n {
        let xr = src + (img * c + ch) * plane, gr = g + (img * c + ch) * plane
        let out = d + (img * c + ch) * plane
        if let reluMask {
            for i in 0..<plane {
                // dy read whatever the mask: a load under the condition needs a
                // masked load to be vectorised.
                let xi = xr[i], gi = gr[i]
                let dyi = normalized(xi, reluMask.scale, reluMask.shift) > 0 ? gi : 0
                out[i] = scale * dyi + a * xi + b
            }
        } else {
            for i in 0..<plane { out[i] = scale * gr[i] + a * xr[i] + b }
        }
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
