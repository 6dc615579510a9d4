/// max(x, 0) elementwise (PyTorch's `nn.ReLU`). No parameters.
public final class ReLU: Layer {
    /// Training mode (see `Layer.training`).
    public var training = true
    private var output = Tensor.empty
    private var gradInput = Tensor.empty

    /// A layer without parameters.
    public init() {}

    /// None: the layer has no parameters.
    public var namedParameters: [(name: String, parameter: Parameter)] { [] }

    /// Forward pass (see `Layer`).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        reluForward(x, into: &output)
        return output
    }

    /// Reads the layer's own output buffer (positive exactly where the input was), so nothing extra is cached.
    public func backward(_ gradOutput: Tensor) -> Tensor {
        reluBackward(output: output, gradOutput: gradOutput, into: &gradInput)
        return gradInput
    }
}

/// x Phi(x) elementwise with the exact erf form, PyTorch's `nn.GELU()` default
/// (approximate = "none"). No parameters.
public final class GELU: Layer {
    /// Training mode (see `Layer.training`).
    public var training = true
    private var input = Tensor.empty
    private var output = Tensor.empty
    private var gradInput = Tensor.empty

    /// A layer without parameters.
    public init() {}

    /// None: the layer has no parameters.
    public var namedParameters: [(name: String, parameter: Parameter)] { [] }

    /// Forward pass (see `Layer`).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        geluForward(x, into: &output)
        input = training ? x : .empty
        return output
    }

    /// Backward pass for the last forward pass (see `Layer`).
    public func backward(_ gradOutput: Tensor) -> Tensor {
        require(input.shape == gradOutput.shape, "GELU.backward without a matching training-mode forward pass")
        geluBackward(input: input, gradOutput: gradOutput, into: &gradInput)
        input = .empty
        return gradInput
    }
}
