// Convolution gradients through an explicit columns matrix: the weight gradient without
// AVX-512 or at stride > 1, and the input gradient where it is not a flipped-kernel convolution
// (stride > 1, non-square kernels, padding >= k). Methods `.im2col` in Conv2dDispatch.swift.
//
// Per group of images small enough that the group's columns matrix stays in L2
// (conv2dColumnBudget), the columns matrix holds, for every kernel tap (c,i,j) = row r, the
// input value each output pixel of the group sees through that tap:
//   cols[r, n*Ho*Wo + oy*Wo + ox] = x[n, c, oy*s - p + i, ox*s - p + j]      cols [C*kh*kw, nb*Ho*Wo]
// and with dY staged as [O, nb*Ho*Wo]:
//   dW[O, C*kh*kw]  += dY * cols^T          (each thread sums its images into its own partial;
//                                             the partials are added in thread order)
//   dcols           =  W^T * dY          then col2im adds every column entry back to the input pixel it came from

/// Overwrites `gradWeight` ([O, C*kh*kw]) and, when `gradInput` is given, the input gradient
/// ([N,C,H,W]) by im2col, one pass over each image group's columns for both.
func convIm2colBackward(_ g: Conv2dGeometry, input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                        gradOutput dy: UnsafePointer<Float>, gradWeight: UnsafeMutablePointer<Float>,
                        gradInput: UnsafeMutablePointer<Float>?, scratch: inout Conv2dScratch) {
    let threads = convThreads(g.batch)
    let perChunk = g.imagesPerChunk
    let (columnSlice, stagedSlice) = Conv2dScratch.sliceSizes(g)
    scratch.columns.growScratch(to: columnSlice * threads)
    scratch.staged.growScratch(to: stagedSlice * threads)
    nonisolated(unsafe) let dxBase = gradInput
    scratch.columns.withUnsafeMutableBufferPointer { colp in
    scratch.staged.withUnsafeMutableBufferPointer { stp in
        convWeightGradientByThread(g, into: gradWeight, partials: &scratch.partialGradWeight) { t, images, dwThread in
            let colBase = colp.baseAddress! + t * columnSlice
            let stBase = stp.baseAddress! + t * stagedSlice
            var n0 = images.lowerBound
            while n0 < images.upperBound {
                let nb = min(perChunk, images.upperBound - n0)
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
                im2col(g, x: x, firstImage: n0, images: nb, columns: colBase)
                sgemm(transA: .none, transB: .transposed, m: g.outChannels, n: g.taps, k: cols,
                      alpha: 1, a: staged, lda: cols, b: colBase, ldb: cols,
                      beta: n0 == images.lowerBound ? 0 : 1, c: dwThread, ldc: g.taps, threading: .callingThread)
                if let dxBase {
                    sgemm(transA: .transposed, transB: .none, m: g.taps, n: cols, k: g.outChannels,
                          alpha: 1, a: w, lda: g.taps, b: staged, ldb: cols,
                          beta: 0, c: colBase, ldc: cols, threading: .callingThread)
                    col2im(g, columns: colBase, firstImage: n0, images: nb, gradInput: dxBase)
                }
                n0 += nb
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

/// Fills cols[C*kh*kw, nb*Ho*Wo] for images firstImage..<firstImage+nb (one row per kernel tap), on
/// the calling thread.
func im2col(_ g: Conv2dGeometry, x: UnsafePointer<Float>, firstImage: Int, images nb: Int,
            columns: UnsafeMutablePointer<Float>) {
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
                    copyRow(dst + lo, src + lo, count: hi - lo)
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
