/// Multiplies its input by a constant (airbench's `Mul(1/9)` on the logits). No parameters, so
/// nothing in the state dict; PyTorch's module only stores the factor as a plain attribute.
public final class Scale: Layer {
    /// The constant.
    public let factor: Float
    /// Training mode (see `Layer.training`).
    public var training = true
    private var output = Tensor.empty
    private var gradInput = Tensor.empty

    /// y = factor * x.
    public init(_ factor: Float) {
        self.factor = factor
    }

    /// None: the layer has no parameters.
    public var namedParameters: [(name: String, parameter: Parameter)] { [] }

    /// Forward pass (see `Layer`).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        scaleForward(x, by: factor, into: &output)
        return output
    }

    /// dx = factor * dy.
    public func backward(_ gradOutput: Tensor) -> Tensor {
        scaleBackward(gradOutput: gradOutput, by: factor, into: &gradInput)
        return gradInput
    }
}
