import KernelsC

// 3x3 stride-1 padding-1 convolution by Winograd's minimal filtering F(2x2, 3x3) or, on wider
// planes, F(4x4, 3x3) (Lavin & Gray 2015; formulas in Sources/KernelsC/include/WinogradKernels.h),
// on AVX-512. For F(2x2, 3x3):
//
//   U[p][o][c]    = (G w[o][c] G^T)[p]                        once per call, all filters
//   V[p][c][t]    = (B^T d[c,t] B)[p]                         per block of tiles
//   M[p][o][t]    = sum_c U[p][o][c] * V[p][c][t]             16 matrix products per block
//   y[o][tile t]  = bias[o] + A^T M[.][o][t] A                a 2x2 output block per tile
//
// 16 multiplies per 2x2 outputs instead of 36; F(4x4, 3x3) takes 36 positions of 6x6 patches
// per 4x4 outputs (2.25 multiplies per output instead of 9) at about 16x the rounding error
// (Conv2dWinogradTests.swift: 3.4e-6 of sum |w||x| at worst). Each thread runs its own images
// (as the other convolution paths) in blocks of whole tile rows sized so that the block's V and
// M stay in L2. Every output is the same sums in the same order whatever the blocking and
// thread count.

/// Floats of transformed input plus products one block may hold: 512 KiB, a quarter of a 2 MiB
/// L2. On the VGG shapes (`vggConvolutionTimes`, 3 alternating rounds) the sum of the seven
/// medians was 53.3 ms at 1 MiB, 51.5 at 512 KiB, 256 KiB no better.
let convWinogradBlockBudget = 1 << 17

/// The block shape for `g` by F(4x4, 3x3) (`f4`) or F(2x2, 3x3): tile rows per block and the
/// padded tile count (row stride of V and M).
func convWinogradBlock(_ g: Conv2dGeometry, f4: Bool) -> (rows: Int, stride: Int, outPadded: Int) {
    let outPadded = (g.outChannels + 7) / 8 * 8
    let (side, positions) = f4 ? (4, 36) : (2, 16)
    let tilesPerRow = (g.width + side - 1) / side
    let tileRows = (g.height + side - 1) / side
    let tiles = max(48, convWinogradBlockBudget / (positions * (g.inChannels + outPadded)))
    // Whole vectors of 16 tiles where tile rows divide them (the output's full-vector stores).
    let multiple = 16 % tilesPerRow == 0 ? 16 / tilesPerRow : 1
    let rows = max(multiple, min(tiles / tilesPerRow, g.batch * tileRows) / multiple * multiple)
    return (rows, (rows * tilesPerRow + 15) / 16 * 16, outPadded)
}

