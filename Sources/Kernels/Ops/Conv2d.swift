// 2-D convolution (cross-correlation, as PyTorch's conv2d: the kernel is not flipped).
//
//   x  [N, C, H, W]      weight [O, C, kh, kw]      bias [O]      y [N, O, Ho, Wo]
//   Ho = (H + 2 padding - kh) / stride + 1      Wo = (W + 2 padding - kw) / stride + 1
//
//   y[n,o,oy,ox] = bias[o] + sum_{c,i,j} weight[o,c,i,j] * x[n, c, oy*stride - padding + i, ox*stride - padding + j]
//   (x is zero outside the image)
//
// Method (Docs/KERNELS.md, "How a convolution runs"): `conv2dForward` picks direct loops for
// few filters on long rows (Conv2dDirect.swift), the AVX-512 vector kernels at stride 1
// (Conv2dVectorDirect.swift), else a GEMM over panels packed straight from the image
// (Conv2dPanels.swift). In every case the batch is split statically over the threads and each
// thread runs its own images. At stride 1 the input gradient is a convolution of dy with the
// flipped kernel (`conv2dInputGradientByFlippedKernel`).
//
// What stays in this file for the other cases (stride > 1 backward, and the weight gradient
// without AVX-512): im2col + GEMM per group of images small enough that the group's columns
// matrix stays in L2 (conv2dColumnBudget). The columns matrix holds, for every kernel tap
// (c,i,j) = row r, the input value each output pixel of the group sees through that tap:
//   cols[r, n*Ho*Wo + oy*Wo + ox] = x[n, c, oy*s - p + i, ox*s - p + j]      cols [C*kh*kw, nb*Ho*Wo]
// and with dY staged as [O, nb*Ho*Wo]:
//   dW[O, C*kh*kw]  += dY * cols^T          (each thread sums its images into its own partial;
//                                             the partials are added in thread order)
//   dcols           =  W^T * dY          then col2im adds every column entry back to the input pixel it came from
//   dbias[o]        =  sum_{n,oy,ox} dy[n,o,oy,ox]

/// The sizes of one convolution, derived from the input and weight shapes.
public struct Conv2dGeometry: Sendable, Equatable {
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
public let conv2dColumnBudget = 1 << 17

/// The narrowest GEMM (output pixels per group) worth running; see `imagesPerChunk`.
public let conv2dMinimumColumns = 256

/// Reusable memory for a convolution: per thread, a columns matrix and a staged GEMM result
/// [O, nb*Ho*Wo], and per extra thread a partial weight gradient. A layer keeps one, so
/// steady-state steps do not allocate.
public struct Conv2dScratch: Sendable {
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
    var transposedGradient: [Float] = []
    var channelAccumulators: [Float] = []
    var winogradWeights: [Float] = []
    var winogradTransformed: [Float] = []
    var winogradProducts: [Float] = []
    var winogradWeightGradient: [Float] = []
    /// Empty scratch; grown on first use.
    public init() {}

