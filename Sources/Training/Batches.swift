import Kernels

/// Per-channel input normalisation for pixels scaled to [0, 1]: x' = (x - mean[c]) / std[c].
public struct Normalization: Sendable, Equatable {
    /// Channel means (R, G, B).
    public var mean: [Float]
    /// Channel standard deviations (R, G, B).
    public var std: [Float]

    /// A normalisation with the given channel statistics.
    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// The statistics of `split` (sums in Float64; std with Bessel's correction, as torch.std).
    public static func statistics(of split: CIFARSplit) -> Normalization {
        let plane = CIFAR10.side * CIFAR10.side
        var sum = [Double](repeating: 0, count: 3)
        var sumSquares = [Double](repeating: 0, count: 3)
        split.pixels.withUnsafeBufferPointer { p in
            for image in 0 ..< split.count {
                for c in 0 ..< 3 {
                    var s = 0, ss = 0
                    let base = image * CIFAR10.pixelsPerImage + c * plane
                    for i in base ..< base + plane {
                        let v = Int(p[i])
                        s += v
                        ss += v * v
                    }
                    sum[c] += Double(s)
                    sumSquares[c] += Double(ss)
                }
            }
        }
        let n = Double(max(split.count * plane, 2))
        var mean = [Float](), std = [Float]()
        for c in 0 ..< 3 {
            let m = sum[c] / n
            let variance = max((sumSquares[c] - n * m * m) / (n - 1), 1e-12)
            mean.append(Float(m / 255))
            std.append(Float(variance.squareRoot() / 255))
        }
        return Normalization(mean: mean, std: std)
    }

    /// For each channel, the normalised value of every byte 0...255 (a lookup table).
    func table() -> [Float] {
        var t = [Float](repeating: 0, count: 3 * 256)
        for c in 0 ..< 3 {
            for v in 0 ..< 256 { t[c * 256 + v] = (Float(v) / 255 - mean[c]) / std[c] }
        }
        return t
    }
}

/// Where one augmented image comes from: a crop offset into the padded image (0...2 padding
/// each way; padding itself is the centre, no shift; with the default 4-pixel padding the
/// image is 40x40 and offsets are 0...8) and whether the crop is mirrored.
public struct CropFlip: Sendable, Equatable {
    /// Row offset into the padded image, 0...2*padding.
    public var dy: Int
    /// Column offset into the padded image, 0...2*padding.
    public var dx: Int
    /// Mirror left-right.
    public var flip: Bool

    /// A crop at (dy, dx) in the padded image, mirrored when `flip`.
    public init(dy: Int, dx: Int, flip: Bool) {
        self.dy = dy
        self.dx = dx
        self.flip = flip
    }

    /// The identity at the default 4-pixel padding: centre crop, no flip.
    public static let none = CropFlip(dy: 4, dx: 4, flip: false)

    /// The identity at `padding`: centre crop, no flip.
    public static func identity(padding: Int) -> CropFlip { CropFlip(dy: padding, dx: padding, flip: false) }

    /// A crop with offsets drawn in 0...8 and a fair coin for the flip (the order of draws is
    /// part of the reproducibility contract: dy, dx, flip).
    public static func random(using generator: inout TrainingRandom, padding: Int = 4) -> CropFlip {
        let dy = generator.below(2 * padding + 1)
        let dx = generator.below(2 * padding + 1)
        let flip = generator.below(2) == 1
        return CropFlip(dy: dy, dx: dx, flip: flip)
    }
}

/// What lies outside the image when a crop reaches past its edge.
public enum PaddingMode: String, Sendable, Codable {
    /// Black (pixel value 0 before normalisation), as torchvision's RandomCrop(32, padding=4).
    case zero
    /// The image mirrored at its edge without repeating the edge pixel (PyTorch's
    /// F.pad(mode='reflect'): column -1 is column 1), as airbench pads.
    case reflect
}

/// Turns CIFAR bytes into normalised NCHW batches, with optional crop from the padded image
/// (by default 4-pixel zero padding, as torchvision's RandomCrop(32, padding=4): the padding is
/// black before normalisation) and horizontal flip.
public struct BatchAssembler: Sendable {
    /// The input normalisation.
    public let normalization: Normalization
    private let lut: [Float]
    /// Padding of the crop, in pixels.
    public let padding: Int
    /// What the padding holds.
    public let paddingMode: PaddingMode

    /// An assembler normalising with `normalization`, cropping from the image padded by
    /// `padding` pixels of `paddingMode`.
    public init(normalization: Normalization, padding: Int = 4, paddingMode: PaddingMode = .zero) {
        precondition(padding >= 0 && padding < CIFAR10.side, "padding must be in 0..<32")
        self.normalization = normalization
        self.lut = normalization.table()
        self.padding = padding
        self.paddingMode = paddingMode
    }

