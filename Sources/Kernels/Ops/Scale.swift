// Multiplication by a constant, elementwise on any shape (airbench's `Mul(1/9)` after its head).
//
//   x, y, dy, dx: any shape, all the same
//   y  = s x
//   dx = s dy
//
// Used on logits ([N, 10]): one plain loop, no threads.

/// y = factor * x into `y` (resized like `x`).
public func scaleForward(_ x: Tensor, by factor: Float, into y: inout Tensor) {
    y.resize(like: x)
    x.withUnsafeBufferPointer { xp in
    y.withUnsafeMutableBufferPointer { yp in
        for i in 0..<xp.count { yp[i] = factor * xp[i] }
    }}
}

/// dx = factor * dy into `dx` (resized like `dy`).
public func scaleBackward(gradOutput dy: Tensor, by factor: Float, into dx: inout Tensor) {
    scaleForward(dy, by: factor, into: &dx)
}