    /// Tap offsets into the zero-padded images of a stride-1 convolution: tap (c,i,j) reads
    /// from (c*Hp + i)*Wp + j (see `PaddedPanelSource`).
    mutating func fillPaddedTapOffsets(_ g: Conv2dGeometry) {
        let hp = g.height + 2 * g.padding, wp = g.width + 2 * g.padding
        if tapOffsets.count < g.taps { tapOffsets = [Int32](repeating: 0, count: g.taps) }
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

    mutating func reserve(_ g: Conv2dGeometry, threads: Int) {
        let (c, s) = Self.sliceSizes(g)
        if columns.count < c * threads { columns = [Float](repeating: 0, count: c * threads) }
        if staged.count < s * threads { staged = [Float](repeating: 0, count: s * threads) }
        let partial = g.outChannels * g.taps * (threads - 1)
        if partialGradWeight.count < partial { partialGradWeight = [Float](repeating: 0, count: partial) }
    }
}

/// Threads a convolution over `batch` images uses, and thread t's images.
@inline(__always)
func convThreads(_ batch: Int) -> Int { max(1, min(Parallelism.threadCount, batch)) }

@inline(__always)
func convImages(thread t: Int, of threads: Int, batch: Int) -> Range<Int> {
    (batch * t / threads)..<(batch * (t + 1) / threads)
}

/// Forward convolution into `y` (resized to [N,O,Ho,Wo]): direct loops for few filters on long
/// rows (`conv2dDirect`); else, at stride 1 on a CPU with AVX-512, the vectorised direct
/// kernel (Conv2dVectorDirect.swift); else a GEMM over panels packed from the image
/// (`conv2dGEMMForward`). All compute the same sums.
public func conv2dForward(
    _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int,
    into y: inout Tensor, scratch: inout Conv2dScratch
) {
    let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: stride, padding: padding)
    if conv2dPrefersDirect(g) {
        conv2dDirect(x, weight: weight, bias: bias, stride: stride, padding: padding, into: &y)
    } else {
        convolve(x, weight: weight, bias: bias, geometry: g, into: &y, scratch: &scratch, vectorDirect: true)
    }
}

/// Forward convolution into `y` (resized to [N,O,Ho,Wo]) as a GEMM whose B panels are packed
/// straight from the image, bias included (Conv2dPanels.swift), whatever the CPU: the path of
/// CPUs without AVX-512 and of stride 2, exposed so the tests check it on every machine.
public func conv2dGEMMForward(
    _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int,
    into y: inout Tensor, scratch: inout Conv2dScratch
) {
    let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: stride, padding: padding)
    convolve(x, weight: weight, bias: bias, geometry: g, into: &y, scratch: &scratch, vectorDirect: false)
}

/// The GEMM-class convolution: the AVX-512 direct kernel when allowed and possible, else panels.
func convolve(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry g: Conv2dGeometry,
              into y: inout Tensor, scratch: inout Conv2dScratch, vectorDirect: Bool) {
    if let bias { require(bias.count == g.outChannels, "conv2d: bias has \(bias.count) elements, expected \(g.outChannels)") }
    y.resize(g.batch, g.outChannels, g.outHeight, g.outWidth)
    withOptionalBuffer(bias) { biasp in
    weight.withUnsafeBufferPointer { wp in
    x.withUnsafeBufferPointer { xp in
    y.withUnsafeMutableBufferPointer { yp in
        convolve(g, input: xp.baseAddress!, weight: wp.baseAddress!, bias: biasp, output: yp.baseAddress!,
                 scratch: &scratch, vectorDirect: vectorDirect)
    }}}}
}

/// `convolve` on raw buffers: weight [O, C*kh*kw], bias [O] or nil, input and output NCHW.
func convolve(_ g: Conv2dGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
              bias: UnsafeBufferPointer<Float>?, output: UnsafeMutablePointer<Float>,
              scratch: inout Conv2dScratch, vectorDirect: Bool) {
    if vectorDirect && convWinogradApplies(g) {
        convWinogradForward(g, input: input, weight: weight, bias: bias, output: output, scratch: &scratch)
        return
    }
    if vectorDirect && g.stride == 1 && MicroKernel.selected == .avx512 {
        convVectorDirectForward(g, input: input, weight: weight, bias: bias, output: output, scratch: &scratch)
        return
    }
    scratch.packedWeights.pack(weight: weight, rows: g.outChannels, taps: g.taps, lda: g.taps,
                               bias: bias, kernel: .selected)
    convPanelForward(g, input: input, output: output, scratch: &scratch)
}

/// Images per panel GEMM: one when an image's output plane is wide enough for the GEMM (its
/// output then lands in `y` directly), else enough images for `conv2dMinimumColumns`, staged
/// and copied out.
func panelImages(_ g: Conv2dGeometry) -> Int {
    if g.outPlane >= conv2dMinimumColumns { return 1 }
    return max(1, min(g.batch, (conv2dMinimumColumns + g.outPlane - 1) / g.outPlane))
}

