import KernelsC

// Stride-1 convolution on AMX tiles (Sources/KernelsC/conv_amx.c), an implicit GEMM over the
// zero-padded image:
//
//   y[n, o, q] = bias[o] + sum_{i,j} sum_c W[o, c, i, j] * xpad[n, c, q + i * Wp + j]
//
// for the "wide" output pixels q = oy * Wp + ox (Wp = W + 2 padding; columns ox >= Wo are
// computed and dropped, as `PaddedPanelSource` does). Per block of 32 output channels x 32 wide
// pixels, the kernel keeps four 16 x 16 fp32 tiles of C over every tap and input channel; its
// B tiles (16 channel pairs x 16 pixels) are loaded straight from the padded image stored as
// bf16 channel-pair words, so nothing is copied per tap: the image is converted once, the weights
// once per call. `Conv2dDispatch` decides when it runs (bf16 on a CPU with AMX).

/// Forward stride-1 convolution of `input` (NCHW) into `output` with the AMX kernel: input and
/// weights rounded to bf16 (`roundedToBF16`; TDPBF16PS then treats subnormals as zero), sums in
/// fp32. The flipped-kernel input gradient runs through here as well.
func convAMXForward(_ g: Conv2dGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                    bias: UnsafeBufferPointer<Float>?, output: UnsafeMutablePointer<Float>,
                    scratch: inout Conv2dScratch) {
    require(g.stride == 1, "conv2d: the AMX kernel is for stride 1, not \(g)")
    let wp = g.width + 2 * g.padding, hp = g.height + 2 * g.padding
    let kk = g.kernelHeight * g.kernelWidth
    let oTiles = (g.outChannels + 15) / 16, cBlocks = (g.inChannels + 31) / 32
    // Blocks of 32 wide pixels read up to the last block's end plus the largest tap offset.
    let wide = g.outHeight * wp
    let largestOffset = (g.kernelHeight - 1) * wp + g.kernelWidth - 1
    let planeWords = max(hp * wp, (wide + 31) / 32 * 32 + largestOffset)
    let imageWords = cBlocks * 16 * planeWords

    scratch.amxWeights.growScratch(to: kk * oTiles * cBlocks * 512, filling: 0)
    scratch.amxWeights.withUnsafeMutableBufferPointer { wbp in
        fm_conv_amx_pack_weights(weight, g.outChannels, g.inChannels, kk, oTiles, cBlocks, wbp.baseAddress!)
    }
    scratch.amxOffsets.growScratch(to: kk, filling: 0)
    for i in 0..<g.kernelHeight {
        for j in 0..<g.kernelWidth { scratch.amxOffsets[i * g.kernelWidth + j] = i * wp + j }
    }
    let threads = convThreads(g.batch)
    scratch.amxImage.growScratch(to: imageWords * threads, filling: 0)
    let imageSize = g.inChannels * g.height * g.width
    nonisolated(unsafe) let out = output
    let biasPointer = bias?.baseAddress
    scratch.amxWeights.withUnsafeBufferPointer { wbp in
    scratch.amxOffsets.withUnsafeBufferPointer { op in
    scratch.amxImage.withUnsafeMutableBufferPointer { ip in
        parallelFor(threads) { range in
            for t in range {
                let image = ip.baseAddress! + t * imageWords
                for n in convImages(thread: t, of: threads, batch: g.batch) {
                    fm_conv_amx_pair_image(input + n * imageSize, g.inChannels, g.height, g.width, g.padding,
                                           planeWords, cBlocks * 16, image)
                    fm_conv_amx_forward(image, planeWords, cBlocks, wbp.baseAddress!, oTiles, op.baseAddress!, kk, wp,
                                        g.outHeight, g.outWidth, g.outChannels, biasPointer,
                                        out + n * g.outChannels * g.outPlane)
                }
            }
        }
    }}}
}

// The weight gradient is the transposed implicit GEMM
//
//   dW[o, c, i, j] = sum_n sum_q xpad[n, c, q + i * Wp + j] * dy[n, o, q]
//
// over the wide pixels q (dy is zero at the dropped columns). Each thread stacks a run of its
// images into one tall padded image, S = (H + padding) * Wp values apart, so that one image's
// bottom padding rows are the next one's top ones and the sums run over S rather than the whole
// padded plane: the input as bf16 rows, one per channel (A tiles: 16 channels x 32 pixels at any
// tap's offset, read in place), and dy as bf16 pair words of two consecutive pixels for every
// output channel (B tiles: 16 pixel pairs x 16 output channels). The kernel sums each tap's C[c, o]
// tiles over the whole run, onto fp32 accumulators kept from the thread's earlier runs.