/// Forward 3x3 stride-1 padding-1 convolution of `input` (NCHW) into `output` by Winograd
/// F(4x4, 3x3) when `f4`, else F(2x2, 3x3), on AVX-512, or F(4x4) on AVX2 without AVX-512
/// (`Conv2dDispatch` decides which); when
/// `bf16`, the products in bf16 (AVX512-BF16): U once and each block's V rounded to bf16 in
/// channel pairs, fp32 sums, the output transform as in fp32.
func convWinogradForward(_ g: Conv2dGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                         bias: UnsafeBufferPointer<Float>?, output: UnsafeMutablePointer<Float>,
                         f4: Bool, bf16: Bool = false, scratch: inout Conv2dScratch) {
    require(g.isWinograd3x3 && g.width <= Int(FM_WINOGRAD_MAX_WIDTH),
            "conv2d: Winograd is for 3x3 stride-1 padding-1 convolutions on rows up to \(FM_WINOGRAD_MAX_WIDTH) wide, not \(g)")
    // Without AVX-512, F(4x4) in fp32 on AVX2 (winograd_avx2.c): the same layouts and blocks.
    let avx512 = CPUFeatures.enabled.avx512
    require(avx512 || (f4 && !bf16 && CPUFeatures.enabled.avx2),
            "conv2d: Winograd without AVX-512 is F(4x4) in fp32 on AVX2 only (\(g))")
    let (rowsPerBlock, ldv, opad) = convWinogradBlock(g, f4: f4)
    let (side, positions) = f4 ? (4, 36) : (2, 16)
    let tileRowsPerImage = (g.height + side - 1) / side
    let tilesPerRow = (g.width + side - 1) / side
    // 16 floats of slack per buffer so that each can start on a 64-byte boundary.
    let weightCount = positions * opad * g.inChannels + 16
    let transformedSlice = positions * g.inChannels * ldv + 16
    let productSlice = positions * opad * ldv + 16
    let threads = convThreads(g.batch)
    scratch.winogradWeights.growScratch(to: weightCount)
    // F(2x2) in bf16 writes V straight to bf16 (below): no fp32 V.
    let fp32V = f4 || !bf16
    scratch.winogradTransformed.growScratch(to: fp32V ? transformedSlice * threads : 0)
    scratch.winogradProducts.growScratch(to: productSlice * threads)
    // bf16: pairs of channels per 32-bit word (16 words of slack for alignment, as above).
    let pairs = (g.inChannels + 1) / 2
    let weightSliceBF16 = bf16 ? positions * opad * pairs + 16 : 0
    let transformedSliceBF16 = bf16 ? positions * pairs * ldv + 16 : 0
    scratch.winogradWeightsBF16.growScratch(to: weightSliceBF16, filling: 0)
    scratch.winogradTransformedBF16.growScratch(to: transformedSliceBF16 * threads, filling: 0)
    nonisolated(unsafe) let out = output
    let biasBase = bias?.baseAddress
    scratch.winogradWeights.withUnsafeMutableBufferPointer { up in
    scratch.winogradTransformed.withUnsafeMutableBufferPointer { vp in
    scratch.winogradProducts.withUnsafeMutableBufferPointer { mp in
    scratch.winogradWeightsBF16.withUnsafeMutableBufferPointer { ubp in
    scratch.winogradTransformedBF16.withUnsafeMutableBufferPointer { vbp in
        let u = alignedTo64(up.baseAddress!)
        let ub = bf16 ? alignedTo64(ubp.baseAddress!) : nil
        // Each thread transforms some panels of 8 filters (the same values whatever the split):
        // on one thread this took 1.5% of the airbench step (Zen 3, perf), which ran alone
        // while the other core waited.
        nonisolated(unsafe) let panelsOut = u
        parallelFor(opad / 8) { panels in
            if f4 {
                fm_winograd_f4_weights(weight, g.outChannels, g.inChannels, opad, panels.lowerBound, panels.upperBound, panelsOut)
            } else {
                fm_winograd_f2_weights(weight, g.outChannels, g.inChannels, opad, panels.lowerBound, panels.upperBound, panelsOut)
            }
        }
        if let ub { fm_winograd_weights_bf16(u, positions, opad, g.inChannels, ub) }
        parallelFor(threads) { range in
            for t in range {
                let v = fp32V ? alignedTo64(vp.baseAddress! + t * transformedSlice) : nil
                let m = alignedTo64(mp.baseAddress! + t * productSlice)
                let vb = bf16 ? alignedTo64(vbp.baseAddress! + t * transformedSliceBF16) : nil
                let images = convImages(thread: t, of: threads, batch: g.batch)
                let lastRow = images.upperBound * tileRowsPerImage
                var row = images.lowerBound * tileRowsPerImage
                while row < lastRow {
                    let rows = min(rowsPerBlock, lastRow - row)
                    let tiles = (rows * tilesPerRow + 15) / 16 * 16
                    if !avx512 {
                        fm_winograd_f4_input_avx2(input, g.inChannels, g.height, g.width, row, rows, v!, ldv)
                        fm_winograd_multiply_avx2(positions, u, v!, m, opad, g.inChannels, ldv, tiles)
                        fm_winograd_f4_output_avx2(m, opad, ldv, g.outChannels, biasBase, g.height, g.width, row, rows, out)
                        row += rows
                        continue
                    }
                    if f4 {
                        fm_winograd_f4_input(input, g.inChannels, g.height, g.width, row, rows, v!, ldv)
                    } else if vb == nil {
                        fm_winograd_f2_input(input, g.inChannels, g.height, g.width, row, rows, v!, ldv)
                    }
                    if let ub, let vb {
                        // F(2x2) rounds V as it transforms it; F(4x4) in a second pass.
                        if f4 {
                            fm_winograd_input_bf16(positions, v!, g.inChannels, ldv, tiles, vb)
                        } else {
                            fm_winograd_f2_input_bf16(input, g.inChannels, g.height, g.width, row, rows, vb, ldv)
                        }
                        fm_winograd_multiply_bf16(positions, ub, vb, m, opad, g.inChannels, ldv, tiles)
                    } else {
                        fm_winograd_multiply(positions, u, v!, m, opad, g.inChannels, ldv, tiles)
                    }
                    if f4 {
                        fm_winograd_f4_output(m, opad, ldv, g.outChannels, biasBase, g.height, g.width, row, rows, out)
                    } else {
                        fm_winograd_f2_output(m, opad, ldv, g.outChannels, biasBase, g.height, g.width, row, rows, out)
                    }
                    row += rows
                }
            }
        }
    }}}}}
}

/// The first 64-byte aligned address at or after `p` (at most 15 floats on).
@inline(__always)
private func alignedTo64<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<T> {
    let address = UInt(bitPattern: p)
    return p + Int(((64 - address % 64) % 64) / UInt(MemoryLayout<T>.stride))
}