/// The threaded body of the panel convolution, with the weights already in `scratch.packedWeights`.
func convPanelForward(_ g: Conv2dGeometry, input: UnsafePointer<Float>,
                      output: UnsafeMutablePointer<Float>, scratch: inout Conv2dScratch) {
    if g.stride == 1 {
        convPaddedPanelForward(g, input: input, output: output, scratch: &scratch)
        return
    }
    let threads = convThreads(g.batch)
    let perGroup = panelImages(g)
    let stagedSlice = perGroup > 1 ? g.outChannels * perGroup * g.outPlane : 0
    if scratch.panelStaged.count < stagedSlice * threads {
        scratch.panelStaged = [Float](repeating: 0, count: stagedSlice * threads)
    }
    if scratch.tapTable.count < g.taps {
        scratch.tapTable = [ConvTap](repeating: ConvTap(rowOffset: 0, i: 0, lo: 0, hi: 0), count: g.taps)
    }
    let weights = scratch.packedWeights.layout
    let kernel = MicroKernel.selected
    nonisolated(unsafe) let out = output
    scratch.tapTable.withUnsafeMutableBufferPointer { tp in
    ConvTap.fill(tp.baseAddress!, for: g)
    let taps = UnsafePointer(tp.baseAddress!)
    scratch.packedWeights.storage.withUnsafeBufferPointer { wp in
    scratch.panelStaged.withUnsafeMutableBufferPointer { stp in
        parallelFor(threads) { range in
            for t in range {
                let images = convImages(thread: t, of: threads, batch: g.batch)
                var n0 = images.lowerBound
                while n0 < images.upperBound {
                    let nb = min(perGroup, images.upperBound - n0)
                    let src = ConvPanelSource(geometry: g, input: input, taps: taps, firstImage: n0, images: nb)
                    let yImage = out + n0 * g.outChannels * g.outPlane
                    // One image: the GEMM result [O, Ho*Wo] is that image's NCHW block.
                    let target = nb == 1 ? yImage : stp.baseAddress! + t * stagedSlice
                    let cols = src.columns
                    convPanelGEMM(columns: cols, weights: weights, weightBase: wp.baseAddress!, kernel: kernel,
                                  c: target, ldc: cols) { pc, kc, jc, nc, panel in
                        packConvPanel(src, pc: pc, kc: kc, jc: jc, nc: nc, nr: kernel.nr, into: panel)
                    }
                    if nb > 1 {
                        for n in 0..<nb {
                            for o in 0..<g.outChannels {
                                (yImage + (n * g.outChannels + o) * g.outPlane)
                                    .update(from: target + o * cols + n * g.outPlane, count: g.outPlane)
                            }
                        }
                    }
                    n0 += nb
                }
            }
        }
    }}}
}

