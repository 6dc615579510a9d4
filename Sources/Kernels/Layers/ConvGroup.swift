/// airbench94's convolution group (PyTorch module with children `conv1`, `pool`, `norm1`,
/// `conv2`, `norm2`, `activ`, registered in that order):
///
///     x -> conv1 (3x3, same, no bias) -> pool (2x2 max) -> norm1 -> GELU
///       -> conv2 (3x3, same, no bias) -> norm2 -> GELU
///
/// Each norm and the GELU after it run as one pass (see `callAsFunction`).
///
/// [N, in, H, W] -> [N, out, H/2, W/2] (floor). Parameters "conv1.weight" [out, in, 3, 3],
/// "norm1.weight" and "norm1.bias" [out], "conv2.weight" [out, out, 3, 3], "norm2.weight",
/// "norm2.bias"; buffers "norm1.running_mean", ... as `BatchNorm2d`'s. PyTorch applies its one
/// `activ` module twice; here each application is its own `GELU` (a layer keeps its last
/// input for `backward`, so one instance cannot serve two places). GELU has no parameters, so
/// the state dicts are the same.
///
/// The batch norms are airbench's: their scale (`weight`) is frozen at 1 (`Parameter.isFrozen`),
/// only the shift trains; eps and momentum are given (airbench: eps 1e-12 and its "momentum 0.6",
/// which is PyTorch's momentum 0.4, the weight of each new batch).
public final class ConvGroup: Layer, LayerContainer, ReportsFinishedGradients {
    /// The first 3x3 convolution, in -> out channels.
    public let conv1: Conv2d
    /// The 2x2 max pool after `conv1`.
    public let pool: MaxPool2d
    /// The batch norm after the pool.
    public let norm1: BatchNorm2d
    /// The second 3x3 convolution, out -> out channels.
    public let conv2: Conv2d
    /// The batch norm after `conv2`.
    public let norm2: BatchNorm2d
    /// The layers in the order the forward pass runs them, under PyTorch's child names
    /// ("activ" twice: the one GELU module PyTorch applies twice). Built once, so a step does
    /// not allocate.
    public let forwardOrder: [(name: String, layer: any Layer)]
    /// The index in `namedParameters` of each `forwardOrder` layer's first parameter.
    private let parameterStarts: [Int]

    /// A group with zero convolution weights; call `reset(using:)` before training.
    /// `batchNormMomentum` is PyTorch's (the weight of each new batch).
    public init(inChannels: Int, outChannels: Int, batchNormMomentum: Float = 0.4, batchNormEps: Float = 1e-12) {
        conv1 = Conv2d(inChannels: inChannels, outChannels: outChannels, kernelSize: 3, padding: 1, bias: false)
        pool = MaxPool2d(kernelSize: 2)
        norm1 = BatchNorm2d(numFeatures: outChannels, momentum: batchNormMomentum, eps: batchNormEps)
        conv2 = Conv2d(inChannels: outChannels, outChannels: outChannels, kernelSize: 3, padding: 1, bias: false)
        norm2 = BatchNorm2d(numFeatures: outChannels, momentum: batchNormMomentum, eps: batchNormEps)
        norm1.weight.isFrozen = true
        norm2.weight.isFrozen = true
        forwardOrder = [("conv1", conv1), ("pool", pool), ("norm1", norm1), ("activ", GELU()),
                        ("conv2", conv2), ("norm2", norm2), ("activ", GELU())]
        // namedParameters lists conv1, norm1, conv2, norm2: the forward order of the layers that have any.
        var start = 0
        parameterStarts = forwardOrder.map { entry in
            defer { start += entry.layer.namedParameters.count }
            return start
        }
    }

    /// The layers in forward order.
    package var sublayers: [any Layer] { forwardOrder.map(\.layer) }

    /// Propagated to every child.
    public var training = true {
        didSet { for (_, layer) in forwardOrder { layer.training = training } }
    }

    /// Passed to both batch norms.
    public var usesRunningStatistics: Bool {
        get { norm1.usesRunningStatistics }
        set { norm1.usesRunningStatistics = newValue; norm2.usesRunningStatistics = newValue }
    }

    /// Passed to `conv1`, the layer that sees the group's input.
    public var computesInputGradient: Bool {
        get { conv1.computesInputGradient }
        set { conv1.computesInputGradient = newValue }
    }

