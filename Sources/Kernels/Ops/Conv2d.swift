// 2-D convolution (cross-correlation, as PyTorch's conv2d: the kernel is not flipped).
//
//   x  [N, C, H, W]      weight [O, C, kh, kw]      bias [O]      y [N, O, Ho, Wo]
//   Ho = (H + 2 padding - kh) / stride + 1      Wo = (W + 2 padding - kw) / stride + 1
//
//   y[n,o,oy,ox] = bias[o] + sum_{c,i,j} weight[o,c,i,j] * x[n, c, oy*stride - padding + i, ox*stride - padding + j]
//   (x is zero outside the image)
//
// Method: im2col + GEMM per group of images. The batch is split statically over the threads;
// each thread runs its own images in groups small enough that the group's columns matrix and
// GEMM output stay in the core's 2 MiB L2 (conv2dColumnBudget), with a single-threaded GEMM,
// so the im2col writes, the GEMM reads and the scatter all hit cache, and there is one
// hand-off between threads per layer rather than several per GEMM. The columns matrix holds, for every kernel
// tap (c,i,j) = row r, the input value each output pixel of the chunk sees through that tap:
//   cols[r, n*Ho*Wo + oy*Wo + ox] = x[n, c, oy*s - p + i, ox*s - p + j]      cols [C*kh*kw, nb*Ho*Wo]
// so that   Y[O, nb*Ho*Wo] = W[O, C*kh*kw] * cols   (one large GEMM: the shapes the benchmark names),
// and Y is scattered back to NCHW while adding the bias.
//
// Backward, with dY the gradient staged as [O, nb*Ho*Wo]:
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
    /// Empty scratch; grown on first use.
    public init() {}

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
/// rows (`conv2dDirect`), else im2col + GEMM (`conv2dIm2colForward`). Both compute the same sums.
public func conv2dForward(
    _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int,
    into y: inout Tensor, scratch: inout Conv2dScratch
) {
    let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: stride, padding: padding)
    if conv2dPrefersDirect(g) {
        conv2dDirect(x, weight: weight, bias: bias, stride: stride, padding: padding, into: &y)
    } else {
        conv2dIm2colForward(x, weight: weight, bias: bias, stride: stride, padding: padding, into: &y, scratch: &scratch)
    }
}

/// Forward convolution into `y` (resized to [N,O,Ho,Wo]); see the file comment for the maths.
public func conv2dIm2colForward(
    _ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int,
    into y: inout Tensor, scratch: inout Conv2dScratch
) {
    let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: stride, padding: padding)
    if let bias { require(bias.count == g.outChannels, "conv2d: bias has \(bias.count) elements, expected \(g.outChannels)") }
    y.resize(g.batch, g.outChannels, g.outHeight, g.outWidth)
    let threads = convThreads(g.batch)
    scratch.reserve(g, threads: threads)
    let perChunk = g.imagesPerChunk
    let (columnSlice, stagedSlice) = Conv2dScratch.sliceSizes(g)
    x.withUnsafeBufferPointer { xp in
    weight.withUnsafeBufferPointer { wp in
    y.withUnsafeMutableBufferPointer { yp in
    scratch.columns.withUnsafeMutableBufferPointer { colp in
    scratch.staged.withUnsafeMutableBufferPointer { stp in
    withOptionalBuffer(bias) { biasp in
        parallelFor(threads) { range in
            for t in range {
                let colBase = colp.baseAddress! + t * columnSlice
                let stBase = stp.baseAddress! + t * stagedSlice
                let images = convImages(thread: t, of: threads, batch: g.batch)
                var n0 = images.lowerBound
                while n0 < images.upperBound {
                    let nb = min(perChunk, images.upperBound - n0)
                    let cols = nb * g.outPlane
                    im2col(g, x: xp.baseAddress!, firstImage: n0, images: nb, columns: colBase, parallel: false)
                    // With one image the GEMM result is already that image's NCHW block.
                    let yImage = yp.baseAddress! + n0 * g.outChannels * g.outPlane
                    let target = nb == 1 ? yImage : stBase
                    sgemmSingleThreaded(transA: .none, transB: .none, m: g.outChannels, n: cols, k: g.taps,
                                        alpha: 1, a: wp.baseAddress!, lda: g.taps, b: colBase, ldb: cols,
                                        beta: 0, c: target, ldc: cols)
                    for n in 0..<nb {
                        for o in 0..<g.outChannels {
                            let src = target + o * cols + n * g.outPlane
                            let dst = yImage + (n * g.outChannels + o) * g.outPlane
                            let b = biasp?[o] ?? 0
                            for p in 0..<g.outPlane { dst[p] = src[p] + b }
                        }
                    }
                    n0 += nb
                }
            }
        }
    }}}}}}
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
    let threads = convThreads(g.batch)
    scratch.reserve(g, threads: threads)
    let perChunk = g.imagesPerChunk
    let (columnSlice, stagedSlice) = Conv2dScratch.sliceSizes(g)
    let weightCount = g.outChannels * g.taps
    x.withUnsafeBufferPointer { xp in
    weight.withUnsafeBufferPointer { wp in
    dy.withUnsafeBufferPointer { dyp in
    dw.withUnsafeMutableBufferPointer { dwp in
    scratch.columns.withUnsafeMutableBufferPointer { colp in
    scratch.staged.withUnsafeMutableBufferPointer { stp in
    scratch.partialGradWeight.withUnsafeMutableBufferPointer { pwp in
    dx.withUnsafeMutableBufferPointer { dxp in
        let dxBase = computeGradInput ? dxp.baseAddress : nil
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
        // Partials in thread order: the same sums for the same thread count.
        let total = dwp.baseAddress!
        for t in 1..<max(1, threads) {
            let part = pwp.baseAddress! + (t - 1) * weightCount
            for i in 0..<weightCount { total[i] += part[i] }
        }
    }}}}}}}}
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
