import KernelsC

// Weight gradient of 3x3, stride-1, padding-1 convolutions by Winograd F(2x2, 3x3)
// (Sources/KernelsC/winograd_wgrad_avx512.c). Per 2x2 output tile and (output, input) channel
// pair it does 16 multiply-adds where the direct kernel does 36: the input's 4x4 tiles and the
// output gradient's 2x2 tiles are transformed to 16 positions each, each position is a GEMM
// summed over every tile of the thread's images, and the 16 sums are folded back to 3x3 once.
// Each thread sums its own images; partials are added in thread order (`addPartials`), so the
// result is the same for the same thread count.

/// Whether `convVectorDirectWeightGradient` hands `g` to the Winograd weight gradient: 3x3,
/// stride 1, padding 1, at least 16 input and output channels and C * O >= 512. The transforms'
/// work grows with C + O and the products' with C * O: measured against the direct kernel (64
/// images, 1 thread), 16 -> 16 channels ran 4-7% slower, 16 -> 32 and 32 -> 16 3-11% faster,
/// 8 -> 16 twice as slow, VGG's 32 -> 32 and up 1.3-2x faster. The first RGB layer stays direct.
func convWinogradWeightGradientApplies(_ g: Conv2dGeometry) -> Bool {
    g.kernelHeight == 3 && g.kernelWidth == 3 && g.stride == 1 && g.padding == 1
        && g.inChannels >= 16 && g.outChannels >= 16 && g.inChannels * g.outChannels >= 512
}

/// Overwrites `gradWeight` ([O, C*9]) with the weight gradient of a 3x3 stride-1 padding-1
/// convolution. Call only when `MicroKernel.selected == .avx512` and
/// `convWinogradWeightGradientApplies(g)`.
func convWinogradWeightGradient(_ g: Conv2dGeometry, input: UnsafePointer<Float>, gradOutput: UnsafePointer<Float>,
                                gradWeight: UnsafeMutablePointer<Float>, scratch: inout Conv2dScratch) {
    let weightCount = g.outChannels * g.taps
    let threads = convThreads(g.batch)
    let slice = fm_wino_wgrad_scratch_floats(g.inChannels, g.outChannels, g.height, g.width)
    if scratch.winogradWeightGradient.count < slice * threads {
        scratch.winogradWeightGradient = [Float](repeating: 0, count: slice * threads)
    }
    if scratch.partialGradWeight.count < weightCount * (threads - 1) {
        scratch.partialGradWeight = [Float](repeating: 0, count: weightCount * (threads - 1))
    }
    let imageIn = g.inChannels * g.height * g.width, imageOut = g.outChannels * g.outPlane
    nonisolated(unsafe) let dwTotal = gradWeight
    scratch.winogradWeightGradient.withUnsafeMutableBufferPointer { sp in
    scratch.partialGradWeight.withUnsafeMutableBufferPointer { pwp in
        parallelFor(threads) { range in
            for t in range {
                let dwThread = t == 0 ? dwTotal : pwp.baseAddress! + (t - 1) * weightCount
                let images = convImages(thread: t, of: threads, batch: g.batch)
                fm_wino_wgrad_avx512(images.count, g.inChannels, g.outChannels, g.height, g.width,
                                     input + images.lowerBound * imageIn, gradOutput + images.lowerBound * imageOut,
                                     sp.baseAddress! + t * slice, dwThread)
            }
        }
        addPartials(pwp.baseAddress!, threads: threads, count: weightCount, into: dwTotal)
    }}
}
