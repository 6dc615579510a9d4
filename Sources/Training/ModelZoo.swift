import Kernels

/// The networks `--model` names, built from Kernels' layers with PyTorch's parameter names.
///
/// The Swift API for a custom network is `Sequential`'s result builder:
/// ```swift
/// var rng = SeededGenerator(seed: 1)
/// let net = Sequential(rng: &rng) {
///     Conv2d(inChannels: 3, outChannels: 32, kernelSize: 3, padding: 1)
///     BatchNorm2d(numFeatures: 32)
///     ReLU()
///     MaxPool2d(kernelSize: 2)
///     Flatten()
///     Linear(inFeatures: 32 * 16 * 16, outFeatures: 10)
/// }
/// ```
public enum ModelZoo {
    /// The preset names.
    public static let presets = ["seed", "vgg", "airbench"]

    /// The VGG-style net of the benchmark as a spec (nets_torch.py's net M, module for module,
    /// so the state-dict keys are the same: "0.weight", "1.running_mean", ..., "22.weight").
    public static let vggSpec = "c32k3p1,bn,relu,c32k3p1,bn,relu,mp2,c64k3p1,bn,relu,c64k3p1,bn,relu,mp2,c128k3p1,bn,relu,c128k3p1,bn,relu,mp2,fc10"

    /// The notebook's network: conv1 (5x5, 3->16, valid) -> ReLU -> conv2 (5x5, 16->16, valid)
    /// -> ReLU -> max pool 2 -> flatten -> fc (2304->10). Convolutions are initialised as in the
    /// notebook (normal, std sqrt(1/fan_in), zero bias); fc as PyTorch's nn.Linear.
    /// Names: conv1.weight [16,3,5,5], conv1.bias, conv2.weight, conv2.bias, fc.weight [10,2304], fc.bias.
    public static func seed(seed: UInt64 = 0) -> Sequential {
        var rng = SeededGenerator(seed: seed)
        let conv1 = Conv2d(inChannels: 3, outChannels: 16, kernelSize: 5)
        let conv2 = Conv2d(inChannels: 16, outChannels: 16, kernelSize: 5)
        for conv in [conv1, conv2] {
            let fanIn = conv.inChannels * conv.kernelSize * conv.kernelSize
            conv.weight.value = Tensor.normal(shape: conv.weight.value.shape, std: (1 / Float(fanIn)).squareRoot(), using: &rng)
        }
        let fc = Linear(inFeatures: 16 * 12 * 12, outFeatures: 10, rng: &rng)
        let net = Sequential {
            conv1.named("conv1")
            ReLU()
            conv2.named("conv2")
            ReLU()
            MaxPool2d(kernelSize: 2)
            Flatten()
            fc.named("fc")
        }
        net.computesInputGradient = false
        return net
    }

    /// The VGG-style net (batch normalisation), PyTorch's default initialisation.
    public static func vgg(seed: UInt64 = 0) -> Sequential {
        // The spec is a constant checked by the tests, so building it cannot fail.
        (try? build(vggSpec, seed: seed)) ?? Sequential {}
    }

    /// The channel widths of airbench94's three convolution groups.
    public static let airbenchWidths = [64, 256, 256]

