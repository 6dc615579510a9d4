import Foundation

// Gaussian error linear unit, elementwise on any shape, in PyTorch's default (exact, erf) form.
//
//   y  = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
//   dx = dy * (Phi(x) + x phi(x))          phi(x) = exp(-x^2 / 2) / sqrt(2 pi)

private let invSqrt2 = Float(0.5).squareRoot()
private let invSqrt2Pi = 1 / Float(2 * Double.pi).squareRoot()

/// y = GELU(x) into `y` (resized like `x`).
public func geluForward(_ x: Tensor, into y: inout Tensor) {
    mapElements(x, into: &y, GELUFunction.self)
}

/// dx = dy * GELU'(x) into `dx`, from the forward pass's input `x`.
public func geluBackward(input x: Tensor, gradOutput dy: Tensor, into dx: inout Tensor) {
    zipElements(x, dy, into: &dx, GELUGradient.self)
}

/// GELU(x) elementwise (erf form). Allocating convenience over `geluForward`.
public func gelu(_ x: Tensor) -> Tensor {
    var y = Tensor.empty
    geluForward(x, into: &y)
    return y
}

/// x Phi(x).
enum GELUFunction: UnaryElementFunction {
    @inline(__always) static func apply(_ v: Float) -> Float { 0.5 * v * (1 + erf(v * invSqrt2)) }
}

/// dy (Phi(x) + x phi(x)) (arguments: x, dy).
enum GELUGradient: BinaryElementFunction {
    @inline(__always) static func apply(_ v: Float, _ g: Float) -> Float {
        let cdf = 0.5 * (1 + erf(v * invSqrt2))
        let pdf = exp(-0.5 * v * v) * invSqrt2Pi
        return g * (cdf + v * pdf)
    }
}
