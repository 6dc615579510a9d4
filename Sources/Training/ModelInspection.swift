import Foundation
import ImageIO
import Kernels

/// Summary figures of a set of values (a weight tensor, a layer's outputs on a batch): count,
/// mean, standard deviation, range, the share of exact zeros, and a histogram.
public struct ValueSummary: Sendable, Equatable {
    /// How many values.
    public var count: Int
    /// Their mean and (population) standard deviation, summed in Float64.
    public var mean: Double, std: Double
    /// The smallest and largest value.
    public var min: Double, max: Double
    /// The share of values that are exactly zero (ReLU outputs, pooled ReLU maps).
    public var zeroFraction: Double
    /// Counts in equal bins over [lo, hi]. When at least `zeroShareLimit` of the values are exactly
    /// zero (`excludesZeros`), the non-zero values only: the spike at zero would flatten the rest.
    /// Values outside [lo, hi] are counted in the end bins (`outside` of them).
    public var histogram: [Int]
    /// The histogram's range: from the `tail` to the 1 - `tail` quantile of the values it counts
    /// (a few far values, such as the identity filters of airbench's initialisation, would
    /// otherwise squeeze the rest into one bar), widened when they are all equal.
    public var lo: Double, hi: Double
    /// Values the histogram counts that lie outside [lo, hi] (in its end bins). Infinities and
    /// NaNs (a diverged model) are never counted; the mean and std show them.
    public var outside: Int
    /// Whether `histogram` leaves out the exact zeros.
    public var excludesZeros: Bool

    /// The share of exact zeros from which histograms leave them out.
    public static let zeroShareLimit = 0.05
    /// The share of values at each end the histogram's range may leave out.
    public static let tail = 0.005

    /// The figures of `values`, the histogram in `bins` bins.
    public init(_ values: [Float], bins: Int = 40) {
        count = values.count
        var (sum, squares, zeros) = (0.0, 0.0, 0)
        var (low, high) = (Double.infinity, -Double.infinity)
        for v in values {
            let d = Double(v)
            sum += d
            squares += d * d
            if v == 0 { zeros += 1 }
            low = Swift.min(low, d)
            high = Swift.max(high, d)
        }
        let n = Double(Swift.max(count, 1))
        mean = sum / n
        std = Swift.max(squares / n - mean * mean, 0).squareRoot()
        (min, max) = count == 0 ? (0, 0) : (low, high)
        zeroFraction = Double(zeros) / n
        excludesZeros = zeroFraction >= Self.zeroShareLimit && zeros < count
        // The quantiles from an evenly strided sample of at most 65,536 counted values (a page is
        // written every epoch; sorting a million activations each time is not worth it).
        let skipZeros = excludesZeros
        let counted = count - (skipZeros ? zeros : 0)
        let stride = Swift.max(1, counted / 65_536)
        var sample = [Float]()
        sample.reserveCapacity(Swift.min(counted, 65_536) + 1)
        var seen = 0
        for v in values where v.isFinite && !(skipZeros && v == 0) {
            if seen % stride == 0 { sample.append(v) }
            seen += 1
        }
        sample.sort()
        if let first = sample.first, let last = sample.last {
            let a = Double(sample[Int((Self.tail * Double(sample.count - 1)).rounded(.down))])
            let b = Double(sample[Int(((1 - Self.tail) * Double(sample.count - 1)).rounded(.up))])
            (lo, hi) = b > a ? (a, b) : (Double(first), Double(last))
        } else {
            (lo, hi) = (0, 0)
        }
        if !(hi > lo) {
            let half = Swift.max(abs(lo) * 0.1, 0.5)
            (lo, hi) = (lo - half, lo + half)
        }
        histogram = [Int](repeating: 0, count: Swift.max(bins, 1))
        outside = 0
        let scale = Double(histogram.count) / (hi - lo)
        for v in values where v.isFinite && !(skipZeros && v == 0) {
            let d = Double(v)
            if d < lo || d > hi { outside += 1 }
            histogram[Swift.min(Swift.max(Int((d - lo) * scale), 0), histogram.count - 1)] += 1
        }
    }

    /// Values the histogram counts.
    public var histogramTotal: Int { histogram.reduce(0, +) }
}

/// One named tensor's figures: a parameter (weights) or a layer's output (activations).
public struct LayerFigures: Sendable, Equatable {
    /// The parameter's name ("conv1.weight") or the layer's ("0: Conv2d").
    public var name: String
    /// The tensor's shape (activations: for the whole batch).
    public var shape: [Int]
    /// Its values' figures.
    public var summary: ValueSummary
}