/// Weight gradient of a stride-1 convolution on AMX tiles into `gradWeight` ([O, C*kh*kw]):
/// input and dy rounded to bf16, products summed in fp32 per thread, the threads' sums added in
/// thread order (`convWeightGradientByThread`), so the result depends only on the thread count.
func convAMXWeightGradient(_ g: Conv2dGeometry, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                           gradWeight: UnsafeMutablePointer<Float>, scratch: inout Conv2dScratch) {
    require(g.stride == 1, "conv2d: the AMX weight gradient is for stride 1, not \(g)")
    let wp = g.width + 2 * g.padding, hp = g.height + 2 * g.padding
    let kk = g.kernelHeight * g.kernelWidth
    let cTiles = (g.inChannels + 15) / 16, oTiles = (g.outChannels + 15) / 16
    // Images `stack` values apart (shared padding rows); a padded plane is `plane` values.
    let plane = hp * wp, stack = max((g.height + g.padding) * wp, g.outHeight * wp)
    // Images per run: the run's input and dy rows near `AMXWeightGradientRuns.bytes`, to stay in
    // the core's L2.
    let bytesPerImage = stack * 2 * (cTiles * 16 + oTiles * 16)
    let threads = convThreads(g.batch)
    let perRun = max(1, min((g.batch + threads - 1) / threads, AMXWeightGradientRuns.bytes / bytesPerImage))
    let pixels = (perRun * stack + 31) / 32 * 32
    let xRow = pixels + (plane + 31) / 32 * 32
    let xWords = cTiles * 16 * xRow, dyWideWords = g.outChannels * pixels, pairWords = pixels / 2 * oTiles * 16
    let accWords = kk * cTiles * 16 * oTiles * 16
    scratch.amxOffsets.growScratch(to: kk, filling: 0)
    for i in 0..<g.kernelHeight {
        for j in 0..<g.kernelWidth { scratch.amxOffsets[i * g.kernelWidth + j] = i * wp + j }
    }
    scratch.amxColumns.growScratch(to: (xWords + dyWideWords) * threads, filling: 0)
    scratch.amxImage.growScratch(to: pairWords * threads, filling: 0)
    scratch.amxAccumulators.growScratch(to: accWords * threads, filling: 0)
    let (c, o) = (g.inChannels, g.outChannels)
    let imageSize = c * g.height * g.width, outImageSize = o * g.outPlane
    scratch.amxOffsets.withUnsafeBufferPointer { op in
    scratch.amxColumns.withUnsafeMutableBufferPointer { colp in
    scratch.amxImage.withUnsafeMutableBufferPointer { pp in
    scratch.amxAccumulators.withUnsafeMutableBufferPointer { accp in
        convWeightGradientByThread(g, into: gradWeight, partials: &scratch.partialGradWeight) { t, images, dw in
            let x = colp.baseAddress! + t * (xWords + dyWideWords), dyWide = x + xWords
            let pairs = pp.baseAddress! + t * pairWords, acc = accp.baseAddress! + t * accWords
            var first = images.lowerBound
            while first < images.upperBound {
                let count = min(perRun, images.upperBound - first)
                for i in 0..<count {
                    let n = first + i
                    fm_conv_amx_plane_bf16(input + n * imageSize, c, g.height, g.width, g.padding, wp, plane, xRow,
                                           x + i * stack)
                    fm_conv_amx_plane_bf16(gradOutput + n * outImageSize, o, g.outHeight, g.outWidth, 0, wp, stack,
                                           pixels, dyWide + i * stack)
                }
                // Past the run's last image: zeros (x meets dy's zeros there, and 0 * NaN is NaN).
                let k = (count * stack + 31) / 32 * 32, xEnd = (count - 1) * stack + plane
                for ch in 0..<c { (x + ch * xRow + xEnd).update(repeating: 0, count: xRow - xEnd) }
                for ch in 0..<o { (dyWide + ch * pixels + count * stack).update(repeating: 0, count: k - count * stack) }
                fm_conv_amx_pair_transpose(dyWide, o, pixels, k / 2, oTiles * 16, pairs)
                fm_conv_amx_weight_gradient(x, xRow, cTiles, pairs, oTiles, k, op.baseAddress!, kk, acc,
                                            first == images.lowerBound ? 0 : 1)
                first += count
            }
            // dW[o][c][t] = acc[t][c][o].
            let oPadded = oTiles * 16, cPadded = cTiles * 16
            for oc in 0..<o {
                for ic in 0..<c {
                    for tap in 0..<kk { dw[(oc * c + ic) * kk + tap] = acc[(tap * cPadded + ic) * oPadded + oc] }
                }
            }
        }
    }}}}
}

/// The size of the AMX weight gradient's runs of images: about 1 MiB of bf16 input and dy rows,
/// within a core's L2 (2 MiB on the Xeon 6/207). Tests shrink it for a scope (`withBytes`) so that
/// small batches still sum over several runs.
package enum AMXWeightGradientRuns {
    @TaskLocal static var scoped: Int?

    /// Bytes of input and dy rows per run on this task.
    static var bytes: Int { scoped ?? (1 << 20) }

    /// Runs `body` with runs of about `bytes` bytes on this task.
    package static func withBytes<R>(_ bytes: Int, _ body: () throws -> R) rethrows -> R {
        try $scoped.withValue(bytes, operation: body)
    }
}
