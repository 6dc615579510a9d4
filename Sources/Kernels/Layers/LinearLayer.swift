/// A fully connected layer (PyTorch's `nn.Linear`): [N, inFeatures] -> [N, outFeatures].
///
/// Parameters: "weight" [outFeatures, inFeatures] and, unless `bias: false`, "bias" [outFeatures].
/// Its products run in the precision of the calling scope (`Precision.current`), as `Conv2d`'s.
public final class Linear: Layer {
    /// The sizes the layer was built with.
    public let inFeatures: Int, outFeatures: Int
    /// [outFeatures, inFeatures].
    public let weight: Parameter
    /// [outFeatures], or nil.
    public let bias: Parameter?
    /// Training mode (see `Layer.training`).
    public var training = true
    /// See `Layer.computesInputGradient`.
    public var computesInputGradient = true

    private var input = Tensor.empty
    private var output = Tensor.empty
    private var gradInput = Tensor.empty

    /// A linear layer with zero weights and bias; call `reset(using:)` (or use the `rng:` form) before training.
    public init(inFeatures: Int, outFeatures: Int, bias: Bool = true) {
        require(inFeatures > 0 && outFeatures > 0, "Linear: feature counts must be positive")
        self.inFeatures = inFeatures; self.outFeatures = outFeatures
        weight = Parameter(Tensor(shape: [outFeatures, inFeatures]))
        self.bias = bias ? Parameter(Tensor(shape: [outFeatures])) : nil
    }

    /// A linear layer initialised as PyTorch does (see `reset(using:)`).
    public convenience init(inFeatures: Int, outFeatures: Int, bias: Bool = true, rng: inout SeededGenerator) {
        self.init(inFeatures: inFeatures, outFeatures: outFeatures, bias: bias)
        reset(using: &rng)
    }

    /// kaiming_uniform(a = sqrt(5)) weight and uniform(+-1/sqrt(fan_in)) bias, fan_in = inFeatures.
    public func reset(using rng: inout SeededGenerator) {
        Parameter.resetLikePyTorch(weight: weight, bias: bias, fanIn: inFeatures, using: &rng)
    }

    /// PyTorch's names: "weight", then "bias" when present.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        if let bias { return [("weight", weight), ("bias", bias)] }
        return [("weight", weight)]
    }

    /// Forward pass (see `Layer`).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        linearForward(x, weight: weight.value, bias: bias?.value, into: &output)
        input = training ? x : .empty
        return output
    }

    /// Backward pass for the last forward pass (see `Layer`).
    public func backward(_ gradOutput: Tensor) -> Tensor {
        require(input.rank == 2, "Linear.backward without a training-mode forward pass")
        linearBackward(input: input, weight: weight.value, gradOutput: gradOutput,
                       gradInput: &gradInput, gradWeight: &weight.grad, computeGradInput: computesInputGradient)
        if let bias { linearBiasBackward(gradOutput: gradOutput, into: &bias.grad) }
        input = .empty
        return computesInputGradient ? gradInput : .empty
    }
}
