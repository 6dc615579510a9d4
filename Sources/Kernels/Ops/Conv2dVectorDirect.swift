import KernelsC

// Stride-1 convolution by a direct AVX-512 kernel (Sources/KernelsC/conv_avx512.c), with
// vectors along the output channels:
//
//   y[n, o:o+16, oy, ox] = bias[o:o+16] + sum_{c,i,j} w[c,i,j][o:o+16] * xpad[n, c, oy + i, ox + j]
//
// Each image is copied into a zero-padded buffer; a tile of 24 (or 12) consecutive pixels of a
// "wide" output row (see `PaddedPanelSource`) keeps 24 accumulators of 16 channels (or 12 of
// 32) in registers over every tap, so the input is read in place, one broadcast per pixel and
// tap, and nothing is packed but the weights, once per call. The panel GEMM does the same sums
// with a columns panel packed per image group; this kernel skips that copy.

/// Forward stride-1 convolution of `input` (NCHW) into `output` with the AVX-512 kernel
/// (when: `Conv2dDispatch`); with `bf16`, its bf16 form (AVX512-BF16): the padded image as pair
/// words (x[q], x[q + 1]) rounded to bf16, the taps of each kernel row in pairs, weights packed
/// as pairs likewise, fp32 sums.
func convVectorDirectForward(_ g: Conv2dGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                             bias: UnsafeBufferPointer<Float>?, output: UnsafeMutablePointer<Float>,
                             bf16: Bool = false, scratch: inout Conv2dScratch) {
    require(g.stride == 1, "conv2d: the vector direct kernel is for stride 1, not \(g)")
    let wp = g.width + 2 * g.padding
    // The margin past the image is only ever read for dropped columns.
    let slices = PaddedImageSlices(g, slack: Int(FM_CONV_MARGIN) + g.kernelWidth)
    let imageSize = slices.imageSize
    let vectors = g.outChannels % 32 == 0 ? 2 : 1
    let lanes = 16 * vectors
    let blocks = (g.outChannels + lanes - 1) / lanes
    let taps = g.taps
    // bf16: entries are pairs of taps (j, j + 1) of a kernel row; fp32: taps.
    let pairsPerRow = (g.kernelWidth + 1) / 2
    let entries = bf16 ? g.inChannels * g.kernelHeight * pairsPerRow : taps

    // Weights as [block][entry][lane], zero past the last channel; bias likewise.
    let packedCount = blocks * entries * lanes
    if bf16 {
        scratch.directWeightsBF16.growScratch(to: packedCount, filling: 0)
        packByOutputChannel(&scratch.directWeightsBF16, blocks: blocks, entries: entries, lanes: lanes,
                            outChannels: g.outChannels) { o, e in
            let row = e / pairsPerRow, j = 2 * (e % pairsPerRow)
            let tap = weight + o * taps + row * g.kernelWidth + j
            return bf16PairWord(tap[0], j + 1 < g.kernelWidth ? tap[1] : 0)
        }
    } else {
        scratch.directWeights.growScratch(to: packedCount)
        packByOutputChannel(&scratch.directWeights, blocks: blocks, entries: taps, lanes: lanes,
                            outChannels: g.outChannels) { o, t in weight[o * taps + t] }
    }
    scratch.directBias.growScratch(to: blocks * lanes)
    if let bias {
        scratch.directBias.withUnsafeMutableBufferPointer { dst in
            for o in 0..<blocks * lanes { dst[o] = o < g.outChannels ? bias[o] : 0 }
        }
    }

    scratch.fillPaddedTapOffsets(g)
    if bf16 {
        // The offset of each pair's first tap (c, i, j), j even.
        scratch.pairOffsets.growScratch(to: entries, filling: 0)
        for e in 0..<entries {
            let row = e / pairsPerRow, j = 2 * (e % pairsPerRow)
            scratch.pairOffsets[e] = scratch.tapOffsets[row * g.kernelWidth + j]
        }
    }

    let threads = convThreads(g.batch)
    // Pair words for every offset a tile reads: the image and its margin but the last float.
    let pairCount = slices.sliceSize - 1
    scratch.paddedInput.growScratch(to: slices.sliceSize * threads)
    scratch.pairedInput.growScratch(to: bf16 ? pairCount * threads : 0, filling: 0)
    let hasBias = bias != nil
    nonisolated(unsafe) let out = output
    scratch.tapOffsets.withUnsafeBufferPointer { tp in
    scratch.pairOffsets.withUnsafeBufferPointer { pop in
    scratch.directWeights.withUnsafeBufferPointer { wtp in
    scratch.directWeightsBF16.withUnsafeBufferPointer { wbp in
    scratch.directBias.withUnsafeBufferPointer { bp in
    scratch.paddedInput.withUnsafeMutableBufferPointer { pp in
    scratch.pairedInput.withUnsafeMutableBufferPointer { pwp in
        parallelFor(threads) { range in
            for t in range {
                let padded = slices.slice(pp.baseAddress!, thread: t)
                for n in convImages(thread: t, of: threads, batch: g.batch) {
                    slices.fill(padded, from: input, images: n..<n + 1)
                    let y = out + n * g.outChannels * g.outPlane, b = hasBias ? bp.baseAddress! : nil
                    if bf16 {
                        let pairs = pwp.baseAddress! + t * pairCount
                        fm_conv_pair_words_avx512(padded, pairCount, pairs)
                        fm_conv_direct_bf16_avx512(pairs, 1, imageSize, wp, g.outHeight, g.outWidth, pop.baseAddress!,
                                                   entries, wbp.baseAddress!, b, vectors, g.outChannels, y)
                    } else {
                        fm_conv_direct_avx512(padded, 1, imageSize, wp, g.outHeight, g.outWidth, tp.baseAddress!,
                                              taps, wtp.baseAddress!, b, vectors, g.outChannels, y)
                    }
                }
            }
        }
    }}}}}}}
}

