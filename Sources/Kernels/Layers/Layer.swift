/// A trainable tensor and its gradient, shared by reference between the layer that owns it
/// and the optimiser that updates it.
public final class Parameter: @unchecked Sendable {
    /// The current value.
    public var value: Tensor
    /// dLoss/dValue from the last backward pass (same shape as `value`).
    public var grad: Tensor
    /// Whether optimisers leave this parameter alone: no update, no weight decay, no momentum
    /// (PyTorch's `requires_grad = False`). Switchable at any step (airbench trains its whitening
    /// bias for the first epochs only). `Conv2d` does not compute a frozen weight's gradient
    /// (its `grad` is zero, as PyTorch leaves it None); the other layers still fill `grad`.
    public var isFrozen = false

    /// A parameter holding `value`, with a zero gradient of the same shape.
    public init(_ value: Tensor) {
        self.value = value
        self.grad = Tensor(shape: value.shape)
    }
}

/// A network layer in the style of PyTorch's `nn.Module` and MLX Swift: parameters under
/// PyTorch's names, `callAsFunction` for the forward pass, and an explicit `backward`.
///
/// Contract:
/// - `callAsFunction(x)` computes the output; when `training` is true it keeps what
///   `backward` needs. Inputs and outputs are NCHW ([N,C,H,W]) or [N,features].
/// - `backward(gradOutput)` takes dLoss/dOutput for the last forward call, *overwrites*
///   each parameter's `grad`, and returns dLoss/dInput.
/// - Layers own their output and scratch buffers and reuse them, so a training step at a
///   fixed batch size does not allocate once the first step has sized them.
public protocol Layer: AnyObject {
    /// Forward pass.
    func callAsFunction(_ x: Tensor) -> Tensor
    /// Backward pass for the last forward call: fills parameter gradients, returns dLoss/dInput.
    func backward(_ gradOutput: Tensor) -> Tensor
    /// Trainable parameters with PyTorch's names relative to this layer ("weight", "bias",
    /// or "conv1.weight" for containers), in a stable order.
    var namedParameters: [(name: String, parameter: Parameter)] { get }
    /// Non-trainable state saved with the model, with PyTorch's names (for example
    /// BatchNorm's "running_mean", "running_var"), in a stable order.
    var namedBuffers: [(name: String, tensor: Tensor)] { get }
    /// Replaces a buffer's value by name (used when loading a saved model).
    func setBuffer(named name: String, to tensor: Tensor)
    /// Training mode (batch statistics, caching for backward) or evaluation mode.
    var training: Bool { get set }
    /// Re-draws the trainable parameters from `rng` with PyTorch's default initialisation for
    /// the layer type (containers reset their children in order). Layers without random
    /// parameters do nothing.
    func reset(using rng: inout SeededGenerator)
    /// Whether `backward` must return dLoss/dInput. A network's first layer can be told it need
    /// not (the gradient with respect to the images is thrown away); it then returns
    /// `Tensor.empty` and skips that work. Containers pass it to their first child.
    var computesInputGradient: Bool { get set }
    /// Whether batch normalisation uses its running statistics even in training mode (leaving
    /// them unchanged), as in evaluation. With `training` also true, a forward pass then computes
    /// the evaluation-mode function while keeping what `backward` needs: the gradients of the
    /// trained network as it classifies (Grad-CAM, saliency maps), which evaluation mode alone
    /// cannot give because it keeps nothing for `backward`. Containers pass it to every child;
    /// layers without statistics ignore it.
    var usesRunningStatistics: Bool { get set }
}

/// A layer made of other layers, which its forward pass runs in order (`Sequential`,
/// `ConvGroup`; `Residual` adds its input to its body's result). Code that looks for layers of
/// a kind (every batch norm, the first convolution) walks containers through this, so a new
/// container is known everywhere at once.
package protocol LayerContainer: Layer {
    /// The layers inside, in the order the forward pass runs them.
    var sublayers: [any Layer] { get }
}

extension Layer {
    /// This layer, then every layer inside it, depth first in forward order (allocates: not for
    /// a training step).
    package var layerTree: [any Layer] {
        guard let container = self as? any LayerContainer else { return [self] }
        return [self] + container.sublayers.flatMap(\.layerTree)
    }
}

/// A container whose backward pass says, as it goes, which of its parameters' gradients are
/// final, so data-parallel training can start summing those over the processes while the rest
/// of the backward pass still runs (`Sequential`, `ConvGroup`, `Residual`).
package protocol ReportsFinishedGradients: Layer {
    /// `backward(gradOutput)`, calling `finished(p)` each time the gradients of parameters
    /// `p ..< namedParameters.count` (in `namedParameters` order) have become final; `p` never
    /// grows from one call to the next, and the last call is `finished(0)`.
    func backward(_ gradOutput: Tensor, finished: (Int) -> Void) -> Tensor
}

extension Layer {
    /// `backward(gradOutput)`, reporting finished gradients as `ReportsFinishedGradients` does
    /// when this layer can, else once at the end (a layer's own parameters are final together).
    package func backwardReporting(_ gradOutput: Tensor, finished: (Int) -> Void) -> Tensor {
        if let container = self as? any ReportsFinishedGradients { return container.backward(gradOutput, finished: finished) }
        let g = backward(gradOutput)
        finished(0)
        return g
    }
}

extension Layer {
    /// Layers without buffers have none to report.
    public var namedBuffers: [(name: String, tensor: Tensor)] { [] }
    /// Layers without buffers ignore buffer assignments.
    public func setBuffer(named name: String, to tensor: Tensor) {}
    /// Layers without random parameters have nothing to re-draw.
    public func reset(using rng: inout SeededGenerator) {}
    /// Layers that cannot skip the input gradient always compute it.
    public var computesInputGradient: Bool {
        get { true }
        set {}
    }
    /// Layers without batch statistics have none to choose.
    public var usesRunningStatistics: Bool {
        get { false }
        set {}
    }
    /// Training mode (`training = true`), for chaining.
    @discardableResult
    public func train() -> Self { training = true; return self }
    /// Evaluation mode (`training = false`), for chaining.
    @discardableResult
    public func eval() -> Self { training = false; return self }
}

extension Parameter {
    /// The initialisation PyTorch gives conv and linear layers: kaiming_uniform(a = sqrt(5)) for
    /// the weight and uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias. Both bounds reduce to
    /// 1/sqrt(fan_in) (gain sqrt(2/(1+5)) times sqrt(3/fan_in)). Draws the weight first, then the bias.
    static func resetLikePyTorch(weight: Parameter, bias: Parameter?, fanIn: Int, using rng: inout SeededGenerator) {
        let bound = 1 / Float(fanIn).squareRoot()
        weight.value = Tensor.uniform(shape: weight.value.shape, in: -bound..<bound, using: &rng)
        if let bias {
            bias.value = Tensor.uniform(shape: bias.value.shape, in: -bound..<bound, using: &rng)
        }
    }
}
