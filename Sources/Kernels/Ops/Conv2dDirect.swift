import KernelsC

// 2-D convolution by direct loops: forward only, the same maths as Conv2d.swift
// (cross-correlation, zero padding, optional bias; x [N,C,H,W], weight [O,C,kh,kw] -> y [N,O,Ho,Wo]).
//
//   y[n,o,oy,:] = bias[o] + sum_{c,i,j} weight[o,c,i,j] * x[n, c, oy*s - p + i, (: )*s - p + j]
//
// Each output row is built in L1 by one scaled-row addition (axpy) per kernel tap, reading the
// input rows in place: no columns matrix. With few filters (the feature-map explorer's stacks:
// 1 to 3 filters on one photo) the im2col GEMM has only 1 to 3 rows, too few for the
// micro-kernel, and writing the columns matrix costs more than the arithmetic (the measured
// crossover is in `Conv2dDispatch.choose`). Rows are split across threads.

/// Forward convolution of `input` (NCHW) into `output` by direct loops, rows split across threads.
func convDirectLoops(_ g: Conv2dGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                     bias: UnsafeBufferPointer<Float>?, output: UnsafeMutablePointer<Float>) {
    nonisolated(unsafe) let src = input, w = weight, out = output
    nonisolated(unsafe) let biasValues = bias?.baseAddress
    let rowsPerPlane = g.outHeight
    parallelFor(g.batch * g.outChannels * rowsPerPlane) { rows in
        for unit in rows {
            let plane = unit / rowsPerPlane, oy = unit % rowsPerPlane
            let n = plane / g.outChannels, o = plane % g.outChannels
            let dst = out + plane * g.outPlane + oy * g.outWidth
            dst.update(repeating: biasValues?[o] ?? 0, count: g.outWidth)
            for c in 0..<g.inChannels {
                let inPlane = src + (n * g.inChannels + c) * g.height * g.width
                let taps = w + (o * g.inChannels + c) * g.kernelHeight * g.kernelWidth
                for i in 0..<g.kernelHeight {
                    let iy = oy * g.stride - g.padding + i
                    if iy < 0 || iy >= g.height { continue }
                    for j in 0..<g.kernelWidth {
                        let tap = taps[i * g.kernelWidth + j]
                        let (lo, hi) = validRange(tap: j, stride: g.stride, padding: g.padding,
                                                  inSize: g.width, outSize: g.outWidth)
                        let row = inPlane + iy * g.width - g.padding + j
                        if g.stride == 1 {
                            for ox in lo..<hi { dst[ox] += tap * row[ox] }
                        } else {
                            for ox in lo..<hi { dst[ox] += tap * row[ox * g.stride] }
                        }
                    }
                }
            }
        }
    }
}

/// Forward convolution of `input` (NCHW) into `output` at stride 1 by the AVX2 direct kernel
/// (`fm_conv_rows_avx2`): each thread pads its images one at a time and computes 32 pixels of an
/// output row for two output channels in registers, one FMA per tap and pixel, with the weights
/// as stored. Every output is the same sum in the same order whatever the thread count.
func convRowDirectForward(_ g: Conv2dGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                          bias: UnsafeBufferPointer<Float>?, output: UnsafeMutablePointer<Float>,
                          scratch: inout Conv2dScratch) {
    require(g.stride == 1 && CPUFeatures.enabled.avx2, "conv2d: the AVX2 row kernel is for stride 1 on AVX2 CPUs, not \(g)")
    let hp = g.height + 2 * g.padding, wp = g.width + 2 * g.padding
    // The kernel reads up to 7 + kw - 1 floats past the last row of the last channel, into lanes
    // that are not stored.
    let slices = PaddedImageSlices(g, slack: 8 + g.kernelWidth)
    let threads = convThreads(g.batch)
    scratch.paddedInput.growScratch(to: slices.sliceSize * threads)
    nonisolated(unsafe) let out = output
    let biasBase = bias?.baseAddress
    scratch.paddedInput.withUnsafeMutableBufferPointer { pp in
        parallelFor(threads) { range in
            for t in range {
                let padded = slices.slice(pp.baseAddress!, thread: t)
                for n in convImages(thread: t, of: threads, batch: g.batch) {
                    slices.fill(padded, from: input, images: n..<n + 1)
                    fm_conv_rows_avx2(padded, g.inChannels, hp, wp, g.kernelHeight, g.kernelWidth, weight, biasBase,
                                      g.outChannels, g.outHeight, g.outWidth, out + n * g.outChannels * g.outPlane)
                }
            }
        }
    }
}

/// Overwrites `gradWeight` ([O, C*kh*kw]) with the weight gradient of a stride-1 convolution by
/// the AVX2 direct kernel (`fm_conv_wgrad_rows_avx2`):
///
///     dW[o,c,i,j] = sum over n, oy, ox of dy[n,o,oy,ox] * xpad[n,c,oy+i,ox+j]
///
/// Each thread pads its images one at a time and sums them into 8 lane partials per weight
/// ([O, C, kh, kw, 8], pixels ox = l mod 8 in lane l), then adds each weight's lanes in lane
/// order; the threads' sums are added in thread order (`convWeightGradientByThread`), so the
/// result depends only on the thread count. No columns matrix: with few filters (the notebook's
/// 16) the im2col GEMM's packing of the columns costs about as much as its products.
func convRowDirectWeightGradient(_ g: Conv2dGeometry, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                 gradWeight: UnsafeMutablePointer<Float>, scratch: inout Conv2dScratch) {
    require(g.stride == 1 && g.kernelWidth <= 7 && CPUFeatures.enabled.avx2,
            "conv2d: the AVX2 row weight-gradient kernel is for stride 1 and kernels up to 7 wide on AVX2 CPUs, not \(g)")
    let hp = g.height + 2 * g.padding, wp = g.width + 2 * g.padding
    // The kernel reads up to 7 + kw - 1 floats past the last row of the last channel, in lanes
    // whose dy is zero.
    let slices = PaddedImageSlices(g, slack: 8 + g.kernelWidth)
    let weightCount = g.outChannels * g.taps
    let lanesSlice = weightCount * 8
    let threads = convThreads(g.batch)
    scratch.paddedInput.growScratch(to: slices.sliceSize * threads)
    scratch.channelAccumulators.growScratch(to: lanesSlice * threads)
    scratch.paddedInput.withUnsafeMutableBufferPointer { pp in
    scratch.channelAccumulators.withUnsafeMutableBufferPointer { ap in
        convWeightGradientByThread(g, into: gradWeight, partials: &scratch.partialGradWeight) { t, images, dwThread in
            let padded = slices.slice(pp.baseAddress!, thread: t), lanes = ap.baseAddress! + t * lanesSlice
            for n in images {
                slices.fill(padded, from: input, images: n..<n + 1)
                fm_conv_wgrad_rows_avx2(padded, g.inChannels, hp, wp, g.kernelHeight, g.kernelWidth,
                                        gradOutput + n * g.outChannels * g.outPlane, g.outChannels, g.outHeight,
                                        g.outWidth, lanes, n == images.lowerBound ? 0 : 1)
            }
            for w in 0..<weightCount {
                let lane = lanes + w * 8
                var sum: Float = 0
                for l in 0..<8 { sum += lane[l] }
                dwThread[w] = sum
            }
        }
    }}
}
