// The sizes of a convolution (`Conv2dGeometry`), its reusable memory (`Conv2dScratch`), and how
// every method splits a batch over threads: statically by image, each thread's images in a
// contiguous range, so results depend only on the thread count.

/// The sizes of one convolution, derived from the input and weight shapes.
package struct Conv2dGeometry: Sendable, Equatable {
    /// Input sizes: batch, channels, height, width.
    public let batch: Int, inChannels: Int, height: Int, width: Int
    /// Filters and kernel size.
    public let outChannels: Int, kernelHeight: Int, kernelWidth: Int
    /// Step between windows and zero padding on each side.
    public let stride: Int, padding: Int
    /// Output height and width.
    public let outHeight: Int, outWidth: Int

    /// The geometry of `x` [N,C,H,W] convolved with `weight` [O,C,kh,kw].
    public init(input: [Int], weight: [Int], stride: Int, padding: Int) {
        require(input.count == 4, "conv2d input must be [N,C,H,W], got \(input)")
        require(weight.count == 4, "conv2d weight must be [O,C,kh,kw], got \(weight)")
        require(input[1] == weight[1], "conv2d: input has \(input[1]) channels, weight expects \(weight[1])")
        require(stride >= 1 && padding >= 0, "conv2d: stride must be >= 1 and padding >= 0")
        batch = input[0]; inChannels = input[1]; height = input[2]; width = input[3]
        outChannels = weight[0]; kernelHeight = weight[2]; kernelWidth = weight[3]
        self.stride = stride; self.padding = padding
        require(height + 2 * padding >= kernelHeight && width + 2 * padding >= kernelWidth,
                     "conv2d: a \(kernelHeight)x\(kernelWidth) kernel does not fit a \(height)x\(width) input with padding \(padding)")
        outHeight = (height + 2 * padding - kernelHeight) / stride + 1
        outWidth = (width + 2 * padding - kernelWidth) / stride + 1
    }

    /// The geometry of a square `kernelSize` kernel from sizes alone (no shape arrays to allocate).
    init(batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int, kernelSize: Int,
         stride: Int, padding: Int) {
        self.batch = batch; self.inChannels = inChannels; self.height = height; self.width = width
        self.outChannels = outChannels; kernelHeight = kernelSize; kernelWidth = kernelSize
        self.stride = stride; self.padding = padding
        outHeight = (height + 2 * padding - kernelSize) / stride + 1
        outWidth = (width + 2 * padding - kernelSize) / stride + 1
    }

    /// Rows of the columns matrix: C * kh * kw.
    public var taps: Int { inChannels * kernelHeight * kernelWidth }
    /// Output pixels per image: Ho * Wo.
    public var outPlane: Int { outHeight * outWidth }

    /// Whether the input gradient is a forward convolution of dy (`flippedInputGradient`):
    /// stride 1, a square kernel and padding below the kernel size, so that dy padded by
    /// k-1-p and convolved with the flipped, transposed kernel is exactly dx.
    public var inputGradientIsFlippedConvolution: Bool {
        stride == 1 && kernelHeight == kernelWidth && padding <= kernelHeight - 1
    }

    /// The forward convolution that computes this one's input gradient (see
    /// `inputGradientIsFlippedConvolution`): dy [N,O,Ho,Wo] with the flipped kernel [C,O,k,k],
    /// padding k-1-p.
    public var flippedInputGradient: Conv2dGeometry {
        Conv2dGeometry(batch: batch, inChannels: outChannels, height: outHeight, width: outWidth,
                       outChannels: inChannels, kernelSize: kernelHeight, stride: 1,
                       padding: kernelHeight - 1 - padding)
    }

    /// Images per GEMM group: as many as keep the group's columns matrix within
    /// `conv2dColumnBudget` elements (at least one).
    public var imagesPerChunk: Int {
        let byBudget = conv2dColumnBudget / max(1, taps * outPlane)
        // Small feature maps: enough images that the GEMM is at least conv2dMinimumColumns
        // wide, or packing the weights (once per GEMM) costs as much as the product.
        let byWidth = (conv2dMinimumColumns + outPlane - 1) / max(1, outPlane)
        return max(1, min(batch, max(byBudget, byWidth)))
    }
}

/// The largest columns matrix (in Float elements) one thread builds at once: 128 Ki elements
/// (512 KiB), so that it, the group's GEMM output and the GEMM's packed panels share a 2 MiB
/// L2. Measured on the bench's nets (single thread, CPU time): 2^23 (the whole batch at once)
/// 1025 seed / 152 vgg images/s, 2^19 1426 / 247, one thread per image group at 2^17 faster
/// still (Docs/BENCHMARKS.md). Groups never depend on scheduling, so results are repeatable.
package let conv2dColumnBudget = 1 << 17

/// The narrowest GEMM (output pixels per group) worth running; see `imagesPerChunk`.
package let conv2dMinimumColumns = 256

