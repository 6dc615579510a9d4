// 2-D average pooling (no padding), per image and channel.
//
//   x [N, C, H, W]  ->  y [N, C, Ho, Wo]      Ho = (H - k) / s + 1,  Wo = (W - k) / s + 1   (floor)
//
//   y[n,c,oy,ox]  = (1 / k^2) sum_{i,j < k} x[n, c, oy*s + i, ox*s + j]
//   dx[n,c,iy,ix] = (1 / k^2) sum of dy[n,c,oy,ox] over the windows that contain (iy,ix)

/// Average pooling of `x` [N,C,H,W] into `y` [N,C,Ho,Wo].
public func avgPool2dForward(_ x: Tensor, kernelSize k: Int, stride s: Int, into y: inout Tensor) {
    require(x.rank == 4, "average pool input must be [N,C,H,W], got \(x.shape)")
    let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
    let ho = pooledSize(h, kernelSize: k, stride: s), wo = pooledSize(w, kernelSize: k, stride: s)
    y.resize(n, c, ho, wo)
    let scale = 1 / Float(k * k)
    x.withUnsafeBufferPointer { xp in
    y.withUnsafeMutableBufferPointer { yp in
        let src = xp.baseAddress!, dst = yp.baseAddress!
        parallelFor(n * c) { planes in
            for plane in planes {
                let xin = src + plane * h * w, yout = dst + plane * ho * wo
                for oy in 0..<ho {
                    for ox in 0..<wo {
                        var sum: Float = 0
                        for i in 0..<k {
                            let row = xin + (oy * s + i) * w + ox * s
                            for j in 0..<k { sum += row[j] }
                        }
                        yout[oy * wo + ox] = sum * scale
                    }
                }
            }
        }
    }}
}

/// Spreads each output gradient evenly over its window: overwrites `dx` with shape `inputShape`.
public func avgPool2dBackward(gradOutput dy: Tensor, kernelSize k: Int, stride s: Int,
                              inputShape: [Int], into dx: inout Tensor) {
    require(inputShape.count == 4 && dy.rank == 4, "average pool backward: expected [N,C,H,W] shapes")
    let h = inputShape[2], w = inputShape[3], ho = dy.shape[2], wo = dy.shape[3]
    require(ho == pooledSize(h, kernelSize: k, stride: s) && wo == pooledSize(w, kernelSize: k, stride: s),
                 "average pool backward: gradient \(dy.shape) does not match input \(inputShape)")
    if dx.shape != inputShape { dx.resize(to: inputShape) }
    let scale = 1 / Float(k * k)
    dy.withUnsafeBufferPointer { gp in
    dx.withUnsafeMutableBufferPointer { dp in
        let g = gp.baseAddress!, d = dp.baseAddress!
        parallelFor(inputShape[0] * inputShape[1]) { planes in
            for plane in planes {
                let dxPlane = d + plane * h * w, gPlane = g + plane * ho * wo
                dxPlane.update(repeating: 0, count: h * w)
                for oy in 0..<ho {
                    for ox in 0..<wo {
                        let share = gPlane[oy * wo + ox] * scale
                        for i in 0..<k {
                            let row = dxPlane + (oy * s + i) * w + ox * s
                            for j in 0..<k { row[j] += share }
                        }
                    }
                }
            }
        }
    }}
}

/// Average pooling with a k x k window and stride s. Allocating convenience over `avgPool2dForward`.
public func avgPool2d(_ x: Tensor, kernelSize: Int, stride: Int) -> Tensor {
    var y = Tensor.empty
    avgPool2dForward(x, kernelSize: kernelSize, stride: stride, into: &y)
    return y
}
