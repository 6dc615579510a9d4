// Convolutions through an explicit columns matrix: the fp32 weight gradient without AVX-512 or
// at stride > 1, the fp32 input gradient where it is not a flipped-kernel convolution (stride >
// 1, non-square kernels, padding >= k), and every pass in bf16 (the columns rounded to bf16 as
// they are written, the products by `bf16gemm`). Methods `.im2col` and `.bf16Im2col` in
// Conv2dDispatch.swift.
//
// Per group of images small enough that the group's columns matrix stays in L2
// (conv2dColumnBudget), the columns matrix holds, for every kernel tap (c,i,j) = row r, the
// input value each output pixel of the group sees through that tap:
//   cols[r, n*Ho*Wo + oy*Wo + ox] = x[n, c, oy*s - p + i, ox*s - p + j]      cols [C*kh*kw, nb*Ho*Wo]
// and with dY staged as [O, nb*Ho*Wo]:
//   Y[O, nb*Ho*Wo]  =  W * cols (+ bias)  (bf16 forward; scattered to NCHW)
//   dW[O, C*kh*kw]  += dY * cols^T          (each thread sums its images into its own partial;
//                                             the partials are added in thread order)
//   dcols           =  W^T * dY          then col2im adds every column entry back to the input pixel it came from

/// The bf16 forward convolution: per image group, the columns matrix rounded to bf16 as it is
/// written, then Y = W * cols by `bf16gemm` (fp32 sums), scattered to NCHW with the bias added
/// in fp32. Each thread runs its own images (`convImages`), so results depend only on the
/// thread count.
func convIm2colForward(_ g: Conv2dGeometry, input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                       bias: UnsafeBufferPointer<Float>?, output y: UnsafeMutablePointer<Float>,
                       scratch: inout Conv2dScratch) {
    let threads = convThreads(g.batch)
    nonisolated(unsafe) let (out, biasValues) = (y, bias)
    withColumnSlices(g, threads: threads, &scratch.columns, &scratch.staged) { columns, staged in
        parallelFor(threads) { range in
            for t in range {
                let (colBase, stBase) = (columns(t), staged(t))
                forEachImageGroup(convImages(thread: t, of: threads, batch: g.batch), of: g.imagesPerChunk) { n0, nb in
                    let cols = nb * g.outPlane
                    let yImage = out + n0 * g.outChannels * g.outPlane
                    // One image: the GEMM result [O, Ho*Wo] is that image's NCHW block.
                    let target = nb == 1 ? yImage : stBase
                    im2col(g, x: x, firstImage: n0, images: nb, columns: colBase, roundingToBF16: true)
                    bf16gemm(transA: .none, transB: .none, m: g.outChannels, n: cols, k: g.taps,
                             alpha: 1, a: w, lda: g.taps, b: colBase, ldb: cols,
                             beta: 0, c: target, ldc: cols, threading: .callingThread)
                    if nb > 1 { scatterGroupOutput(g, staged: target, images: nb, into: yImage) }
                    if let biasValues {
                        for plane in 0..<(nb * g.outChannels) {
                            let dst = yImage + plane * g.outPlane, b = biasValues[plane % g.outChannels]
                            for i in 0..<g.outPlane { dst[i] += b }
                        }
                    }
                }
            }
        }
    }
}

/// Calls `body(firstImage, count)` for consecutive groups of at most `perGroup` of `images`.
@inline(__always)
func forEachImageGroup(_ images: Range<Int>, of perGroup: Int, _ body: (_ firstImage: Int, _ count: Int) -> Void) {
    var n0 = images.lowerBound
    while n0 < images.upperBound {
        let nb = min(perGroup, images.upperBound - n0)
        body(n0, nb)
        n0 += nb
    }
}

/// Copies a group's GEMM result [O, nb*Ho*Wo] into its images' NCHW blocks at `output`.
func scatterGroupOutput(_ g: Conv2dGeometry, staged: UnsafePointer<Float>, images nb: Int,
                        into output: UnsafeMutablePointer<Float>) {
    let cols = nb * g.outPlane
    for n in 0..<nb {
        for o in 0..<g.outChannels {
            (output + (n * g.outChannels + o) * g.outPlane).update(from: staged + o * cols + n * g.outPlane, count: g.outPlane)
        }
    }
}

