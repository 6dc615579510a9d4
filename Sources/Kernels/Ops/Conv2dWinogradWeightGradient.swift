import KernelsC

// Weight gradient of 3x3, stride-1, padding-1 convolutions by Winograd F(2x2, 3x3) or F(4x4, 3x3)
// (Sources/KernelsC/winograd_wgrad_avx512.c; F(4x4) on AVX2 without AVX-512: winograd_wgrad_avx2.c,
// the same plan and block loop, winograd_wgrad_run.h). Per m x m output tile and (output, input) channel
// pair it does (m + 2)^2 multiply-adds where the direct kernel does 9 m^2 (16 for 36 at m = 2,
// 36 for 144 at m = 4): the input's (m + 2)^2 tiles and the output gradient's m x m tiles are
// transformed to (m + 2)^2 positions each, each position is a GEMM summed over every tile of the
// thread's images, and the sums are folded back to 3x3 once. Each thread sums its own images;
// partials are added in thread order (`convWeightGradientByThread`), so the result is the same
// for the same thread count.

/// Overwrites `gradWeight` ([O, C*9]) with the weight gradient of a 3x3 stride-1 padding-1
/// convolution, on AVX-512, or by F(4x4) on AVX2 without it (`Conv2dDispatch` decides when: at least 16 input and output
/// channels and C * O >= 512, as the transforms' work grows with C + O and the products' with C * O),
/// by F(`tile` x `tile`, 3x3), `tile` 2 or 4. When `bf16` (AVX512-BF16, tile 2 only), the
/// transformed input and output gradient are rounded to bf16 and the products run on VDPBF16PS,
/// two tiles per step, with fp32 sums.
func convWinogradWeightGradient(_ g: Conv2dGeometry, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                gradWeight: UnsafeMutablePointer<Float>, tile: Int = 2, bf16: Bool = false,
                                scratch: inout Conv2dScratch) {
    require(g.isWinograd3x3, "conv2d: the Winograd weight gradient is for 3x3 stride-1 padding-1 convolutions, not \(g)")
    require(tile == 2 || (tile == 4 && !bf16), "conv2d: the Winograd weight gradient has F(2x2) in fp32 and bf16 and F(4x4) in fp32, not tile \(tile) bf16 \(bf16)")
    let avx512 = CPUFeatures.enabled.avx512
    require(avx512 || (tile == 4 && !bf16 && CPUFeatures.enabled.avx2),
            "conv2d: the Winograd weight gradient without AVX-512 is F(4x4) in fp32 on AVX2 only (\(g))")
    let threads = convThreads(g.batch)
    let slice = fm_wino_wgrad_scratch_floats(g.inChannels, g.outChannels, g.height, g.width, Int32(tile), bf16 ? 1 : 0)
    scratch.winogradWeightGradient.growScratch(to: slice * threads)
    let imageIn = g.inChannels * g.height * g.width, imageOut = g.outChannels * g.outPlane
    scratch.winogradWeightGradient.withUnsafeMutableBufferPointer { sp in
        convWeightGradientByThread(g, into: gradWeight, partials: &scratch.partialGradWeight) { t, images, dwThread in
            let x = input + images.lowerBound * imageIn, dy = gradOutput + images.lowerBound * imageOut
            if avx512 {
                fm_wino_wgrad_avx512(images.count, g.inChannels, g.outChannels, g.height, g.width, x, dy,
                                     sp.baseAddress! + t * slice, dwThread, Int32(tile), bf16 ? 1 : 0)
            } else {
                fm_wino_wgrad_avx2(images.count, g.inChannels, g.outChannels, g.height, g.width, x, dy,
                                   sp.baseAddress! + t * slice, dwThread)
            }
        }
    }
}
