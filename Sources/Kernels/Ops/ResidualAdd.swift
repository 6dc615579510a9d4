// Elementwise sum, the join of a residual connection y = x + f(x).
//
//   a, b, y: the same shape          y = a + b          da = dy,  db = dy
//
// The backward of a residual block therefore adds the gradient that flowed through f to the
// gradient that skipped it: dx = dy + df(dy), the same sum.

/// y = a + b elementwise into `y` (resized like `a`; the shapes must match).
public func addForward(_ a: Tensor, _ b: Tensor, into y: inout Tensor) {
    zipElements(a, b, into: &y, Sum.self)
}

/// a + b elementwise. Allocating convenience over `addForward`.
public func add(_ a: Tensor, _ b: Tensor) -> Tensor {
    var y = Tensor.empty
    addForward(a, b, into: &y)
    return y
}

/// a + b.
enum Sum: BinaryElementFunction {
    @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a + b }
}