/// Fills `dst` as [block][entry][lane] with `value(o, entry)` for output channel o = block *
/// lanes + lane, zero past `outChannels`: the direct kernels' weight layout, one vector of output
/// channels per entry (a tap, or a pair of taps in bf16).
@inline(__always)
private func packByOutputChannel<T: Numeric>(_ dst: inout [T], blocks: Int, entries: Int, lanes: Int, outChannels: Int,
                                             _ value: (_ o: Int, _ entry: Int) -> T) {
    dst.withUnsafeMutableBufferPointer { d in
        for block in 0..<blocks {
            for lane in 0..<lanes {
                let o = block * lanes + lane
                let column = d.baseAddress! + block * entries * lanes + lane
                for e in 0..<entries { column[e * lanes] = o < outChannels ? value(o, e) : .zero }
            }
        }
    }
}

// Weight gradient of a stride-1 convolution without a columns matrix:
//
//   dW[o, (c,i,j)] = sum_n sum_{oy,ox} dy[n,o,oy,ox] * xpad[n, c, oy + i, ox + j]
//
// On wide rows (see `PaddedPanelSource`) row (c,i,j) of the columns matrix is the padded image
// read from offset (c*Hp + i)*Wp + j, so the AVX-512 kernel takes dot products of dy's wide rows
// (zero in the dropped columns) with the padded image read in place. Each thread sums its images
// in groups that fit L2 into its own partial; partials are added in thread order.

/// Overwrites `gradWeight` ([O, C*kh*kw]) with the weight gradient of a stride-1 convolution by
/// dot products along wide rows (when: `Conv2dDispatch`; 3x3 and 5x5 take the broadcast kernel below).
func convVectorDotWeightGradient(_ g: Conv2dGeometry, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                 gradWeight: UnsafeMutablePointer<Float>, scratch: inout Conv2dScratch) {
    require(g.stride == 1, "conv2d: the vector direct kernel is for stride 1, not \(g)")
    let wp = g.width + 2 * g.padding
    let imageSize = PaddedImageSlices.imageSize(g)
    let widePlane = g.outHeight * wp
    let taps = g.taps
    // Images per group: the group's padded inputs and wide gradients within about 1 MiB of L2.
    let perImage = imageSize + g.outChannels * widePlane
    let perGroup = max(1, min(g.batch, (1 << 18) / perImage))
    let threads = convThreads(g.batch)
    let slices = PaddedImageSlices(g, imagesPerSlice: perGroup, slack: Int(FM_CONV_MARGIN) + g.kernelWidth)
    let wideSlice = perGroup * g.outChannels * widePlane
    scratch.paddedInput.growScratch(to: slices.sliceSize * threads)
    scratch.panelStaged.growScratch(to: wideSlice * threads)
    scratch.fillPaddedTapOffsets(g)
    scratch.tapOffsets.withUnsafeBufferPointer { tp in
    scratch.paddedInput.withUnsafeMutableBufferPointer { pp in
    scratch.panelStaged.withUnsafeMutableBufferPointer { wdp in
        convWeightGradientByThread(g, into: gradWeight, partials: &scratch.partialGradWeight) { t, images, dwThread in
            let padded = slices.slice(pp.baseAddress!, thread: t)
            let wide = wdp.baseAddress! + t * wideSlice
            var n0 = images.lowerBound
            while n0 < images.upperBound {
                let nb = min(perGroup, images.upperBound - n0)
                slices.fill(padded, from: input, images: n0..<n0 + nb)
                // dy on wide rows: each output row followed by Wp - Wo zeros.
                let dyGroup = gradOutput + n0 * g.outChannels * g.outPlane
                for plane in 0..<(nb * g.outChannels) {
                    let from = dyGroup + plane * g.outPlane
                    let to = wide + plane * widePlane
                    for oy in 0..<g.outHeight {
                        copyRow(to + oy * wp, from + oy * g.outWidth, count: g.outWidth)
                        (to + oy * wp + g.outWidth).update(repeating: 0, count: wp - g.outWidth)
                    }
                }
                fm_conv_wgrad_avx512(g.outChannels, taps, nb, widePlane, wide, padded, imageSize,
                                     tp.baseAddress!, dwThread, n0 == images.lowerBound ? 0 : 1)
                n0 += nb
            }
        }
    }}}
}

