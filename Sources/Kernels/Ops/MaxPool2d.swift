// 2-D max pooling (no padding), per image and channel.
//
//   x [N, C, H, W]  ->  y [N, C, Ho, Wo]      Ho = (H - k) / s + 1,  Wo = (W - k) / s + 1   (floor)
//
//   y[n,c,oy,ox]  = max_{i,j < k} x[n, c, oy*s + i, ox*s + j]
//   argmax[n,c,oy,ox] = the flat index (iy*W + ix) within the plane of the first maximum in row-major
//                       window order (a NaN counts as the maximum, so it propagates, as in PyTorch)
//
//   dx[n,c,iy,ix] = sum of dy[n,c,oy,ox] over the windows whose arg-max is (iy,ix)
//   (overlapping windows, s < k, can route several gradients to one pixel).

/// The pooled size of an `inSize` extent: floor((inSize - k) / s) + 1.
@inline(__always)
func pooledSize(_ inSize: Int, kernelSize k: Int, stride s: Int) -> Int {
    require(k >= 1 && s >= 1, "pooling: kernel size and stride must be >= 1")
    require(inSize >= k, "pooling: a \(k)x\(k) window does not fit an extent of \(inSize)")
    return (inSize - k) / s + 1
}

/// Max pooling of `x` [N,C,H,W] into `y` [N,C,Ho,Wo], recording each window's arg-max in
/// `argmax` (resized to y's element count; the index is within the input plane).
public func maxPool2dForward(_ x: Tensor, kernelSize k: Int, stride s: Int,
                             into y: inout Tensor, argmax: inout [Int32]) {
    require(x.rank == 4, "max pool input must be [N,C,H,W], got \(x.shape)")
    let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
    require(h * w <= Int(Int32.max), "max pool: plane too large for 32-bit indices")
    let ho = pooledSize(h, kernelSize: k, stride: s), wo = pooledSize(w, kernelSize: k, stride: s)
    y.resize(n, c, ho, wo)
    if argmax.count != y.count { argmax = [Int32](repeating: 0, count: y.count) }
    x.withUnsafeBufferPointer { xp in
    y.withUnsafeMutableBufferPointer { yp in
    argmax.withUnsafeMutableBufferPointer { ap in
        let src = xp.baseAddress!, dst = yp.baseAddress!, arg = ap.baseAddress!
        parallelFor(n * c) { planes in
            for plane in planes {
                let xin = src + plane * h * w
                let yout = dst + plane * ho * wo, aout = arg + plane * ho * wo
                if k == 2 && s == 2 {
                    // The common 2x2/2 window (the bench nets' pools), unrolled: same order, same result.
                    for oy in 0..<ho {
                        let top = 2 * oy * w, bottom = top + w
                        for ox in 0..<wo {
                            var best = top + 2 * ox
                            var bestValue = xin[best]
                            if beats(xin[best + 1], bestValue) { best = top + 2 * ox + 1; bestValue = xin[best] }
                            if beats(xin[bottom + 2 * ox], bestValue) { best = bottom + 2 * ox; bestValue = xin[best] }
                            if beats(xin[bottom + 2 * ox + 1], bestValue) { best = bottom + 2 * ox + 1; bestValue = xin[best] }
                            yout[oy * wo + ox] = bestValue
                            aout[oy * wo + ox] = Int32(best)
                        }
                    }
                    continue
                }
                for oy in 0..<ho {
                    for ox in 0..<wo {
                        var best = oy * s * w + ox * s
                        var bestValue = xin[best]
                        for i in 0..<k {
                            let row = (oy * s + i) * w + ox * s
                            for j in 0..<k where beats(xin[row + j], bestValue) {
                                bestValue = xin[row + j]
                                best = row + j
                            }
                        }
                        yout[oy * wo + ox] = bestValue
                        aout[oy * wo + ox] = Int32(best)
                    }
                }
            }
        }
    }}}
}

/// Whether `value` replaces `best` as a window's maximum: larger, or the first NaN.
@inline(__always)
private func beats(_ value: Float, _ best: Float) -> Bool {
    value > best || (value.isNaN && !best.isNaN)
}

/// Routes `dy` [N,C,Ho,Wo] to the arg-max pixels recorded by the forward pass:
/// overwrites `dx` with shape `inputShape` [N,C,H,W].
public func maxPool2dBackward(gradOutput dy: Tensor, argmax: [Int32], inputShape: [Int], into dx: inout Tensor) {
    require(inputShape.count == 4 && dy.rank == 4 && argmax.count == dy.count,
                 "max pool backward: gradient \(dy.shape) does not match the forward pass")
    if dx.shape != inputShape { dx.resize(to: inputShape) }
    let planes = inputShape[0] * inputShape[1], inPlane = inputShape[2] * inputShape[3]
    let outPlane = dy.shape[2] * dy.shape[3]
    dy.withUnsafeBufferPointer { gp in
    argmax.withUnsafeBufferPointer { ap in
    dx.withUnsafeMutableBufferPointer { dp in
        let g = gp.baseAddress!, arg = ap.baseAddress!, d = dp.baseAddress!
        parallelFor(planes) { range in
            for plane in range {
                let dxPlane = d + plane * inPlane
                dxPlane.update(repeating: 0, count: inPlane)
                for o in 0..<outPlane {
                    dxPlane[Int(arg[plane * outPlane + o])] += g[plane * outPlane + o]
                }
            }
        }
    }}}
}

/// Max pooling of `x` [N,C,H,W] with a k x k window and stride s: [N,C,floor((H-k)/s)+1,floor((W-k)/s)+1].
/// Allocating convenience over `maxPool2dForward`.
public func maxPool2d(_ x: Tensor, kernelSize: Int, stride: Int) -> Tensor {
    var y = Tensor.empty
    var argmax: [Int32] = []
    maxPool2dForward(x, kernelSize: kernelSize, stride: stride, into: &y, argmax: &argmax)
    return y
}
