/// A trainable tensor and its gradient, shared by reference between the layer that owns it
/// and the optimiser that updates it.
public final class Parameter: @unchecked Sendable {
    /// The current value.
    public var value: Tensor
    /// dLoss/dValue from the last backward pass (same shape as `value`).
    public var grad: Tensor

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
}

extension Layer {
    /// Layers without buffers have none to report.
    public var namedBuffers: [(name: String, tensor: Tensor)] { [] }
    /// Layers without buffers ignore buffer assignments.
    public func setBuffer(named name: String, to tensor: Tensor) {}
}