/// Reusable memory for a convolution: per thread, a columns matrix and a staged GEMM result
/// [O, nb*Ho*Wo], and per extra thread a partial weight gradient. A layer keeps one, so
/// steady-state steps do not allocate. It also records which methods its last passes took.
public struct Conv2dScratch: Sendable {
    /// The method of the last `conv2dForward` with this scratch.
    package internal(set) var lastForward: ConvForwardMethod?
    /// The weight-gradient method of the last `conv2dBackward` with this scratch.
    package internal(set) var lastWeightGradient: ConvWeightGradientMethod?
    /// The input-gradient method of the last `conv2dBackward` with this scratch (nil when it
    /// did not compute one).
    package internal(set) var lastInputGradient: ConvInputGradientMethod?
    var columns: [Float] = []
    var staged: [Float] = []
    var partialGradWeight: [Float] = []
    var packedWeights = ConvPackedWeights()
    var flippedWeight: [Float] = []
    var panelStaged: [Float] = []
    var tapTable: [ConvTap] = []
    var tapOffsets: [Int32] = []
    var paddedInput: [Float] = []
    var directWeights: [Float] = []
    var directBias: [Float] = []
    var directWeightsBF16: [UInt32] = []
    var pairOffsets: [Int32] = []
    var pairedInput: [UInt32] = []
    var gradientPairs: [UInt32] = []
    var transposedGradient: [Float] = []
    var channelAccumulators: [Float] = []
    var winogradWeights: [Float] = []
    var winogradTransformed: [Float] = []
    var winogradProducts: [Float] = []
    var winogradWeightsBF16: [UInt32] = []
    var winogradTransformedBF16: [UInt32] = []
    var winogradWeightGradient: [Float] = []
    var amxWeights: [UInt16] = []
    var amxOffsets: [Int] = []
    var amxImage: [UInt32] = []
    var amxColumns: [UInt16] = []
    var amxAccumulators: [Float] = []
    /// Empty scratch; grown on first use.
    public init() {}

    /// Tap offsets into the zero-padded images of a stride-1 convolution: tap (c,i,j) reads
    /// from (c*Hp + i)*Wp + j (see `PaddedPanelSource`).
    mutating func fillPaddedTapOffsets(_ g: Conv2dGeometry) {
        let hp = g.height + 2 * g.padding, wp = g.width + 2 * g.padding
        tapOffsets.growScratch(to: g.taps, filling: 0)
        let kk = g.kernelHeight * g.kernelWidth
        for r in 0..<g.taps {
            let c = r / kk, i = (r % kk) / g.kernelWidth, j = r % g.kernelWidth
            tapOffsets[r] = Int32((c * hp + i) * wp + j)
        }
    }

    /// Elements of one thread's columns matrix and staged output.
    static func sliceSizes(_ g: Conv2dGeometry) -> (columns: Int, staged: Int) {
        let nb = g.imagesPerChunk
        return (g.taps * nb * g.outPlane, g.outChannels * nb * g.outPlane)
    }

}

extension Array {
    /// Makes a scratch buffer at least `count` long: a larger one is left as it is (contents
    /// and all), a smaller one replaced by `count` copies of `value`. Scratch only ever grows, so
    /// once a layer has seen its shapes its steps do not allocate.
    @inline(__always)
    mutating func growScratch(to count: Int, filling value: Element) {
        if self.count < count { self = Array(repeating: value, count: count) }
    }
}

extension Array where Element == Float {
    /// `growScratch(to:filling:)` with zeros.
    @inline(__always)
    mutating func growScratch(to count: Int) { growScratch(to: count, filling: 0) }
}

/// Threads a convolution over `batch` images uses, and thread t's images.
@inline(__always)
func convThreads(_ batch: Int) -> Int { max(1, min(Parallelism.threadCount, batch)) }

@inline(__always)
func convImages(thread t: Int, of threads: Int, batch: Int) -> Range<Int> {
    (batch * t / threads)..<(batch * (t + 1) / threads)
}

/// A weight gradient summed over the batch by `convThreads(g.batch)` threads, each over its own
/// images (`convImages`): `body(t, images, dw)` must overwrite dw ([O, C*kh*kw]) with the
/// gradient of thread t's images; thread 0 writes into `gradWeight`, the others into their own
/// partials (kept in `partials`), which are then added to it in thread order, so the result
/// depends only on the thread count.
func convWeightGradientByThread(
    _ g: Conv2dGeometry, into gradWeight: UnsafeMutablePointer<Float>, partials: inout [Float],
    _ body: (_ thread: Int, _ images: Range<Int>, _ gradWeight: UnsafeMutablePointer<Float>) -> Void
) {
    let threads = convThreads(g.batch)
    let weightCount = g.outChannels * g.taps
    partials.growScratch(to: weightCount * (threads - 1))
    nonisolated(unsafe) let total = gradWeight
    partials.withUnsafeMutableBufferPointer { pwp in
        parallelFor(threads) { range in
            for t in range {
                let dwThread = t == 0 ? total : pwp.baseAddress! + (t - 1) * weightCount
                let images = convImages(thread: t, of: threads, batch: g.batch)
                // Only an empty batch leaves a thread without images: its share is zero.
                if images.isEmpty { dwThread.update(repeating: 0, count: weightCount); continue }
                body(t, images, dwThread)
            }
        }
        // Threads 1..<threads, in order, onto thread 0's sum.
        for t in 1..<threads {
            let part = pwp.baseAddress! + (t - 1) * weightCount
            for i in 0..<weightCount { total[i] += part[i] }
        }
    }
}
