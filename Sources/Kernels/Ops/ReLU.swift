// Rectified linear unit, elementwise on any shape.
//
//   y = max(x, 0)                 dx = dy * [x > 0]
//
// The backward reads the forward's output (y > 0 exactly when x > 0), so a layer only keeps y.
// NaN stays NaN (NaN < 0 is false), as in PyTorch.

/// y = max(x, 0), into `y` (resized like `x`).
public func reluForward(_ x: Tensor, into y: inout Tensor) {
    mapElements(x, into: &y, ReLUFunction.self)
}

/// dx = dy where the forward output was positive, else 0 (into `dx`, resized like `dy`).
public func reluBackward(output y: Tensor, gradOutput dy: Tensor, into dx: inout Tensor) {
    zipElements(y, dy, into: &dx, ReLUGradient.self)
}

/// max(x, 0) elementwise. Allocating convenience over `reluForward`.
public func relu(_ x: Tensor) -> Tensor {
    var y = Tensor.empty
    reluForward(x, into: &y)
    return y
}

/// max(x, 0), keeping NaN.
enum ReLUFunction: UnaryElementFunction {
    @inline(__always) static func apply(_ x: Float) -> Float { x < 0 ? 0 : x }
}

/// dy where the output y is positive, else 0 (arguments: y, dy).
enum ReLUGradient: BinaryElementFunction {
    @inline(__always) static func apply(_ y: Float, _ dy: Float) -> Float { y > 0 ? dy : 0 }
}
