import FeatureMaps
import ImageIO
import Kernels
import Training

/// A trained CIFAR-10 network as the explorer sees it (a model file written by the trainer): the
/// photo at its own size, normalised with the model's mean and std, through the network's
/// convolutional part; one explorer layer per convolution, whose rows show the convolution
/// (after batch normalisation when the network has it), the activation, and the pooled maps
/// (the activation again when no pooling follows that convolution). The convolutions inside
/// airbench's `ConvGroup`s are stages of their own; a group pools before its first batch norm,
/// so that stage's activation row is already pooled.
public struct TrainedFeatureMaps: FeatureMapNetwork {
    /// The model file's contents (a value, so every image builds its own network and images can
    /// run in parallel without sharing layer buffers).
    let contents: Safetensors.Contents
    /// The model file's path.
    public let source: String
    /// Colour images: the network was trained on RGB.
    public let inputChannels = 3
    /// The size the network was trained at.
    public let minimumInputSide = CIFAR10.side
    /// "trained ARCHITECTURE (PATH)", for messages.
    public let summary: String

    /// Reads and checks the model at `path`; a `TrainingError.file` naming it when it cannot be used.
    public init(path: String) throws {
        contents = try Safetensors.read(path: path)
        source = path
        let classifier = try Classifier.load(contents, source: path)
        summary = "trained \(classifier.architecture) (\(path))"
    }

    /// The `count` most probable classes of `image` as `featuremaps predict` gives them: the photo
    /// resized to 32x32 by area averaging, through the whole network.
    public func topClasses(of image: Image, count: Int) -> [ClassProbability] {
        // The contents were checked when the model was opened, so loading again cannot fail.
        guard let classifier = try? Classifier.load(contents, source: source) else { return [] }
        return classifier.topClasses(of: [image], k: count)[0].map { ClassProbability(name: $0.name, probability: $0.probability) }
    }

    /// One stage per convolution of the network's convolutional part, for `input` [1, 3, H, W] in [0, 1].
    public func layerMaps(for input: Tensor) -> [LayerMaps] {
        // The contents were checked when the model was opened, so loading again cannot fail.
        guard let classifier = try? Classifier.load(contents, source: source),
              let network = classifier.network as? Sequential else { return [] }
        network.training = false
        var x = input
        let plane = input.shape[2] * input.shape[3]
        let normalization = classifier.normalization
        x.withUnsafeMutableBufferPointer { p in
            for c in 0 ..< 3 {
                for i in c * plane ..< (c + 1) * plane { p[i] = (p[i] - normalization.mean[c]) / normalization.std[c] }
            }
        }
        var stages = [LayerMaps]()
        // airbench's convolution groups are opened up: their convolutions are stages too.
        let layers = network.children.flatMap { child in (child.layer as? ConvGroup)?.forwardOrder.map(\.layer) ?? [child.layer] }
        for layer in layers {
            if layer is Flatten || layer is Linear || layer is GlobalAvgPool2d { break }
            let y = layer(x)
            switch layer {
            case let conv as Conv2d:
                stages.append(LayerMaps(filters: conv.weight.value, conv: y, relu: y, pool: y))
            case is BatchNorm2d where !stages.isEmpty:
                // Right after the convolution, the normalised map is the convolution row; after a
                // pool (airbench's groups pool before normalising) it is the pooled one.
                if x.shape == stages[stages.count - 1].conv.shape { stages[stages.count - 1].conv = y }
                stages[stages.count - 1].relu = y
                stages[stages.count - 1].pool = y
            case is MaxPool2d, is AvgPool2d:
                if !stages.isEmpty { stages[stages.count - 1].pool = y }
            default:
                // Activations and residual blocks: the stage's activation row.
                if !stages.isEmpty {
                    stages[stages.count - 1].relu = y
                    stages[stages.count - 1].pool = y
                }
            }
            x = y
        }
        return stages
    }
}