    /// Writes images `indices` of `split` into `batch` ([n, 3, 32, 32], resized as needed) and
    /// their labels into `labels`, each transformed by `crops[i]` (or untransformed when
    /// `crops` is nil). Images are filled in parallel; the result does not depend on threads.
    public func fill(_ batch: inout Tensor, labels: inout [Int], from split: CIFARSplit,
                     indices: ArraySlice<Int>, crops: ArraySlice<CropFlip>? = nil) {
        let n = indices.count
        let side = CIFAR10.side
        let plane = side * side
        batch.resize(to: [n, 3, side, side])
        labels.removeAll(keepingCapacity: true)
        for i in indices { labels.append(Int(split.labels[i])) }
        let indexList = Array(indices)
        let cropList = crops.map(Array.init)
        let pad = padding
        let identity = CropFlip.identity(padding: pad)
        let reflect = paddingMode == .reflect
        // A padded coordinate's source row or column, or -1 for zero padding outside the image.
        func source(_ v: Int) -> Int {
            if v >= 0 && v < side { return v }
            if !reflect { return -1 }
            return v < 0 ? -v : 2 * (side - 1) - v
        }
        batch.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            split.pixels.withUnsafeBufferPointer { src in
                lut.withUnsafeBufferPointer { lut in
                    parallelFor(n) { range in
                        for b in range {
                            let image = src.baseAddress! + indexList[b] * CIFAR10.pixelsPerImage
                            let dst = out.baseAddress! + b * CIFAR10.pixelsPerImage
                            guard let crop = cropList?[b], crop != identity else {
                                for c in 0 ..< 3 {
                                    let t = lut.baseAddress! + c * 256
                                    for i in 0 ..< plane { dst[c * plane + i] = t[Int(image[c * plane + i])] }
                                }
                                continue
                            }
                            for c in 0 ..< 3 {
                                let t = lut.baseAddress! + c * 256
                                let zero = t[0]
                                for y in 0 ..< side {
                                    let sy = source(y + crop.dy - pad)
                                    let row = dst + c * plane + y * side
                                    if sy < 0 {
                                        for x in 0 ..< side { row[x] = zero }
                                        continue
                                    }
                                    let srcRow = image + c * plane + sy * side
                                    for x in 0 ..< side {
                                        // Output column x reads padded column dx + x, or its mirror.
                                        let px = crop.flip ? crop.dx + (side - 1 - x) : crop.dx + x
                                        let sx = source(px - pad)
                                        row[x] = sx < 0 ? zero : t[Int(srcRow[sx])]
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// airbench's training augmentation: each image translated by up to `padding` pixels each way
/// (a crop of the reflect-padded image, offsets uniform and redrawn every epoch) and flipped in
/// a fixed alternating pattern instead of at random: in epoch 0 each image is mirrored or not
/// by a fair coin drawn once (`pattern`), and in every later epoch odd epochs mirror all
/// images relative to that, so each image is seen mirrored every other epoch.
public struct AlternatingFlipTranslate: Sendable, Equatable {
    /// Translation range and reflect padding, in pixels (airbench94: 2).
    public static let padding = 2
    /// Whether each training image is mirrored in epoch 0.
    public let pattern: [Bool]

    /// The pattern for `count` images, from its own generator seeded by `seed`, so a resumed
    /// run draws it again without saving it.
    public init(count: Int, seed: UInt64) {
        var rng = TrainingRandom(seed: seed)
        pattern = (0 ..< count).map { _ in rng.below(2) == 1 }
    }

    /// Whether image `index` is mirrored in (0-based) epoch `epoch`.
    public func flips(_ index: Int, epoch: Int) -> Bool { pattern[index] != (epoch % 2 == 1) }

    /// Every image's crop for `epoch`: offsets drawn from `rng` (dy then dx, 0...2 padding per
    /// image, in image order), flips by the pattern.
    public func crops(epoch: Int, using rng: inout TrainingRandom) -> [CropFlip] {
        let p = Self.padding
        return pattern.indices.map { i in
            let dy = rng.below(2 * p + 1)
            let dx = rng.below(2 * p + 1)
            return CropFlip(dy: dy, dx: dx, flip: flips(i, epoch: epoch))
        }
    }
}

/// Test-time augmentation: the logits of several views of each image, averaged with weights.
public enum TestTimeAugmentation: String, Sendable, Codable, CaseIterable {
    /// The image alone (the plain forward pass).
    case none
    /// The image and its mirror image, 1/2 each (the seed and VGG presets).
    case flip
    /// airbench's level 2: the image and its mirror image (1/4 each), and the image translated
    /// by one pixel down and right and by one pixel up and left (reflect padding), each with
    /// its mirror image (1/8 each): 6 views.
    case mirrorTranslate = "mirror-translate"

    /// One view: where it is cropped from (in the image padded by `padding`) and its weight.
    public struct View: Sendable, Equatable {
        /// The crop and flip of the view.
        public var crop: CropFlip
        /// The view's weight in the average of the logits.
        public var weight: Float
    }

    /// The padding (reflect) the views' crops refer to.
    public var padding: Int { self == .mirrorTranslate ? 1 : 0 }

    /// The views, the plain image first; the weights sum to 1.
    public var views: [View] {
        let p = padding
        switch self {
        case .none: return [View(crop: .identity(padding: p), weight: 1)]
        case .flip: return [false, true].map { View(crop: CropFlip(dy: p, dx: p, flip: $0), weight: 0.5) }
        case .mirrorTranslate:
            // Offset 0 reads padded row/column y: the image moved one pixel down and right
            // (airbench's padded[0:32, 0:32]); offset 2 moved up and left (padded[2:34, 2:34]).
            return [false, true].map { View(crop: CropFlip(dy: 1, dx: 1, flip: $0), weight: 0.25) }
                + [0, 2].flatMap { o in [false, true].map { View(crop: CropFlip(dy: o, dx: o, flip: $0), weight: 0.125) } }
        }
    }

    /// The test-time augmentation of an architecture's preset: airbench's level 2 for
    /// `airbench`, flip averaging for the others.
    public static func preset(for architecture: String) -> TestTimeAugmentation {
        architecture == "airbench" ? .mirrorTranslate : .flip
    }
}
