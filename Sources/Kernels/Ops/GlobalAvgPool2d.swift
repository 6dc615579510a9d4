// Global average pooling: the mean of each channel's plane.
//
//   x [N, C, H, W]  ->  y [N, C]        y[n,c] = (1 / HW) sum_{h,w} x[n,c,h,w]
//   dx[n,c,h,w] = dy[n,c] / HW
//
// The output is [N, C] (Keras's GlobalAveragePooling2D; PyTorch's AdaptiveAvgPool2d(1) followed
// by Flatten), so a Linear layer can follow directly.

/// Channel means of `x` [N,C,H,W] into `y` [N,C].
public func globalAvgPool2dForward(_ x: Tensor, into y: inout Tensor) {
    require(x.rank == 4, "global average pool input must be [N,C,H,W], got \(x.shape)")
    let planes = x.shape[0] * x.shape[1], plane = x.shape[2] * x.shape[3]
    y.resize(x.shape[0], x.shape[1])
    let scale = 1 / Float(plane)
    x.withUnsafeBufferPointer { xp in
    y.withUnsafeMutableBufferPointer { yp in
        let src = xp.baseAddress!, dst = yp.baseAddress!
        parallelFor(planes) { range in
            for p in range {
                dst[p] = sumOf(src + p * plane, plane) * scale
            }
        }
    }}
}

/// dx[n,c,h,w] = dy[n,c] / HW, into `dx` with shape `inputShape`.
public func globalAvgPool2dBackward(gradOutput dy: Tensor, inputShape: [Int], into dx: inout Tensor) {
    require(inputShape.count == 4 && dy.rank == 2
                 && dy.shape[0] == inputShape[0] && dy.shape[1] == inputShape[1],
                 "global average pool backward: gradient \(dy.shape) does not match input \(inputShape)")
    if dx.shape != inputShape { dx.resize(to: inputShape) }
    let plane = inputShape[2] * inputShape[3], scale = 1 / Float(plane)
    dy.withUnsafeBufferPointer { gp in
    dx.withUnsafeMutableBufferPointer { dp in
        let g = gp.baseAddress!, d = dp.baseAddress!
        parallelFor(dy.count) { range in
            for p in range {
                let share = g[p] * scale
                for i in 0..<plane { d[p * plane + i] = share }
            }
        }
    }}
}

/// Channel means: [N,C,H,W] -> [N,C]. Allocating convenience over `globalAvgPool2dForward`.
public func globalAvgPool2d(_ x: Tensor) -> Tensor {
    var y = Tensor.empty
    globalAvgPool2dForward(x, into: &y)
    return y
}