/// Stride-1 panel convolution on wide rows of zero-padded images (`PaddedPanelSource`): each
/// thread pads its image group, runs the GEMM into a staged [O, nb*Ho*Wp] and copies the Wo
/// valid columns of every row into `output`.
func convPaddedPanelForward(_ g: Conv2dGeometry, input: UnsafePointer<Float>,
                            output: UnsafeMutablePointer<Float>, scratch: inout Conv2dScratch) {
    let hp = g.height + 2 * g.padding, wp = g.width + 2 * g.padding
    let imageSize = g.inChannels * hp * wp
    let widePlane = g.outHeight * wp
    let threads = convThreads(g.batch)
    let perGroup = max(1, min(g.batch, (conv2dMinimumColumns + widePlane - 1) / widePlane))
    let paddedSlice = perGroup * imageSize + g.kernelWidth + 16
    let stagedSlice = g.outChannels * perGroup * widePlane
    if scratch.panelStaged.count < stagedSlice * threads {
        scratch.panelStaged = [Float](repeating: 0, count: stagedSlice * threads)
    }
    if scratch.paddedInput.count < paddedSlice * threads {
        scratch.paddedInput = [Float](repeating: 0, count: paddedSlice * threads)
    }
    scratch.fillPaddedTapOffsets(g)
    let weights = scratch.packedWeights.layout
    let kernel = MicroKernel.selected
    nonisolated(unsafe) let out = output
    scratch.tapOffsets.withUnsafeBufferPointer { tp in
    scratch.packedWeights.storage.withUnsafeBufferPointer { wtp in
    scratch.panelStaged.withUnsafeMutableBufferPointer { stp in
    scratch.paddedInput.withUnsafeMutableBufferPointer { pp in
        parallelFor(threads) { range in
            for t in range {
                let padded = pp.baseAddress! + t * paddedSlice
                let staged = stp.baseAddress! + t * stagedSlice
                let images = convImages(thread: t, of: threads, batch: g.batch)
                var n0 = images.lowerBound
                while n0 < images.upperBound {
                    let nb = min(perGroup, images.upperBound - n0)
                    padImages(g, input + n0 * g.inChannels * g.height * g.width, images: nb, into: padded)
                    (padded + nb * imageSize).update(repeating: 0, count: g.kernelWidth + 16)
                    let src = PaddedPanelSource(input: padded, tapOffsets: tp.baseAddress!, tapCount: g.taps,
                                                imageSize: imageSize, widePlane: widePlane, images: nb)
                    let cols = src.columns
                    convPanelGEMM(columns: cols, weights: weights, weightBase: wtp.baseAddress!, kernel: kernel,
                                  c: staged, ldc: cols) { pc, kc, jc, nc, panel in
                        packPaddedConvPanel(src, pc: pc, kc: kc, jc: jc, nc: nc, nr: kernel.nr, into: panel)
                    }
                    let yGroup = out + n0 * g.outChannels * g.outPlane
                    for n in 0..<nb {
                        for o in 0..<g.outChannels {
                            let from = staged + o * cols + n * widePlane
                            let to = yGroup + (n * g.outChannels + o) * g.outPlane
                            for oy in 0..<g.outHeight {
                                copyRow(to + oy * g.outWidth, from + oy * wp, count: g.outWidth)
                            }
                        }
                    }
                    n0 += nb
                }
            }
        }
    }}}}
}

/// Copies `images` images [C,H,W] into [C, H+2p, W+2p] with a zero border of width p.
func padImages(_ g: Conv2dGeometry, _ x: UnsafePointer<Float>, images: Int, into dst: UnsafeMutablePointer<Float>) {
    let p = g.padding, hp = g.height + 2 * p, wp = g.width + 2 * p
    for plane in 0..<(images * g.inChannels) {
        let src = x + plane * g.height * g.width
        let out = dst + plane * hp * wp
        out.update(repeating: 0, count: p * wp + p)
        for y in 0..<g.height {
            let row = out + (y + p) * wp + p
            copyRow(row, src + y * g.width, count: g.width)
            // The right border of this row and the left border of the next are adjacent.
            (row + g.width).update(repeating: 0, count: y == g.height - 1 ? p : 2 * p)
        }
        (out + (hp - p) * wp).update(repeating: 0, count: p * wp)
    }
}

/// Runs `body` with a pointer to the tensor's elements, or nil when there is no tensor.
@inline(__always)
func withOptionalBuffer<R>(_ t: Tensor?, _ body: (UnsafeBufferPointer<Float>?) -> R) -> R {
    guard let t else { return body(nil) }
    return t.withUnsafeBufferPointer { body($0) }
}

