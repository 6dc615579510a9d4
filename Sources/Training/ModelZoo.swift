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
    public static let presets = ["seed", "vgg"]

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

    /// The network for `architecture`: a preset name or a spec (see `ModelSpec`).
    public static func build(_ architecture: String, seed: UInt64) throws -> Sequential {
        switch architecture {
        case "seed": return self.seed(seed: seed)
        case "vgg": return try build(vggSpec, seed: seed)
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
