import ImageIO
import Kernels

/// The maps one layer produced for one image, each [1, filters, H, W], and the filters that made
/// them ([filters, channels, k, k]).
public struct LayerMaps: Sendable {
    /// The layer's filters, [filters, input channels, k, k].
    public var filters: Tensor
    /// The convolution output, [1, filters, H, W].
    public var conv: Tensor
    /// ReLU of `conv`.
    public var relu: Tensor
    /// 2x2 stride-2 max pool of `relu`, [1, filters, floor(H/2), floor(W/2)].
    public var pool: Tensor

    /// Groups one layer's filters and maps.
    public init(filters: Tensor, conv: Tensor, relu: Tensor, pool: Tensor) {
        self.filters = filters
        self.conv = conv
        self.relu = relu
        self.pool = pool
    }
}

/// Anything the explorer can draw feature maps of: it takes one image tensor [1, C, H, W] with
/// values in [0, 1] and returns the maps of each of its layers.
///
/// `FeatureMapStack` (the notebook's random/edge stacks) is one; a trained network can be another,
/// and then reuses the explorer's batches, grids and .npy output unchanged.
public protocol FeatureMapNetwork: Sendable {
    /// 1 to be fed the grayscale image (scikit-image's rgb2gray), 3 for RGB.
    var inputChannels: Int { get }
    /// The smallest width and height an input may have.
    var minimumInputSide: Int { get }
    /// A short description for messages (for example the layer spec).
    var summary: String { get }
    /// The maps of every layer, input side first. Called only with inputs of at least
    /// `minimumInputSide` in both dimensions and `inputChannels` channels.
    func layerMaps(for input: Tensor) -> [LayerMaps]
    /// The `count` most probable classes of `image` (the decoded photo, any size), most probable
    /// first; empty for a network that does not classify (the default).
    func topClasses(of image: Image, count: Int) -> [ClassProbability]
}

extension FeatureMapNetwork {
    /// A network that only draws maps has no classes.
    public func topClasses(of image: Image, count: Int) -> [ClassProbability] { [] }
}

/// One class of a classifier's prediction and its probability.
public struct ClassProbability: Sendable, Equatable {
    /// The class name (for example "cat").
    public var name: String
    /// Its probability, in [0, 1].
    public var probability: Float

    /// A class and its probability.
    public init(name: String, probability: Float) {
        self.name = name
        self.probability = probability
    }
}

/// A stack of conv -> ReLU -> 2x2/2 max-pool layers with fixed filters, as in the notebook.
///
/// All arithmetic goes through the shared kernels (`conv2d`, `relu`, `maxPool2d`).
public struct FeatureMapStack: FeatureMapNetwork {
    /// Each layer's filters, [filters, input channels, k, k], input side first.
    public let filters: [Tensor]
    /// Channels of the input image (1 grayscale, 3 RGB).
    public let inputChannels: Int
    /// The spec the stack was built from, for messages.
    public let summary: String

    /// Builds the filters of `spec` for an input of `inputChannels` channels. Random filters are
    /// drawn from one `SeededGenerator(seed:)` layer by layer, filter by filter, channel by
    /// channel, row by row, so a seed names the same filters on every machine and run.
    public init(spec: StackSpec, inputChannels: Int, seed: UInt64) {
        precondition(inputChannels >= 1, "an input has at least one channel")
        var generator = SeededGenerator(seed: seed)
        var channels = inputChannels
        var filters: [Tensor] = []
        for layer in spec.layers {
            switch layer {
            case .edges:
                filters.append(Self.edgeFilters(channels: channels))
            case .random(let count, let size):
                filters.append(Tensor.uniform(shape: [count, channels, size, size], in: 0..<1, using: &generator))
            }
            channels = layer.filterCount
        }
        self.filters = filters
        self.inputChannels = inputChannels
        self.summary = spec.description
    }

    /// A stack of explicit filters (each [filters, channels, k, k], each layer as deep as the
    /// previous layer has filters).
    public init(filters: [Tensor], inputChannels: Int, summary: String = "custom stack") {
        var channels = inputChannels
        for weight in filters {
            precondition(weight.rank == 4 && weight.shape[1] == channels && weight.shape[2] == weight.shape[3],
                         "filters \(weight.shape) do not fit an input of \(channels) channels")
            channels = weight.shape[0]
        }
        self.filters = filters
        self.inputChannels = inputChannels
        self.summary = summary
    }

    /// The notebook's layer-1 filters, the same 3x3 kernel on every one of `channels` channels.
    public static func edgeFilters(channels: Int) -> Tensor {
        let vertical: [Float] = [-1, 0, 1, -1, 0, 1, -1, 0, 1]
        let horizontal: [Float] = [1, 1, 1, 0, 0, 0, -1, -1, -1]
        var storage: [Float] = []
        storage.reserveCapacity(2 * channels * 9)
        for kernel in [vertical, horizontal] {
            for _ in 0..<channels { storage += kernel }
        }
        return Tensor(shape: [2, channels, 3, 3], storage: storage)
    }

    /// See `StackSpec.minimumInputSide`.
    public var minimumInputSide: Int {
        var side = 1
        for weight in filters.reversed() {
            side = 2 * side + weight.shape[2] - 1
        }
        return side
    }

    /// Runs every layer: conv (valid, no bias), ReLU, 2x2 stride-2 max pool.
    public func layerMaps(for input: Tensor) -> [LayerMaps] {
        precondition(input.rank == 4 && input.shape[0] == 1 && input.shape[1] == inputChannels,
                     "input \(input.shape) is not [1, \(inputChannels), H, W]")
        var x = input
        var result: [LayerMaps] = []
        result.reserveCapacity(filters.count)
        for weight in filters {
            let conv = conv2d(x, weight: weight)
            let rectified = relu(conv)
            let pooled = maxPool2d(rectified, kernelSize: 2, stride: 2)
            result.append(LayerMaps(filters: weight, conv: conv, relu: rectified, pool: pooled))
            x = pooled
        }
        return result
    }
}