/// Backward convolution: overwrites `gradWeight` ([O,C,kh,kw]) and, when `computeGradInput`,
/// `gradInput` ([N,C,H,W]); see the file comment. The bias gradient is `conv2dBiasBackward`.
/// The first layer of a network can skip the input gradient it would throw away.
public func conv2dBackward(
    input x: Tensor, weight: Tensor, gradOutput dy: Tensor, stride: Int, padding: Int,
    gradInput dx: inout Tensor, gradWeight dw: inout Tensor, computeGradInput: Bool = true,
    scratch: inout Conv2dScratch
) {
    let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: stride, padding: padding)
    require(dy.rank == 4 && dy.shape[0] == g.batch && dy.shape[1] == g.outChannels
                 && dy.shape[2] == g.outHeight && dy.shape[3] == g.outWidth,
                 "conv2d backward: gradient shape \(dy.shape) does not match the output")
    dw.resize(to: weight.shape)
    if computeGradInput { dx.resize(like: x) }
    if conv2dInputGradientIsFlippedConvolution(g) && MicroKernel.selected == .avx512 {
        // Stride 1 with AVX-512: both gradients without a columns matrix (Conv2dVectorDirect.swift).
        x.withUnsafeBufferPointer { xp in
        dy.withUnsafeBufferPointer { dyp in
        dw.withUnsafeMutableBufferPointer { dwp in
            convVectorDirectWeightGradient(g, input: xp.baseAddress!, gradOutput: dyp.baseAddress!,
                                           gradWeight: dwp.baseAddress!, scratch: &scratch)
        }}}
        if computeGradInput {
            conv2dInputGradientByFlippedKernel(g, weight: weight, gradOutput: dy, gradInput: &dx, scratch: &scratch)
        }
        return
    }
    let threads = convThreads(g.batch)
    scratch.reserve(g, threads: threads)
    let perChunk = g.imagesPerChunk
    let (columnSlice, stagedSlice) = Conv2dScratch.sliceSizes(g)
    let weightCount = g.outChannels * g.taps
    // Stride 1: the input gradient is a convolution of dy with the flipped kernel (below);
    // otherwise it comes from the columns, W^T * dY scattered back by col2im, in the loop.
    let flipped = conv2dInputGradientIsFlippedConvolution(g)
    x.withUnsafeBufferPointer { xp in
    weight.withUnsafeBufferPointer { wp in
    dy.withUnsafeBufferPointer { dyp in
    dw.withUnsafeMutableBufferPointer { dwp in
    scratch.columns.withUnsafeMutableBufferPointer { colp in
    scratch.staged.withUnsafeMutableBufferPointer { stp in
    scratch.partialGradWeight.withUnsafeMutableBufferPointer { pwp in
    dx.withUnsafeMutableBufferPointer { dxp in
        let dxBase = computeGradInput && !flipped ? dxp.baseAddress : nil
        parallelFor(threads) { range in
            for t in range {
                let colBase = colp.baseAddress! + t * columnSlice
                let stBase = stp.baseAddress! + t * stagedSlice
                // Thread 0 sums straight into dW, the others into their partials.
                let dwThread = t == 0 ? dwp.baseAddress! : pwp.baseAddress! + (t - 1) * weightCount
                let images = convImages(thread: t, of: threads, batch: g.batch)
                var n0 = images.lowerBound
                while n0 < images.upperBound {
                    let nb = min(perChunk, images.upperBound - n0)
                    let cols = nb * g.outPlane
                    // Stage dy[n0..<n0+nb] as [O, nb*Ho*Wo] (with one image it already is).
                    let dyImage = dyp.baseAddress! + n0 * g.outChannels * g.outPlane
                    let staged: UnsafePointer<Float>
                    if nb == 1 {
                        staged = dyImage
                    } else {
                        for n in 0..<nb {
                            for o in 0..<g.outChannels {
                                (stBase + o * cols + n * g.outPlane)
                                    .update(from: dyImage + (n * g.outChannels + o) * g.outPlane, count: g.outPlane)
                            }
                        }
                        staged = UnsafePointer(stBase)
                    }
                    im2col(g, x: xp.baseAddress!, firstImage: n0, images: nb, columns: colBase, parallel: false)
                    sgemmSingleThreaded(transA: .none, transB: .transposed, m: g.outChannels, n: g.taps, k: cols,
                                        alpha: 1, a: staged, lda: cols, b: colBase, ldb: cols,
                                        beta: n0 == images.lowerBound ? 0 : 1, c: dwThread, ldc: g.taps)
                    if let dxBase {
                        sgemmSingleThreaded(transA: .transposed, transB: .none, m: g.taps, n: cols, k: g.outChannels,
                                            alpha: 1, a: wp.baseAddress!, lda: g.taps, b: staged, ldb: cols,
                                            beta: 0, c: colBase, ldc: cols)
                        col2im(g, columns: colBase, firstImage: n0, images: nb, gradInput: dxBase, parallel: false)
                    }
                    n0 += nb
                }
            }
        }
        addPartials(pwp.baseAddress!, threads: threads, count: weightCount, into: dwp.baseAddress!)
    }}}}}}}}
    if computeGradInput && flipped {
        conv2dInputGradientByFlippedKernel(g, weight: weight, gradOutput: dy, gradInput: &dx, scratch: &scratch)
    }
}

