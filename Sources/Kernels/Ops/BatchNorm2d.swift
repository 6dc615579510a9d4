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
// Channel sums are accumulated in Double; each channel is owned by one thread.

/// Normalises `x` into `y`. In training mode uses and updates the batch statistics (and the
/// running ones); in evaluation mode uses the running ones. Either way `savedMean` and
/// `savedInvStd` ([C]) receive the statistics used, for `batchNorm2dBackward`.
public func batchNorm2dForward(
    _ x: Tensor, weight: Tensor, bias: Tensor, eps: Float, momentum: Float, training: Bool,
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
        let src = xp.baseAddress!, dst = yp.baseAddress!
        let gamma = gp.baseAddress!, beta = bp.baseAddress!
        let rMean = rmp.baseAddress!, rVar = rvp.baseAddress!, sMean = smp.baseAddress!, sInv = sip.baseAddress!
        parallelFor(c) { channels in
            for ch in channels {
                let mean: Double, variance: Double
                if training {
                    var sum: Double = 0
                    for img in 0..<n { sum += Double(sumOf(src + (img * c + ch) * plane, plane)) }
                    mean = sum / Double(m)
                    var squares: Double = 0
                    let meanF = Float(mean)
                    for img in 0..<n {
                        squares += Double(sumOfSquaredDeviations(src + (img * c + ch) * plane, plane, mean: meanF))
                    }
                    variance = squares / Double(m)
                    rMean[ch] = (1 - momentum) * rMean[ch] + momentum * Float(mean)
                    rVar[ch] = (1 - momentum) * rVar[ch] + momentum * Float(variance * Double(m) / Double(m - 1))
                } else {
                    mean = Double(rMean[ch])
                    variance = Double(rVar[ch])
                }
                let invStd = 1 / (variance + Double(eps)).squareRoot()
                sMean[ch] = Float(mean)
                sInv[ch] = Float(invStd)
                let scale = gamma[ch] * Float(invStd)
                let shift = beta[ch] - Float(mean) * scale
                for img in 0..<n {
                    let from = src + (img * c + ch) * plane, to = dst + (img * c + ch) * plane
                    for i in 0..<plane { to[i] = from[i] * scale + shift }
                }
            }
        }
    }}}}}}}}
}

/// Gradients of batch normalisation: overwrites `gradInput` ([N,C,H,W]), `gradWeight` and
/// `gradBias` ([C]). `savedMean`/`savedInvStd` are those the forward pass produced;
/// `usedBatchStatistics` is the forward pass's `training` flag.
public func batchNorm2dBackward(
    input x: Tensor, weight: Tensor, savedMean: Tensor, savedInvStd: Tensor, gradOutput dy: Tensor,
    usedBatchStatistics: Bool,
    gradInput dx: inout Tensor, gradWeight: inout Tensor, gradBias: inout Tensor
) {
    require(x.shape == dy.shape, "batch norm backward: gradient \(dy.shape) does not match input \(x.shape)")
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
        let src = xp.baseAddress!, g = gp.baseAddress!, d = dxp.baseAddress!
        let gamma = wp.baseAddress!, sMean = smp.baseAddress!, sInv = sip.baseAddress!
        let dGamma = dwp.baseAddress!, dBeta = dbp.baseAddress!
        parallelFor(c) { channels in
            for ch in channels {
                let mean = sMean[ch], invStd = sInv[ch]
                var sumDy: Double = 0, sumDyXhat: Double = 0
                for img in 0..<n {
                    let (s, sx) = sumAndCenteredDot(g + (img * c + ch) * plane, src + (img * c + ch) * plane, plane, mean: mean)
                    sumDy += Double(s)
                    sumDyXhat += Double(sx)
                }
                sumDyXhat *= Double(invStd)
                dBeta[ch] = Float(sumDy)
                dGamma[ch] = Float(sumDyXhat)
                let scale = gamma[ch] * invStd
                // dx = scale * (dy - meanDy - xhat * meanDyXhat) = scale*dy + a*x + b
                let meanDy = usedBatchStatistics ? Float(sumDy) / m : 0
                let meanDyXhat = usedBatchStatistics ? Float(sumDyXhat) / m : 0
                let a = -scale * meanDyXhat * invStd
                let b = -scale * meanDy - a * mean
                for img in 0..<n {
                    let xr = src + (img * c + ch) * plane, gr = g + (img * c + ch) * plane
                    let out = d + (img * c + ch) * plane
                    for i in 0..<plane { out[i] = scale * gr[i] + a * xr[i] + b }
                }
            }
        }
    }}}}}}}}
}