    /// airbench's initialisation: each convolution PyTorch's default (kaiming-uniform, drawn
    /// conv1 then conv2) with its first `inChannels` filters replaced by identities
    /// (`Conv2d.setDirac()`); the batch norms at weight 1, bias 0, fresh running statistics.
    public func reset(using rng: inout SeededGenerator) {
        for conv in [conv1, conv2] {
            conv.reset(using: &rng)
            conv.setDirac()
        }
        norm1.reset(using: &rng)
        norm2.reset(using: &rng)
    }

    /// "conv1.weight", "norm1.weight", "norm1.bias", "conv2.weight", "norm2.weight", "norm2.bias".
    public var namedParameters: [(name: String, parameter: Parameter)] {
        [("conv1", conv1 as any Layer), ("norm1", norm1), ("conv2", conv2), ("norm2", norm2)].flatMap { child in
            child.1.namedParameters.map { ("\(child.0).\($0.name)", $0.parameter) }
        }
    }

    /// "norm1.running_mean", "norm1.running_var", "norm1.num_batches_tracked", then norm2's.
    public var namedBuffers: [(name: String, tensor: Tensor)] {
        [("norm1", norm1), ("norm2", norm2)].flatMap { child in
            child.1.namedBuffers.map { ("\(child.0).\($0.name)", $0.tensor) }
        }
    }

    /// Sets "norm1.<buffer>" or "norm2.<buffer>".
    public func setBuffer(named name: String, to tensor: Tensor) {
        guard let dot = name.firstIndex(of: ".") else { return }
        let child = name[..<dot], rest = String(name[name.index(after: dot)...])
        switch child {
        case "norm1": norm1.setBuffer(named: rest, to: tensor)
        case "norm2": norm2.setBuffer(named: rest, to: tensor)
        default: break
        }
    }

    /// Forward pass (see `Layer`). Each batch norm runs with the GELU after it fused in
    /// (`BatchNorm2d.forward(_:activation:)`): the bits of the layers called in turn, without the
    /// GELU's pass over the batch norm's output or that output kept for the backward pass. The
    /// `forwardOrder` GELUs name the state dict's "activ" and run only when called on their own.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = conv1(x)
        h = pool(h)
        h = norm1.forward(h, activation: .gelu)
        h = conv2(h)
        return norm2.forward(h, activation: .gelu)
    }

    /// Backward pass for the last forward pass (see `Layer`).
    public func backward(_ gradOutput: Tensor) -> Tensor {
        backward(gradOutput, finished: { _ in })
    }

    /// Backward pass, reporting after each layer which parameters' gradients are final.
    package func backward(_ gradOutput: Tensor, finished: (Int) -> Void) -> Tensor {
        // forwardOrder: 0 conv1, 1 pool, 2 norm1, 3 activ, 4 conv2, 5 norm2, 6 activ; a batch
        // norm's backward takes its fused GELU's output gradient. Reported as if layer by layer:
        // each GELU's report (nothing new final) before its batch norm writes any gradient.
        finished(parameterStarts[6])
        var g = norm2.backward(gradOutput)
        finished(parameterStarts[5])
        g = conv2.backward(g)
        finished(parameterStarts[4])
        finished(parameterStarts[3])
        g = norm1.backward(g)
        finished(parameterStarts[2])
        g = pool.backward(g)
        finished(parameterStarts[1])
        g = conv1.backward(g)
        finished(parameterStarts[0])
        return g
    }
}

extension Conv2d {
    /// PyTorch's `torch.nn.init.dirac_(weight[:inChannels])`, as airbench initialises its
    /// convolutions: each of the first min(out, in) filters becomes an identity, filter i passing
    /// input channel i through at the kernel's centre (k/2, k/2), zero elsewhere; the filters
    /// after them keep their values. The bias is not touched.
    public func setDirac() {
        let k = kernelSize, identities = min(outChannels, inChannels)
        let filter = inChannels * k * k
        weight.value.withUnsafeMutableBufferPointer { w in
            for i in 0..<identities {
                for j in 0..<filter { w[i * filter + j] = 0 }
                w[i * filter + (i * k + k / 2) * k + k / 2] = 1
            }
        }
    }
}