/// Adds the partial weight gradients of threads 1..<threads (`count` floats each, one after
/// another) to thread 0's, in thread order: the same sums for the same thread count.
func addPartials(_ partials: UnsafePointer<Float>, threads: Int, count: Int, into total: UnsafeMutablePointer<Float>) {
    for t in 1..<max(1, threads) {
        let part = partials + (t - 1) * count
        for i in 0..<count { total[i] += part[i] }
    }
}

/// Whether `conv2dBackward` computes dx as a convolution: stride 1, a square kernel and
/// padding below the kernel size, so that dy padded by k-1-p and convolved with the flipped,
/// transposed kernel is exactly dx.
func conv2dInputGradientIsFlippedConvolution(_ g: Conv2dGeometry) -> Bool {
    g.stride == 1 && g.kernelHeight == g.kernelWidth && g.padding <= g.kernelHeight - 1
}

// Input gradient of a stride-1 convolution, as a forward convolution:
//
//   dx[n,c,iy,ix] = sum_{o,i,j} weight[o,c,i,j] * dy[n,o,iy+p-i,ix+p-j]      (dy is 0 outside)
//                 = sum_{o,i',j'} flip[c,o,i',j'] * dy[n,o,iy-(k-1-p)+i',ix-(k-1-p)+j']
//   flip[c,o,i',j'] = weight[o,c,k-1-i',k-1-j']          flip [C,O,k,k],  padding k-1-p
//
// so it runs on the same packed panels as the forward pass, with K = O*k*k rather than the
// K = O of W^T * dY, and without a columns matrix to scatter back.

/// Overwrites `dx` ([N,C,H,W]) with the input gradient of a stride-1 convolution.
func conv2dInputGradientByFlippedKernel(_ g: Conv2dGeometry, weight: Tensor, gradOutput dy: Tensor,
                                        gradInput dx: inout Tensor, scratch: inout Conv2dScratch) {
    let k = g.kernelHeight, kk = k * k
    let (o, c) = (g.outChannels, g.inChannels)
    if scratch.flippedWeight.count < c * o * kk { scratch.flippedWeight = [Float](repeating: 0, count: c * o * kk) }
    weight.withUnsafeBufferPointer { wp in
    scratch.flippedWeight.withUnsafeMutableBufferPointer { fp in
        for oc in 0..<o {
            for ic in 0..<c {
                let src = wp.baseAddress! + (oc * c + ic) * kk
                let dst = fp.baseAddress! + (ic * o + oc) * kk
                for t in 0..<kk { dst[t] = src[kk - 1 - t] }
            }
        }
    }}
    let transposed = Conv2dGeometry(batch: g.batch, inChannels: o, height: g.outHeight, width: g.outWidth,
                                    outChannels: c, kernelSize: k, stride: 1, padding: k - 1 - g.padding)
    let flipped = scratch.flippedWeight
    flipped.withUnsafeBufferPointer { fp in
    dy.withUnsafeBufferPointer { dyp in
    dx.withUnsafeMutableBufferPointer { dxp in
        convolve(transposed, input: dyp.baseAddress!, weight: fp.baseAddress!, bias: nil, output: dxp.baseAddress!,
                 scratch: &scratch, vectorDirect: true)
    }}}
}

