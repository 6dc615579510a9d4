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

/// Where one augmented image comes from: a crop offset into the 40x40 zero-padded image
/// (0...8 each way; 4 is the centre, no shift) and whether it is mirrored.
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

    /// The identity: centre crop, no flip.
    public static let none = CropFlip(dy: 4, dx: 4, flip: false)

    /// A crop with offsets drawn in 0...8 and a fair coin for the flip (the order of draws is
    /// part of the reproducibility contract: dy, dx, flip).
    public static func random(using generator: inout TrainingRandom, padding: Int = 4) -> CropFlip {
        let dy = generator.below(2 * padding + 1)
        let dx = generator.below(2 * padding + 1)
        let flip = generator.below(2) == 1
        return CropFlip(dy: dy, dx: dx, flip: flip)
    }
}

/// Turns CIFAR bytes into normalised NCHW batches, with optional random crop (4-pixel zero
/// padding, as torchvision's RandomCrop(32, padding=4): the padding is black before
/// normalisation) and horizontal flip.
public struct BatchAssembler: Sendable {
    /// The input normalisation.
    public let normalization: Normalization
    private let lut: [Float]
    /// Padding of the random crop, in pixels.
    public let padding = 4

    /// An assembler normalising with `normalization`.
    public init(normalization: Normalization) {
        self.normalization = normalization
        self.lut = normalization.table()
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
        batch.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            split.pixels.withUnsafeBufferPointer { src in
                lut.withUnsafeBufferPointer { lut in
                    parallelFor(n) { range in
                        for b in range {
                            let image = src.baseAddress! + indexList[b] * CIFAR10.pixelsPerImage
                            let dst = out.baseAddress! + b * CIFAR10.pixelsPerImage
                            guard let crop = cropList?[b], crop != .none else {
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
                                    let sy = y + crop.dy - pad
                                    let row = dst + c * plane + y * side
                                    if sy < 0 || sy >= side {
                                        for x in 0 ..< side { row[x] = zero }
                                        continue
                                    }
                                    let srcRow = image + c * plane + sy * side
                                    for x in 0 ..< side {
                                        // Output column x reads padded column dx + x, or its mirror.
                                        let px = crop.flip ? crop.dx + (side - 1 - x) : crop.dx + x
                                        let sx = px - pad
                                        row[x] = (sx < 0 || sx >= side) ? zero : t[Int(srcRow[sx])]
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
