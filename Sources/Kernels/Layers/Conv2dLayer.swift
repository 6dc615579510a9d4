/// A 2-D convolution layer (PyTorch's `nn.Conv2d` with groups = 1, dilation = 1, zero padding).
///
/// Parameters: "weight" [outChannels, inChannels, k, k] and, unless `bias: false`, "bias" [outChannels].
/// Input [N, inChannels, H, W] -> output [N, outChannels, (H + 2p - k)/s + 1, (W + 2p - k)/s + 1].
/// Its products run in the precision of the calling scope (`Precision.current`, set by
/// `Precision.with`): bf16 operands with fp32 sums in bf16; the weights stay fp32.
public final class Conv2d: Layer {
    /// The sizes the layer was built with.
    public let inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int, padding: Int
    /// [outChannels, inChannels, k, k].
    public let weight: Parameter
    /// [outChannels], or nil for a convolution without bias.
    public let bias: Parameter?
    /// Training mode (see `Layer.training`).
    public var training = true
    /// See `Layer.computesInputGradient`.
    public var computesInputGradient = true

    private var input = Tensor.empty
    private var output = Tensor.empty
    private var gradInput = Tensor.empty
    private var scratch = Conv2dScratch()

    /// A convolution with zero weights and bias; call `reset(using:)` (or use the `rng:` form) before training.
    public init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true) {
        require(inChannels > 0 && outChannels > 0 && kernelSize > 0 && stride > 0 && padding >= 0,
                     "Conv2d: sizes must be positive (padding non-negative)")
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernelSize = kernelSize; self.stride = stride; self.padding = padding
        weight = Parameter(Tensor(shape: [outChannels, inChannels, kernelSize, kernelSize]))
        self.bias = bias ? Parameter(Tensor(shape: [outChannels])) : nil
    }

    /// A convolution initialised as PyTorch does (see `reset(using:)`).
    ///
    /// - Parameters:
    ///   - inChannels: Channels of the input, C in [N, C, H, W].
    ///   - outChannels: Filters, the channels of the output.
    ///   - kernelSize: The side of the square kernel.
    ///   - stride: The step between output positions, in input pixels.
    ///   - padding: Zeros added on every side of the input.
    ///   - bias: Whether a bias per output channel is added (false before a batch norm).
    ///   - rng: The generator the weight, then the bias, are drawn from.
    public convenience init(inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                            bias: Bool = true, rng: inout SeededGenerator) {
        self.init(inChannels: inChannels, outChannels: outChannels, kernelSize: kernelSize,
                  stride: stride, padding: padding, bias: bias)
        reset(using: &rng)
    }

    /// kaiming_uniform(a = sqrt(5)) weight and uniform(+-1/sqrt(fan_in)) bias, fan_in = C*k*k.
    public func reset(using rng: inout SeededGenerator) {
        Parameter.resetLikePyTorch(weight: weight, bias: bias, fanIn: inChannels * kernelSize * kernelSize, using: &rng)
    }

    /// PyTorch's names: "weight", then "bias" when present.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        if let bias { return [("weight", weight), ("bias", bias)] }
        return [("weight", weight)]
    }

    /// Forward pass (see `Layer`).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv2dForward(x, weight: weight.value, bias: bias?.value, stride: stride, padding: padding,
                      into: &output, scratch: &scratch)
        input = training ? x : .empty
        return output
    }

    /// Backward pass for the last forward pass (see `Layer`).
    public func backward(_ gradOutput: Tensor) -> Tensor {
        require(input.rank == 4, "Conv2d.backward without a training-mode forward pass")
        conv2dBackward(input: input, weight: weight.value, gradOutput: gradOutput, stride: stride, padding: padding,
                       gradInput: &gradInput, gradWeight: &weight.grad,
                       computeGradInput: computesInputGradient, computeGradWeight: !weight.isFrozen,
                       scratch: &scratch)
        if let bias { conv2dBiasBackward(gradOutput: gradOutput, into: &bias.grad) }
        input = .empty
        return computesInputGradient ? gradInput : .empty
    }
}