/// Overwrites `gradWeight` ([O, C*kh*kw]) and, when `gradInput` is given, the input gradient
/// ([N,C,H,W]) by im2col, one pass over each image group's columns for both. In bf16 the
/// columns are rounded as they are written and both products run in `bf16gemm` (dY, x and W
/// rounded, fp32 sums); the sums across groups and threads stay fp32.
func convIm2colBackward(_ g: Conv2dGeometry, input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                        gradOutput dy: UnsafePointer<Float>, gradWeight: UnsafeMutablePointer<Float>,
                        gradInput: UnsafeMutablePointer<Float>?, precision: Precision,
                        scratch: inout Conv2dScratch) {
    nonisolated(unsafe) let dxBase = gradInput
    withColumnSlices(g, threads: convThreads(g.batch), &scratch.columns, &scratch.staged) { columns, staged in
        convWeightGradientByThread(g, into: gradWeight, partials: &scratch.partialGradWeight) { t, images, dwThread in
            let (colBase, stBase) = (columns(t), staged(t))
            forEachImageGroup(images, of: g.imagesPerChunk) { n0, nb in
                let first = n0 == images.lowerBound
                let cols = nb * g.outPlane
                // Stage dy[n0..<n0+nb] as [O, nb*Ho*Wo] (with one image it already is).
                let dyImage = dy + n0 * g.outChannels * g.outPlane
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
                im2col(g, x: x, firstImage: n0, images: nb, columns: colBase, roundingToBF16: precision == .bf16)
                gemm(precision, transA: .none, transB: .transposed, m: g.outChannels, n: g.taps, k: cols,
                     alpha: 1, a: staged, lda: cols, b: colBase, ldb: cols,
                     beta: first ? 0 : 1, c: dwThread, ldc: g.taps, threading: .callingThread)
                if let dxBase {
                    gemm(precision, transA: .transposed, transB: .none, m: g.taps, n: cols, k: g.outChannels,
                         alpha: 1, a: w, lda: g.taps, b: staged, ldb: cols,
                         beta: 0, c: colBase, ldc: cols, threading: .callingThread)
                    col2im(g, columns: colBase, firstImage: n0, images: nb, gradInput: dxBase)
                }
            }
        }
    }
}

/// Grows `columns` and `staged` to one slice per thread for `g` (`Conv2dScratch.sliceSizes`) and
/// runs `body` with the functions giving thread t's columns matrix and staged output.
func withColumnSlices(
    _ g: Conv2dGeometry, threads: Int, _ columns: inout [Float], _ staged: inout [Float],
    _ body: (_ columns: (Int) -> UnsafeMutablePointer<Float>, _ staged: (Int) -> UnsafeMutablePointer<Float>) -> Void
) {
    let (columnSlice, stagedSlice) = Conv2dScratch.sliceSizes(g)
    columns.growScratch(to: columnSlice * threads)
    staged.growScratch(to: stagedSlice * threads)
    columns.withUnsafeMutableBufferPointer { colp in
    staged.withUnsafeMutableBufferPointer { stp in
        nonisolated(unsafe) let (colBase, stBase) = (colp.baseAddress!, stp.baseAddress!)
        body({ colBase + $0 * columnSlice }, { stBase + $0 * stagedSlice })
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

/// Fills cols[C*kh*kw, nb*Ho*Wo] for images firstImage..<firstImage+nb (one row per kernel tap), on
/// the calling thread; with `roundingToBF16`, each value rounded to bf16 as it is written (the
/// columns are then exactly the operand the bf16 product sees).
func im2col(_ g: Conv2dGeometry, x: UnsafePointer<Float>, firstImage: Int, images nb: Int,
            columns: UnsafeMutablePointer<Float>, roundingToBF16 round: Bool = false) {
    let cols = nb * g.outPlane
    let kk = g.kernelHeight * g.kernelWidth
    for r in 0..<g.taps {
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
                    if round {
                        copyRowRoundedToBF16(dst + lo, src + lo, count: hi - lo)
                    } else {
                        copyRow(dst + lo, src + lo, count: hi - lo)
                    }
                } else if round {
                    for ox in lo..<hi { dst[ox] = roundedToBF16(src[ox * g.stride]) }
                } else {
                    for ox in lo..<hi { dst[ox] = src[ox * g.stride] }
                }
                for ox in hi..<g.outWidth { dst[ox] = 0 }
            }
        }
    }
}

/// Overwrites dx for images firstImage..<firstImage+nb with the sum of the column entries
/// each input pixel fed (the adjoint of im2col), on the calling thread.
func col2im(_ g: Conv2dGeometry, columns: UnsafePointer<Float>, firstImage: Int, images nb: Int,
            gradInput dx: UnsafeMutablePointer<Float>) {
    let cols = nb * g.outPlane
    for idx in 0..<(nb * g.inChannels) {
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
