/// Batch normalisation over [N, C, H, W] per channel (PyTorch's `nn.BatchNorm2d` with affine
/// parameters and running statistics).
///
/// Parameters "weight" (ones) and "bias" (zeros), [C]; buffers "running_mean" (zeros),
/// "running_var" (ones), [C], and "num_batches_tracked" (a one-element tensor; PyTorch stores it
/// as an int64 scalar, so a model file should write it as I64 with shape []).
/// Training uses the batch's statistics (biased variance) and updates the running ones
/// (unbiased variance, `running = (1 - momentum) running + momentum batch`); evaluation uses the running ones,
/// and so does training mode with `usesRunningStatistics` (keeping the input for `backward`).
public final class BatchNorm2d: Layer {
    /// Channels normalised.
    public let numFeatures: Int
    /// Weight of each new batch in the running statistics (PyTorch's momentum).
    public let momentum: Float
    /// Added to the variance before the square root.
    public let eps: Float
    /// The scale gamma, [C].
    public let weight: Parameter
    /// The shift beta, [C].
    public let bias: Parameter
    /// Training mode (see `Layer.training`).
    public var training = true
    /// Normalise with the running statistics in training mode too (see `Layer.usesRunningStatistics`).
    public var usesRunningStatistics = false
    /// Running mean of the batch means, [C].
    public private(set) var runningMean: Tensor
    /// Running mean of the (unbiased) batch variances, [C].
    public private(set) var runningVar: Tensor
    /// Training-mode forward passes so far (a one-element tensor, shape []).
    public private(set) var numBatchesTracked: Tensor
    /// When set, training-mode batch statistics are those of the whole batch spread over several
    /// processes (synchronised batch norm; data-parallel training sets it). Nil: this batch's own.
    package var synchronization: BatchNormSynchronization?

    private var input = Tensor.empty
    private var output = Tensor.empty
    private var gradInput = Tensor.empty
    private var savedMean = Tensor.empty
    private var savedInvStd = Tensor.empty
    private var usedBatchStatistics = true
    private var appliedActivation = BatchNormActivation.none

    /// PyTorch's defaults: momentum 0.1, eps 1e-5.
    public init(numFeatures: Int, momentum: Float = 0.1, eps: Float = 1e-5) {
        require(numFeatures > 0, "BatchNorm2d: numFeatures must be positive")
        self.numFeatures = numFeatures; self.momentum = momentum; self.eps = eps
        weight = Parameter(Tensor(shape: [numFeatures], repeating: 1))
        bias = Parameter(Tensor(shape: [numFeatures]))
        runningMean = Tensor(shape: [numFeatures])
        runningVar = Tensor(shape: [numFeatures], repeating: 1)
        numBatchesTracked = Tensor(shape: [])
    }

    /// Restores PyTorch's initial state: weight 1, bias 0, running statistics 0 and 1, no batches.
    /// (Nothing is random; `rng` is not drawn from.)
    public func reset(using rng: inout SeededGenerator) {
        weight.value.fill(1)
        bias.value.fill(0)
        runningMean.fill(0)
        runningVar.fill(1)
        numBatchesTracked.fill(0)
    }

    /// PyTorch's names: "weight", then "bias" when present.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        [("weight", weight), ("bias", bias)]
    }

    /// "running_mean", "running_var", "num_batches_tracked".
    public var namedBuffers: [(name: String, tensor: Tensor)] {
        [("running_mean", runningMean), ("running_var", runningVar), ("num_batches_tracked", numBatchesTracked)]
    }

    /// Sets "running_mean", "running_var" or "num_batches_tracked". The caller checks the shape
    /// of data it loads ([C], [C], and one element); a mismatch here is a programming error.
    public func setBuffer(named name: String, to tensor: Tensor) {
        switch name {
        case "running_mean":
            require(tensor.shape == [numFeatures], "running_mean must be [\(numFeatures)], got \(tensor.shape)")
            runningMean = tensor
        case "running_var":
            require(tensor.shape == [numFeatures], "running_var must be [\(numFeatures)], got \(tensor.shape)")
            runningVar = tensor
        case "num_batches_tracked":
            require(tensor.count == 1, "num_batches_tracked must have one element, got \(tensor.shape)")
            numBatchesTracked = tensor.reshaped(to: [])
        default:
            fatalError("BatchNorm2d has no buffer named \(name)")
        }
    }

    /// Forward pass (see `Layer`).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        forward(x, activation: .none)
    }

    /// The forward pass, followed by `activation` (`Sequential` runs a BatchNorm2d and the ReLU
    /// after it this way, `ConvGroup` its batch norms and GELUs); the next `backward` then takes
    /// the gradient of the activation's output. The bits of the two layers called in turn.
    package func forward(_ x: Tensor, activation: BatchNormActivation) -> Tensor {
        let batchStatistics = training && !usesRunningStatistics
        if batchStatistics, let synchronization {
            batchNorm2dForwardSynchronized(x, weight: weight.value, bias: bias.value, eps: eps, momentum: momentum, activation: activation,
                                           synchronization: synchronization, runningMean: &runningMean, runningVar: &runningVar,
                                           savedMean: &savedMean, savedInvStd: &savedInvStd, into: &output)
        } else {
            batchNorm2dForward(x, weight: weight.value, bias: bias.value, eps: eps, momentum: momentum, training: batchStatistics,
                               activation: activation, runningMean: &runningMean, runningVar: &runningVar,
                               savedMean: &savedMean, savedInvStd: &savedInvStd, into: &output)
        }
        usedBatchStatistics = batchStatistics
        appliedActivation = activation
        if training {
            if batchStatistics { numBatchesTracked.storage[0] += 1 }
            input = x
        } else {
            input = .empty
        }
        return output
    }

    /// Backward pass for the last forward pass (see `Layer`).
    public func backward(_ gradOutput: Tensor) -> Tensor {
        require(input.rank == 4, "BatchNorm2d.backward without a training-mode forward pass")
        if usedBatchStatistics, let synchronization {
            batchNorm2dBackwardSynchronized(input: input, weight: weight.value, savedMean: savedMean, savedInvStd: savedInvStd,
                                            gradOutput: gradOutput, activation: appliedActivation,
                                            activationBias: appliedActivation == .none ? nil : bias.value, synchronization: synchronization,
                                            gradInput: &gradInput, gradWeight: &weight.grad, gradBias: &bias.grad)
            input = .empty
            return gradInput
        }
        batchNorm2dBackward(input: input, weight: weight.value, savedMean: savedMean, savedInvStd: savedInvStd,
                            gradOutput: gradOutput, usedBatchStatistics: usedBatchStatistics,
                            activation: appliedActivation, activationBias: appliedActivation == .none ? nil : bias.value,
                            gradInput: &gradInput, gradWeight: &weight.grad, gradBias: &bias.grad)
        input = .empty
        return gradInput
    }
}