    /// airbench94's network (nets_torch.py's `net_a`, module for module, the same state-dict keys):
    ///
    ///     0: Conv2d(3, 24, 2) with bias, the whitening layer: weight frozen (`whiteningWeights`
    ///        sets it from the training images; until then it keeps the initialisation below)
    ///     1: GELU
    ///     2, 3, 4: ConvGroup(24 -> 64), (64 -> 256), (256 -> 256)   32 -> 31 -> 15 -> 7 -> 3
    ///     5: MaxPool2d(3)   3 -> 1
    ///     6: Flatten
    ///     7: Linear(256, 10) without bias
    ///     8: Scale(1/9)
    ///
    /// Keys: "0.weight" [24,3,2,2], "0.bias", "2.conv1.weight" [64,24,3,3], "2.norm1.weight",
    /// "2.norm1.bias", "2.norm1.running_mean", ..., "4.norm2.num_batches_tracked", "7.weight" [10,256].
    /// Initialisation as net_a's: every convolution PyTorch's default with its first `in` filters
    /// set to identities (dirac), the whitening bias zero; the batch norms' weights 1 (frozen),
    /// biases 0; the linear layer PyTorch's default. Drawn in module order from `seed`.
    public static func airbench(seed: UInt64 = 0) -> Sequential {
        var rng = SeededGenerator(seed: seed)
        let whitening = Conv2d(inChannels: 3, outChannels: 24, kernelSize: 2, bias: true, rng: &rng)
        whitening.setDirac()
        whitening.bias?.value.fill(0)
        whitening.weight.isFrozen = true
        let (w1, w2, w3) = (airbenchWidths[0], airbenchWidths[1], airbenchWidths[2])
        let groups = [ConvGroup(inChannels: 24, outChannels: w1), ConvGroup(inChannels: w1, outChannels: w2),
                      ConvGroup(inChannels: w2, outChannels: w3)]
        for group in groups { group.reset(using: &rng) }
        let head = Linear(inFeatures: w3, outFeatures: 10, bias: false, rng: &rng)
        let net = Sequential {
            whitening
            GELU()
            groups[0]
            groups[1]
            groups[2]
            MaxPool2d(kernelSize: 3)
            Flatten()
            head
            Scale(1 / 9)
        }
        net.computesInputGradient = false
        return net
    }

    /// airbench's two optimiser groups of `network`'s trainable parameters, in `namedParameters`
    /// order: the batch-norm parameters (names with a "normN" part; with the scales frozen, the
    /// biases, which its recipe trains at 64x the learning rate) and all the others. Parameters
    /// frozen now (the whitening weight, the batch-norm scales) are in neither; one frozen later
    /// (the whitening bias, after its first epochs) stays in its group and the optimisers skip it.
    public static func airbenchParameterGroups(_ network: any Layer)
        -> (normBiases: [(name: String, parameter: Parameter)], others: [(name: String, parameter: Parameter)]) {
        let trainable = network.namedParameters.filter { !$0.parameter.isFrozen }
        func isNorm(_ name: String) -> Bool { name.split(separator: ".").contains { $0.hasPrefix("norm") } }
        return (trainable.filter { isNorm($0.name) }, trainable.filter { !isNorm($0.name) })
    }

    /// The network for `architecture`: a preset name or a spec (see `ModelSpec`).
    public static func build(_ architecture: String, seed: UInt64) throws -> Sequential {
        switch architecture {
        case "seed": return self.seed(seed: seed)
        case "vgg": return try build(vggSpec, seed: seed)
        case "airbench": return airbench(seed: seed)
        default:
            var rng = SeededGenerator(seed: seed)
            let net = Sequential(layers(try ModelSpec.parse(architecture).layers, inputChannels: 3))
            net.reset(using: &rng)
            net.computesInputGradient = false
            return net
        }
    }

    /// Kernels layers for `specs`, children named by position like nn.Sequential.
    static func layers(_ specs: [LayerSpec], inputChannels: Int) -> [SequentialChild] {
        var channels = inputChannels
        var shape = [inputChannels, 32, 32]
        var children = [SequentialChild]()
        for spec in specs {
            let layer: any Layer
            switch spec {
            case let .conv(out, k, s, p, bias):
                layer = Conv2d(inChannels: channels, outChannels: out, kernelSize: k, stride: s, padding: p, bias: bias)
                channels = out
            case .batchNorm: layer = BatchNorm2d(numFeatures: channels)
            case .relu: layer = ReLU()
            case .gelu: layer = GELU()
            case let .maxPool(k, s): layer = MaxPool2d(kernelSize: k, stride: s)
            case let .avgPool(k, s): layer = AvgPool2d(kernelSize: k, stride: s)
            case .globalAvgPool: layer = GlobalAvgPool2d()
            case .flatten: layer = Flatten()
            case let .linear(out):
                layer = Linear(inFeatures: shape.reduce(1, *), outFeatures: out)
                channels = out
            case let .residual(inner):
                let body = layers(inner, inputChannels: channels)
                layer = Residual { body }
            }
            children.append(SequentialChild(name: nil, layer: layer))
            // Shapes were validated when the spec was parsed.
            shape = (try? ModelSpec.apply(spec, to: shape, whole: "")) ?? shape
        }
        return children
    }
}