/// dbias[o] = sum over n, oy, ox of dy[n,o,oy,ox], into `gradBias` ([O]).
/// Shared by every layer whose output is NCHW with a per-channel bias or shift.
public func conv2dBiasBackward(gradOutput dy: Tensor, into gradBias: inout Tensor) {
    channelSums(dy, into: &gradBias)
}

/// out[c] = sum over n, h, w of x[n,c,h,w] (accumulated in Double, in a fixed order).
func channelSums(_ x: Tensor, into out: inout Tensor) {
    require(x.rank == 4, "expected [N,C,H,W], got \(x.shape)")
    let n = x.shape[0], c = x.shape[1], plane = x.shape[2] * x.shape[3]
    if out.shape.count != 1 || out.shape[0] != c { out.resize(to: [c]) }
    x.withUnsafeBufferPointer { xp in
    out.withUnsafeMutableBufferPointer { op in
        let src = xp.baseAddress!, dst = op.baseAddress!
        parallelFor(c) { range in
            for ch in range {
                var total: Double = 0
                for img in 0..<n { total += Double(sumOf(src + (img * c + ch) * plane, plane)) }
                dst[ch] = Float(total)
            }
        }
    }}
}

/// The output columns [lo, hi) whose input column ox*stride - padding + j lies inside [0, width).
@inline(__always)
func validRange(tap j: Int, stride: Int, padding: Int, inSize: Int, outSize: Int) -> (Int, Int) {
    let first = padding - j  // ox*stride >= first
    let lo = first <= 0 ? 0 : (first + stride - 1) / stride
    let last = inSize - 1 + padding - j  // ox*stride <= last
    let hi = last < 0 ? 0 : min(outSize, last / stride + 1)
    return (min(lo, outSize), max(min(lo, outSize), hi))
}

/// Fills cols[C*kh*kw, nb*Ho*Wo] for images firstImage..<firstImage+nb (one row per kernel tap;
/// rows are split across threads, each written by exactly one).
func im2col(_ g: Conv2dGeometry, x: UnsafePointer<Float>, firstImage: Int, images nb: Int,
            columns: UnsafeMutablePointer<Float>, parallel: Bool = true) {
    let cols = nb * g.outPlane
    let kk = g.kernelHeight * g.kernelWidth
    parallelForIf(parallel, g.taps) { rows in
        for r in rows {
            let c = r / kk, i = (r % kk) / g.kernelWidth, j = r % g.kernelWidth
            let (lo, hi) = validRange(tap: j, stride: g.stride, padding: g.padding, inSize: g.width, outSize: g.outWidth)
            let rowOut = columns + r * cols
            for n in 0..<nb {
                let plane = x + ((firstImage + n) * g.inChannels + c) * g.height * g.width
                for oy in 0..<g.outHeight {
                    let dst = rowOut + n * g.outPlane + oy * g.outWidth
                    let iy = oy * g.stride - g.padding + i
                    if iy < 0 || iy >= g.height {
                        dst.update(repeating: 0, count: g.outWidth)
                        continue
                    }
                    let src = plane + iy * g.width - g.padding + j
                    for ox in 0..<lo { dst[ox] = 0 }
                    if g.stride == 1 {
                        copyRow(dst + lo, src + lo, count: hi - lo)
                    } else {
                        for ox in lo..<hi { dst[ox] = src[ox * g.stride] }
                    }
                    for ox in hi..<g.outWidth { dst[ox] = 0 }
                }
            }
        }
    }
}