// For 3x3 and 5x5 kernels the weight gradient runs with vectors along output channels instead:
//
//   acc[c][(i,j)][o:o+16] += x[n, c, oy + i, ox + j] * dyT[n][oy*Wo + ox][o:o+16]
//
// one broadcast of the input per tap and pixel, dy transposed per image to pixel-major rows of
// channels, all kh*kw taps of one input channel in registers while the pixels stream by: no
// horizontal sums and no dropped columns.

/// The weight gradient of a stride-1 convolution with a square 3x3 or 5x5 kernel (when:
/// `Conv2dDispatch`).
func convBroadcastWeightGradient(_ g: Conv2dGeometry, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                 gradWeight: UnsafeMutablePointer<Float>, bf16: Bool = false, scratch: inout Conv2dScratch) {
    require(g.stride == 1 && g.kernelHeight == g.kernelWidth && (g.kernelHeight == 3 || g.kernelHeight == 5),
            "conv2d: the broadcast weight-gradient kernel is for stride-1 3x3 and 5x5 kernels, not \(g)")
    let k = g.kernelHeight, kk = k * k
    let hp = g.height + 2 * g.padding, wp = g.width + 2 * g.padding
    let imageSize = PaddedImageSlices.imageSize(g)
    let vectors = k == 3 && g.outChannels % 32 == 0 ? 2 : 1
    let lanes = 16 * vectors
    let blocks = (g.outChannels + lanes - 1) / lanes
    let opad = blocks * lanes
    let taps = g.taps
    let accSlice = blocks * g.inChannels * kk * lanes
    let threads = convThreads(g.batch)
    let slices = PaddedImageSlices(g, slack: Int(FM_CONV_MARGIN) + k)
    let transposedSlice = g.outPlane * opad
    scratch.paddedInput.growScratch(to: slices.sliceSize * threads)
    // Lanes past the last channel are never written, so they stay zero from here on.
    scratch.transposedGradient.growScratch(to: transposedSlice * threads)
    scratch.channelAccumulators.growScratch(to: accSlice * threads)
    // bf16: the padded image's pair words (x[q], x[q + 1]) and dy's, pixels (ox, ox + 1) per row.
    let gradientPairSlice = g.outHeight * ((g.outWidth + 1) / 2) * opad
    scratch.pairedInput.growScratch(to: bf16 ? imageSize * threads : 0, filling: 0)
    scratch.gradientPairs.growScratch(to: bf16 ? gradientPairSlice * threads : 0, filling: 0)
    scratch.paddedInput.withUnsafeMutableBufferPointer { pp in
    scratch.transposedGradient.withUnsafeMutableBufferPointer { tgp in
    scratch.channelAccumulators.withUnsafeMutableBufferPointer { ap in
    scratch.pairedInput.withUnsafeMutableBufferPointer { pwp in
    scratch.gradientPairs.withUnsafeMutableBufferPointer { gpp in
        convWeightGradientByThread(g, into: gradWeight, partials: &scratch.partialGradWeight) { t, images, dwThread in
            let padded = slices.slice(pp.baseAddress!, thread: t)
            let dyT = tgp.baseAddress! + t * transposedSlice
            let acc = ap.baseAddress! + t * accSlice
            for n in images {
                slices.fill(padded, from: input, images: n..<n + 1)
                let dyImage = gradOutput + n * g.outChannels * g.outPlane
                fm_transpose_avx512(dyImage, g.outChannels, g.outPlane, g.outPlane, dyT, opad)
                let accumulate: Int32 = n == images.lowerBound ? 0 : 1
                if bf16 {
                    let pairs = pwp.baseAddress! + t * imageSize, dyPairs = gpp.baseAddress! + t * gradientPairSlice
                    fm_conv_pair_words_avx512(padded, imageSize, pairs)
                    fm_conv_gradient_pair_words_avx512(dyT, opad, g.outHeight, g.outWidth, dyPairs)
                    _ = fm_conv_wgrad_bcast_bf16_avx512(g.inChannels, k, k, vectors, blocks, dyPairs, opad, pairs, hp, wp,
                                                        g.outHeight, g.outWidth, acc, accumulate)
                } else {
                    _ = fm_conv_wgrad_bcast_avx512(g.inChannels, k, k, vectors, blocks, dyT, opad, padded, hp, wp,
                                                   g.outHeight, g.outWidth, acc, accumulate)
                }
            }
            // acc [block][c][tap][lane] -> dW [o][c*kk + tap]
            for o in 0..<g.outChannels {
                let block = o / lanes, lane = o % lanes
                let row = dwThread + o * taps
                for c in 0..<g.inChannels {
                    let from = acc + (block * g.inChannels + c) * kk * lanes + lane
                    for tap in 0..<kk { row[c * kk + tap] = from[tap * lanes] }
                }
            }
        }
    }}}}}
}