extension Classifier {
    /// The output of each of the network's top-level layers for the normalised batch `batch`
    /// ([N, 3, 32, 32]), in order, in evaluation mode, each named by its position or name and its
    /// type ("conv1: Conv2d", "3: ReLU"). The layers run one at a time, without `Sequential`'s
    /// fusions, which give the same values.
    public func layerOutputs(_ batch: Tensor) -> [(name: String, output: Tensor)] {
        let wasTraining = network.training
        network.training = false
        defer { network.training = wasTraining }
        guard let sequential = network as? Sequential else {
            return [("\(type(of: network))", network(batch))]
        }
        var x = batch
        return sequential.children.map { child in
            x = child.layer(x)
            return ("\(child.name): \(type(of: child.layer))", x)
        }
    }

    /// The network's first convolution (in forward order), if it has one.
    public var firstConvolution: Conv2d? {
        network.layerTree.lazy.compactMap { $0 as? Conv2d }.first
    }
}

/// What the training report shows of a model's insides: every parameter's figures, every
/// top-level layer's outputs on a few test images, and the first layer's filters as colour tiles.
public struct ModelInspection: Sendable {
    /// One entry per parameter tensor, in `namedParameters` order.
    public var weights: [LayerFigures]
    /// One entry per top-level layer: its outputs on `activationImages` images.
    public var activations: [LayerFigures]
    /// Images the activations were computed on.
    public var activationImages: Int
    /// The first convolution's filters as colour tiles (nil when it does not read 3 channels).
    public var filters: Image?
    /// The first convolution's name and what the tiles show (or why there are none).
    public var filterNote: String

    /// Pixels on a side of one filter tile (at least; a filter is upscaled by a whole factor).
    public static let tileSide = 48

    /// The figures of `classifier`, its activations on the first images of `images` (evaluation
    /// mode, fp32 products whatever the caller's precision, so a report made mid-run in bf16
    /// shows the weights' own activations).
    public static func inspect(_ classifier: Classifier, images: CIFARSplit) -> ModelInspection {
        let weights = classifier.network.namedParameters.map { named in
            LayerFigures(name: named.name, shape: named.parameter.value.shape, summary: ValueSummary(named.parameter.value.storage))
        }
        var activations = [LayerFigures]()
        if images.count > 0 {
            var batch = Tensor(shape: [0])
            var labels = [Int]()
            BatchAssembler(normalization: classifier.normalization).fill(&batch, labels: &labels, from: images, indices: Array(0 ..< images.count)[...])
            let outputs = Precision.with(.fp32) { classifier.layerOutputs(batch) }
            activations = outputs.map { LayerFigures(name: $0.name, shape: $0.output.shape, summary: ValueSummary($0.output.storage)) }
        }
        let (filters, note) = filterTiles(classifier)
        return ModelInspection(weights: weights, activations: activations, activationImages: images.count, filters: filters, filterNote: note)
    }

    /// The first convolution's filters, each scaled to RGB on its own (its smallest weight black,
    /// its largest full brightness, per channel the same scale) and upscaled to about `tileSide`
    /// pixels, 8 to a row on white with 4-pixel gaps.
    static func filterTiles(_ classifier: Classifier) -> (Image?, String) {
        guard let conv = classifier.firstConvolution else { return (nil, "The network has no convolution.") }
        let name = classifier.network.namedParameters.first { $0.parameter === conv.weight }?.name ?? "first convolution"
        let (out, k) = (conv.outChannels, conv.kernelSize)
        guard conv.inChannels == 3 else {
            return (nil, "\(name) reads \(conv.inChannels) channels, not the image's 3: no colour tiles.")
        }
        let scale = max(1, (tileSide + k - 1) / k)
        let (side, gap, columns) = (k * scale, 4, min(out, 8))
        let rows = (out + columns - 1) / columns
        let (width, height) = (gap + columns * (side + gap), gap + rows * (side + gap))
        var pixels = [UInt8](repeating: 255, count: width * height * 3)
        let w = conv.weight.value.storage
        for filter in 0 ..< out {
            let values = w[filter * 3 * k * k ..< (filter + 1) * 3 * k * k]
            let lo = values.min() ?? 0, hi = values.max() ?? 0
            let range = hi > lo ? hi - lo : 1
            let (x0, y0) = (gap + (filter % columns) * (side + gap), gap + (filter / columns) * (side + gap))
            for y in 0 ..< side {
                for x in 0 ..< side {
                    let (ky, kx) = (y / scale, x / scale)
                    for c in 0 ..< 3 {
                        let v = (values[values.startIndex + (c * k + ky) * k + kx] - lo) / range
                        // A NaN weight (a diverged model) is drawn black rather than trapping.
                        pixels[((y0 + y) * width + x0 + x) * 3 + c] = v.isFinite ? UInt8(max(0, min(255, (v * 255).rounded()))) : 0
                    }
                }
            }
        }
        let note = "\(name): \(out) filters of \(k)x\(k) over R, G, B, shown \(scale)x. Each filter is scaled on its own: "
            + "its smallest weight is black, its largest full brightness, so colours compare within a tile, not between tiles."
        return (Image(width: width, height: height, channels: 3, pixels: pixels), note)
    }
}