/// Overwrites dx for images firstImage..<firstImage+nb with the sum of the column entries
/// each input pixel fed (the adjoint of im2col). Each (image, channel) plane is owned by one thread.
func col2im(_ g: Conv2dGeometry, columns: UnsafePointer<Float>, firstImage: Int, images nb: Int,
            gradInput dx: UnsafeMutablePointer<Float>, parallel: Bool = true) {
    let cols = nb * g.outPlane
    parallelForIf(parallel, nb * g.inChannels) { planes in
        for idx in planes {
            let n = idx / g.inChannels, c = idx % g.inChannels
            let plane = dx + ((firstImage + n) * g.inChannels + c) * g.height * g.width
            plane.update(repeating: 0, count: g.height * g.width)
            for i in 0..<g.kernelHeight {
                for j in 0..<g.kernelWidth {
                    let r = (c * g.kernelHeight + i) * g.kernelWidth + j
                    let (lo, hi) = validRange(tap: j, stride: g.stride, padding: g.padding, inSize: g.width, outSize: g.outWidth)
                    let rowIn = columns + r * cols + n * g.outPlane
                    for oy in 0..<g.outHeight {
                        let iy = oy * g.stride - g.padding + i
                        if iy < 0 || iy >= g.height { continue }
                        let src = rowIn + oy * g.outWidth
                        let dst = plane + iy * g.width - g.padding + j
                        if g.stride == 1 {
                            addRow(dst + lo, src + lo, count: hi - lo)
                        } else {
                            for ox in lo..<hi { dst[ox * g.stride] += src[ox] }
                        }
                    }
                }
            }
        }
    }
}

/// dst[0..<count] = src[0..<count] for the short rows of im2col (an output row, 8 to 32 floats
/// in the nets here): two overlapping vector copies instead of a loop with its set-up and tail.
@inline(__always)
func copyRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int) {
    typealias V16 = SIMD16<Float>
    typealias V8 = SIMD8<Float>
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
    if count >= 16 {
        var i = 0
        while i + 16 <= count {
            d.storeBytes(of: s.loadUnaligned(fromByteOffset: 4 * i, as: V16.self), toByteOffset: 4 * i, as: V16.self)
            i += 16
        }
        if i < count {
            let last = 4 * (count - 16)
            d.storeBytes(of: s.loadUnaligned(fromByteOffset: last, as: V16.self), toByteOffset: last, as: V16.self)
        }
    } else if count >= 8 {
        let last = 4 * (count - 8)
        let head = s.loadUnaligned(as: V8.self), tail = s.loadUnaligned(fromByteOffset: last, as: V8.self)
        d.storeBytes(of: head, as: V8.self)
        d.storeBytes(of: tail, toByteOffset: last, as: V8.self)
    } else {
        for i in 0..<count { dst[i] = src[i] }
    }
}

/// dst[0..<count] += src[0..<count], vectorised for the short rows of col2im.
@inline(__always)
func addRow(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int) {
    typealias V16 = SIMD16<Float>
    typealias V8 = SIMD8<Float>
    let d = UnsafeMutableRawPointer(dst), s = UnsafeRawPointer(src)
    var i = 0
    while i + 16 <= count {
        let sum = d.loadUnaligned(fromByteOffset: 4 * i, as: V16.self) + s.loadUnaligned(fromByteOffset: 4 * i, as: V16.self)
        d.storeBytes(of: sum, toByteOffset: 4 * i, as: V16.self)
        i += 16
    }
    if i + 8 <= count {
        let sum = d.loadUnaligned(fromByteOffset: 4 * i, as: V8.self) + s.loadUnaligned(fromByteOffset: 4 * i, as: V8.self)
        d.storeBytes(of: sum, toByteOffset: 4 * i, as: V8.self)
        i += 8
    }
    while i < count { dst[i] += src[i]; i += 1 }
}

/// `parallelFor`, or the whole range on the calling thread when `parallel` is false.
@inline(__always)
func parallelForIf(_ parallel: Bool, _ count: Int, _ body: (Range<Int>) -> Void) {
    if parallel { parallelFor(count, body) } else if count > 0 { body(0..<count) }
}

/// Convolution of `x` [N,C,H,W] with `weight` [O,C,kh,kw] (cross-correlation, zero padding),
/// plus `bias` [O] if given: returns [N,O,Ho,Wo]. Allocating convenience over `conv2dForward`.
public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0) -> Tensor {
    var y = Tensor.empty
    var scratch = Conv2dScratch()
    conv2dForward(x, weight: weight, bias: bias, stride: stride, padding: padding, into: &y, scratch: &scratch)
    return y
}
