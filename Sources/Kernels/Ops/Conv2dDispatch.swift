import KernelsC

// Which method runs a convolution: every rule is in `Conv2dDispatch.choose` (its doc comment
// has the table of rules and the measurements behind them), and nowhere else. The kernels
// themselves are in the files each method names.

/// How a forward convolution (or the flipped-kernel input gradient) is computed.
package enum ConvForwardMethod: String, Sendable, CaseIterable {
    /// One axpy per kernel tap into an output row (Conv2dDirect.swift); any CPU and shape.
    case directLoops
    /// Winograd F(2x2, 3x3) (Conv2dWinograd.swift); AVX-512, 3x3, stride 1, padding 1, W <= 512.
    case winogradF2
    /// Winograd F(4x4, 3x3); the same shapes as F(2x2).
    case winogradF4
    /// bf16: Winograd F(2x2, 3x3) with the transform-domain products in bf16 (U and V rounded
    /// to bf16, VDPBF16PS, fp32 sums; transforms fp32; winograd_bf16_avx512.c); AVX512-BF16.
    case winogradF2BF16
    /// bf16: Winograd F(4x4, 3x3) likewise; AVX512-BF16.
    case winogradF4BF16
    /// The direct AVX-512 kernel with vectors along output channels (Conv2dVectorDirect.swift); stride 1.
    case vectorDirect
    /// bf16: the direct kernel with the taps of each kernel row in pairs, input and weights
    /// rounded to bf16, VDPBF16PS, fp32 sums (Conv2dVectorDirect.swift); AVX512-BF16, stride 1.
    case vectorDirectBF16
    /// Panel GEMM over zero-padded wide rows (Conv2dPanels.swift); stride 1, any CPU.
    case paddedPanels
    /// The AVX2 direct kernel: 32 pixels of an output row for two output channels in registers,
    /// the zero-padded image read in place (Conv2dDirect.swift, conv_rows_avx2.c); AVX2, stride 1.
    case rowDirect
    /// Panel GEMM packed through a tap table (Conv2dPanels.swift); any stride, any CPU.
    case tapPanels
    /// bf16: the columns matrix rounded to bf16 as it is written (Conv2dIm2col.swift), then
    /// `bf16gemm` (fp32 sums); any stride, any CPU (bf16gemm's software path without AVX512-BF16).
    case bf16Im2col
    /// bf16: an implicit GEMM on AMX tiles read in place from the zero-padded image stored as
    /// bf16 channel pairs (Conv2dAMX.swift, conv_amx.c); fp32 sums; AMX, stride 1.
    case amxDirect
}

/// How a weight gradient is computed.
package enum ConvWeightGradientMethod: String, Sendable, CaseIterable {
    /// Winograd F(2x2, 3x3) (Conv2dWinogradWeightGradient.swift); AVX-512, 3x3, stride 1, padding 1.
    case winogradF2
    /// Winograd F(4x4, 3x3): 36 products per 4x4 tile where F(2x2) does 64; the same shapes.
    case winogradF4
    /// bf16: Winograd F(2x2, 3x3) with the transformed input and output gradient rounded to bf16
    /// as the transforms write them, VDPBF16PS products, fp32 sums (winograd_wgrad_avx512.c);
    /// AVX512-BF16.
    case winogradF2BF16
    /// Taps of one input channel in registers, inputs broadcast (Conv2dVectorDirect.swift);
    /// AVX-512, stride 1, square 3x3 or 5x5.
    case broadcast
    /// bf16: the same with the pixels of each output row in pairs, input and dy rounded to bf16,
    /// VDPBF16PS, fp32 sums (Conv2dVectorDirect.swift); AVX512-BF16, the shapes of `broadcast`.
    case broadcastBF16
    /// Dot products of dy's wide rows with the padded image (Conv2dVectorDirect.swift); AVX-512, stride 1.
    case vectorDot
    /// Vectors of 8 output pixels of dy against the padded input row shifted by each tap, lane
    /// sums in registers for two filters and a kernel row (Conv2dDirect.swift, conv_rows_avx2.c);
    /// AVX2, stride 1, kernels up to 7 wide.
    case rowDirect
    /// dY * columns^T per image group (Conv2dIm2col.swift); any CPU and shape.
    case im2col
    /// bf16: the same product with the columns rounded to bf16 as they are written and dY
    /// rounded by `bf16gemm` (fp32 sums, fp32 sums across groups and threads); any CPU and shape.
    case bf16Im2col
    /// bf16: the transposed implicit GEMM on AMX tiles (the padded input as bf16 rows, dy as
    /// bf16 pixel pairs; Conv2dAMX.swift, conv_amx.c); fp32 sums; AMX, stride 1.
    case amxDirect
}

/// How an input gradient is computed.
package enum ConvInputGradientMethod: Hashable, Sendable {
    /// A forward convolution of dy with the flipped kernel, by the given method; stride 1, a
    /// square kernel, padding <= k - 1.
    case flippedKernel(ConvForwardMethod)
    /// W^T * dY scattered back by col2im (Conv2dIm2col.swift), sharing its columns with the
    /// im2col weight gradient, so only together with it.
    case im2col
    /// bf16: W^T * dY by `bf16gemm`, then col2im (fp32 adds), sharing its pass with the bf16
    /// im2col weight gradient, so only together with it.
    case bf16Im2col
}

/// The methods one convolution's passes take (each method is fp32 or bf16 by itself: the
/// `bf16Im2col` cases are the bf16 ones).
package struct ConvolutionPlan: Hashable, Sendable {
    /// The forward pass.
    public var forward: ConvForwardMethod
    /// The weight gradient.
    public var weightGradient: ConvWeightGradientMethod
    /// The input gradient.
    public var inputGradient: ConvInputGradientMethod

    /// A plan of the given methods.
    public init(forward: ConvForwardMethod, weightGradient: ConvWeightGradientMethod,
                inputGradient: ConvInputGradientMethod) {
        self.forward = forward; self.weightGradient = weightGradient; self.inputGradient = inputGradient
    }
}

/// Methods a caller forces for the convolutions of one scope (nil: chosen by the rules).
package struct ConvolutionMethods: Sendable {
    /// The forward method, or nil.
    public var forward: ConvForwardMethod?
    /// The weight-gradient method, or nil.
    public var weightGradient: ConvWeightGradientMethod?
    /// The input-gradient method, or nil.
    public var inputGradient: ConvInputGradientMethod?

    /// Forces the given methods; the others are chosen as usual.
    public init(forward: ConvForwardMethod? = nil, weightGradient: ConvWeightGradientMethod? = nil,
                inputGradient: ConvInputGradientMethod? = nil) {
        self.forward = forward; self.weightGradient = weightGradient; self.inputGradient = inputGradient
    }
}

/// The one place that decides how a convolution runs (rules and measurements: the table at the
/// top of Conv2dDispatch.swift).
package enum Conv2dDispatch {
    /// Methods forced for the current task (tests); see `withMethods`.
    @TaskLocal static var forced = ConvolutionMethods()

    /// Runs `body` with the given methods forced for every convolution it makes on this task
    /// (not other tasks or threads). A forced method that cannot run a shape (see `supports`)
    /// stops with a message.
    public static func withMethods<R>(_ methods: ConvolutionMethods, _ body: () throws -> R) rethrows -> R {
        try $forced.withValue(methods, operation: body)
    }

    /// The plan the convolutions of this process take for `g` in `precision` (by default the
    /// scope's, `Precision.current`): the rules on `CPUFeatures.enabled`, with any method forced
    /// by `withMethods`.
    public static func plan(for g: Conv2dGeometry, precision: Precision = .current) -> ConvolutionPlan {
        let cpu = CPUFeatures.enabled
        var plan = choose(g, cpu: cpu, precision: precision)
        let forced = Self.forced
        if let f = forced.forward {
            require(supports(f, g, cpu: cpu), "conv2d: forced forward method \(f) cannot run \(g) on \(cpu)")
            plan.forward = f
        }
        if let w = forced.weightGradient {
            require(supports(w, g, cpu: cpu), "conv2d: forced weight-gradient method \(w) cannot run \(g) on \(cpu)")
            plan.weightGradient = w
        }
        if let i = forced.inputGradient {
            require(supports(i, g, cpu: cpu), "conv2d: forced input-gradient method \(i) cannot run \(g) on \(cpu)")
            plan.inputGradient = i
        }
        require(plan.inputGradient != .im2col || plan.weightGradient == .im2col,
                "conv2d: the im2col input gradient runs only with the im2col weight gradient (\(g))")
        require(plan.inputGradient != .bf16Im2col || plan.weightGradient == .bf16Im2col,
                "conv2d: the bf16 im2col input gradient runs only with the bf16 im2col weight gradient (\(g))")
        return plan
    }

    /// Every rule: the methods for `g` on a CPU with `cpu`.
    ///
    /// The figures were measured when each rule was made, on the project machine of 2026-11-26
    /// (Intel Xeon, family 6 model 207, AVX-512), at the commits named.
    ///
    /// Forward (`ConvForwardMethod`), first rule that holds:
    ///
    /// | method         | when                                                              | measured (one thread unless said)                       |
    /// | -------------- | ----------------------------------------------------------------- | ------------------------------------------------------- |
    /// | directLoops    | O <= 8 filters and output rows >= 96 pixels (forward only)         | 5c9d9d1, conv2dDirectVersusIm2colTimes: explorer layer 1 |
    /// |                |                                                                   | (1x300x451, 2 filters 3x3) 0.23 vs 0.84 ms im2col; 16   |
    /// |                |                                                                   | filters 9.11 vs 8.24; 64x64 rows 0.79 vs 0.39            |
    /// | winogradF4     | AVX-512, 3x3, stride 1, padding 1, C >= 8, W <= 512 (row buffer), | df82f91, vggConvolutionTimes, batch 128, F4 vs F2:       |
    /// |                | and W >= 28, or W >= 15 with C >= 64 and O <= C, or W >= 7 with   | 32->32 @32x32 9.9 vs 12.8 ms, 64->64 @16x16 8.4 vs 9.4,  |
    /// |                | C >= 256                                                          | 64->32 @16x16 4.8 vs 5.9; 32->64 @16x16 5.3 vs 5.1 and   |
    /// |                |                                                                   | 8x8 planes (C 64, 128: 6.2 vs 4.3, 10.1 vs 8.6) stay F2. |
    /// |                |                                                                   | Airbench's planes (Xeon 6/207 with AMX hidden, 1 thread, |
    /// |                |                                                                   | CPU time, batch 256, airbenchConvolutionMethodTimes, ms  |
    /// |                |                                                                   | F4 vs F2): 24->64 @31 32.1 vs 41.1; 64->64 @15 15.4 vs   |
    /// |                |                                                                   | 17.6 (input gradient 14.3 vs 17.8); 256->64 @15 (input   |
    /// |                |                                                                   | gradient) 55.9 vs 74.6; 256->256 @7 54.9 vs 60.1 (input  |
    /// |                |                                                                   | 56.2 vs 61.4); stay F2: 64->256 @15 62.6 vs 59.9, @3     |
    /// |                |                                                                   | 24.3 vs 20.3                                              |
    /// | winogradF2     | the same, other widths                                            | c5b541f, vs vector direct: 32->64 @16x16 5.1 vs 11.2 ms, |
    /// |                |                                                                   | 128->128 @8x8 9.0 vs 17.8; C >= 8 (eff9887): 8->32 @32x32 |
    /// |                |                                                                   | 4.5 vs 5.5, 16->16 5.0 vs 5.7; fewer not measured        |
    /// | winogradF4     | no AVX-512 but AVX2 + FMA (winograd_avx2.c): 3x3, stride 1,       | AMD EPYC Zen 3 (family 25 model 1, AVX2 only), 1 thread, |
    /// | (AVX2)         | padding 1, C >= 8, W <= 512                                       | CPU time, airbench/vggConvolutionMethodTimes, ms F4 vs   |
    /// |                |                                                                   | paddedPanels: VGG (batch 128) 32->32 @32 22.2 vs 60.4,   |
    /// |                |                                                                   | 32->64 @16 15.4 vs 33.2, 64->64 @16 22.3 vs 55.7, 64->128 |
    /// |                |                                                                   | @8 12.8 vs 31.9, 128->128 @8 22.5 vs 55.1; airbench      |
    /// |                |                                                                   | (batch 256) 24->64 @31 66.7 vs 147.7, 64->64 @15 48.9 vs |
    /// |                |                                                                   | 88.4, 64->256 @15 124.6 vs 276.3, 256->256 @7 159.0 vs   |
    /// |                |                                                                   | 276.1, @3 46.0 vs 89.0; input gradients 1.7-3.0x alike.  |
    /// |                |                                                                   | Fewer channels than 8 not measured (the panels' rule)    |
    /// | rowDirect      | no AVX-512 but AVX2 + FMA, stride 1, output rows >= 24 pixels     | AMD EPYC Zen 3, 1 thread, CPU time, otherConvolution- /  |
    /// |                | (conv_rows_avx2.c)                                                | vggConvolution- / airbenchConvolutionMethodTimes, ms     |
    /// |                |                                                                   | rowDirect vs paddedPanels: the notebook's net (batch     |
    /// |                |                                                                   | 128) 3->16 5x5 @32 6.4 vs 12.4, 16->16 5x5 @28 21.7 vs   |
    /// |                |                                                                   | 33.1 (input gradient, 28 wide, 22.4 vs 54.6); VGG 3->32  |
    /// |                |                                                                   | @32 4.3 vs 9.2; airbench's 2x2 whitening @32 8.7 vs 9.0; |
    /// |                |                                                                   | 32->32 @32 53.0 vs 69.8 (Winograd 29.5). Slower on 16-   |
    /// |                |                                                                   | wide rows (32->64 @16 41.5 vs 32.6) and narrower         |
    /// | vectorDirect   | AVX-512, stride 1                                                 | 7a9523c vs im2col (53d5e78): training step 1,450 -> 3,000 |
    /// |                |                                                                   | (seed) and 255 -> 380 (VGG) images/s                     |
    /// | paddedPanels   | stride 1 (arm64; AVX2 CPUs on narrower rows)                      | 16ad8ba: one pass over the input instead of three        |
    /// | tapPanels      | otherwise (stride > 1)                                            |                                                          |
    ///
    /// Weight gradient (`ConvWeightGradientMethod`):
    ///
    /// | method       | when                                                                 | measured                                                |
    /// | ------------ | -------------------------------------------------------------------- | ------------------------------------------------------- |
    /// | winogradF4   | AVX-512, 3x3, stride 1, padding 1, C >= 16, O >= 16, C * O >= 512,   | Xeon 6/207 (AMX hidden), 1 thread, CPU time, ms F4 vs   |
    /// |              | planes at least 3x3                                                  | F2: vggWeightGradientTimes (batch 128) 32->32 @32 8.9   |
    /// |              |                                                                      | vs 13.7, 32->64 @16 3.6 vs 5.5, 64->64 @16 6.3 vs 9.4,  |
    /// |              |                                                                      | 64->128 @8 3.2 vs 4.5, 128->128 @8 6.7 vs 8.8;          |
    /// |              |                                                                      | airbenchConvolutionMethodTimes (batch 256) 24->64 @31   |
    /// |              |                                                                      | 30.5 vs 44.6, 64->64 @15 12.2 vs 18.5, 64->256 @15 54.7 |
    /// |              |                                                                      | vs 75.0, 256->256 @7 44.6 vs 72.6, @3 11.7 vs 18.0      |
    /// | winogradF2   | the same on planes of 1 or 2 rows or columns (one F(4x4) tile is     | c5b541f vs broadcast, batch 128: VGG layers 2-6 42.1 vs   |
    /// |              | mostly padding there; not measured)                                  | 69.7 ms; 987dc7a: 16->16 4-7% slower, hence C * O >= 512 |
    /// | winogradF4   | no AVX-512 but AVX2 + FMA (winograd_wgrad_avx2.c): the shapes of the | AMD EPYC Zen 3 (family 25 model 1), 1 thread, CPU time,  |
    /// | (AVX2)       | AVX-512 rule on planes at least 3x3                                  | ms F4 vs im2col (the machine shared with a CI run):      |
    /// |              |                                                                      | VGG (batch 128) 32->32 @32 17.6 vs 72.6, 32->64 @16 7.9  |
    /// |              |                                                                      | vs 26.7, 64->64 @16 14.5 vs 52.1, 64->128 @8 7.1 vs      |
    /// |              |                                                                      | 28.4, 128->128 @8 14.4 vs 68.0; airbench (batch 256)     |
    /// |              |                                                                      | 24->64 @31 60.2 vs 196.0, 64->64 @15 34.0 vs 148.0,      |
    /// |              |                                                                      | 64->256 @15 162.8 vs 349.3, 256->256 @7 145.7 vs 366.9,  |
    /// |              |                                                                      | @3 38.9 vs 60.3. 1- and 2-wide planes keep im2col (no    |
    /// |              |                                                                      | AVX2 F(2x2); not measured)                               |
    /// | rowDirect    | no AVX-512 but AVX2 + FMA, stride 1, kernels up to 7 wide, padding   | AMD EPYC Zen 3 (family 25 model 1), 2 threads, bench     |
    /// |              | <= k - 1 (the input gradient is then not im2col's), output rows of   | --only breakdown, two rounds alternating with im2col:    |
    /// |              | at least 24 pixels (the forward's rowDirect rule), where Winograd    | seed net 16->16 5x5 @28 10.6-13.3 vs 24.9-26.8 ms (the   |
    /// |              | does not apply                                                       | step 1,814-1,998 -> 2,523-2,801 img/s); VGG 3->32 @32    |
    /// |              |                                                                      | backward 5.2-6.0 vs 11.8-13.3 ms                         |
    /// | broadcast    | AVX-512, stride 1, square 3x3 or 5x5, padding <= k - 1               | 7b8777d: 5x5 44 loads per 100 FMAs instead of 104        |
    /// | vectorDot    | AVX-512, stride 1, other square kernels, padding <= k - 1            | 7a9523c (with vectorDirect above)                        |
    /// | im2col       | otherwise (no AVX-512 or AVX2, stride > 1, rows under 24 on AVX2)    |                                                          |
    ///
    /// Input gradient (`ConvInputGradientMethod`): at stride 1 with a square kernel and padding
    /// <= k - 1, dx is a forward convolution of dy with the flipped, transposed kernel
    /// (`Conv2dGeometry.flippedInputGradient`), whose method the forward rules above pick (all but
    /// directLoops: dy has as many channels as the layer has filters); otherwise im2col (W^T dY,
    /// col2im), in the same pass over the columns as the im2col weight gradient.
    ///
    /// bf16 (`precision: .bf16`, decided first). A bf16 plan may keep an fp32 method: fp32 is at
    /// least as accurate, so the rule is only about speed.
    ///
    /// | CPU                                   | every pass                      | measured                                            |
    /// | ------------------------------------- | ------------------------------- | --------------------------------------------------- |
    /// | AMX usable (`bf16Path == .amx`),      | `amxDirect` forward (C >= 16),  | Xeon 6/207 with AMX, 2026-12-01, 1 thread, CPU time, |
    /// | stride 1                              | flipped-kernel input gradient   | batch 256, airbenchConvolutionMethodTimes, ms        |
    /// |                                       | (O >= 16) and weight gradient   | amxDirect / best fp32 / bf16Im2col: forward 24->64   |
    /// |                                       | (C >= 16, O >= 2C); the fp32    | @31 38.5 / 38.0 (F4) / 92.8, 64->64 @15 9.2 / 18.9 / |
    /// |                                       | rules otherwise                 | 44.3, 64->256 @15 34.9 / 66.7 / 65.7, 256->256 @7    |
    /// |                                       |                                 | 32.0 / 63.2 / 73.6, @3 15.9 / 22.1 / 21.3; input     |
    /// |                                       |                                 | gradient 22.5 / 34.2, 8.7 / 19.1, 41.6 / 60.3, 33.2 / |
    /// |                                       |                                 | 58.6, 15.7 / 22.5; weight gradient (F4) 30.5 / 30.4, |
    /// |                                       |                                 | 13.1 / 12.6, 36.3 / 61.6, 48.7 / 47.1, 15.4 / 13.4:  |
    /// |                                       |                                 | only 64->256 wins, the rest ties or loses            |
    /// | AMX usable, stride > 1                | `bf16Im2col`                    | the only bf16 method there                           |
    /// | AVX512-BF16 without AMX, where the    | `winogradF2BF16` (forward,      | f9b16d6, AMD EPYC Zen 4 (family 25 model 17), shared |
    /// | fp32 rules take Winograd              | flipped-kernel input gradient   | (load ~9 on 2 cores): winogradBF16VersusFP32Times (1  |
    /// |                                       | and weight gradient)            | thread, best of 7 CPU time, 2 runs), batch 128, ms    |
    /// |                                       |                                 | F2BF16 vs fp32 F2 / F4:                              |
    /// |                                       |                                 | fp32 ms: 32->32 @32x32 13.7 vs 17.1 / 14.5; 32->64    |
    /// |                                       |                                 | @16x16 5.3 vs 7.4 / 11.1; 64->64 @16x16 9.4 vs 13.1 / |
    /// |                                       |                                 | 15.3; 64->128 @8x8 4.2 vs 6.3 / 11.8; 128->128 @8x8   |
    /// |                                       |                                 | 7.5 vs 11.7 / 16.5; input gradients 64->32 @16x16 6.1 |
    /// |                                       |                                 | vs 8.0 / 7.4, 128->64 @8x8 4.6 vs 6.5 / 10.1.         |
    /// |                                       |                                 | `winogradF4BF16` (12.5 at 32x32) is not chosen: its   |
    /// |                                       |                                 | error is ~40x bf16Im2col's (Conv2dWinogradBF16Tests)  |
    /// |                                       |                                 | airbench's shapes, batch 256, every method (ms, 1     |
    /// |                                       |                                 | thread, CPU time; airbenchConvolutionMethodTimes,    |
    /// |                                       |                                 | 3211cd4's kernels), F2BF16 / fp32 F2 / bf16Im2col:   |
    /// |                                       |                                 | forward 24->64 @31 35.0 / 47.0 / 60.8, 64->256 @15   |
    /// |                                       |                                 | 53.3 / 88.6 / 110.7, 256->256 @7 48.2 / 83.1 / 115.4, |
    /// |                                       |                                 | @3 19.3 / 27.5 / 26.0; weight gradient 24->64 36.7 /  |
    /// |                                       |                                 | 52.0 / 69.2, 64->256 53.3 / 90.7 / 106.8, @7 48.6 /   |
    /// |                                       |                                 | 89.5 / 106.4, @3 12.4 / 22.8 / 24.8; input gradient  |
    /// |                                       |                                 | @7 48.9 / 83.7 / 115.3 (vectorDirect and broadcast    |
    /// |                                       |                                 | slower still at every shape)                          |
    /// |                                       |                                 | Quiet machine, 95b5f52, compare_peers.py --rounds 2: |
    /// |                                       |                                 | vgg_b128 bf16 1,371 vs fp32 1,060 img/s (weight      |
    /// |                                       |                                 | gradient then fp32)                                   |
    /// | AVX512-BF16 without AMX, where the    | `vectorDirectBF16` (forward and | be62cbd vs c5661e9, same Zen 4, quiet, 2 threads,    |
    /// | fp32 rules take the vector direct     | flipped-kernel input gradient)  | `featuremaps bench --only train --nets seed_b128      |
    /// | kernel or the broadcast weight        | and `broadcastBF16`             | --precision bf16`, alternating, median of 5: 7,475   |
    /// | gradient                              |                                 | vs 6,078 img/s with the fp32 kernel (fp32 6,142 vs   |
    /// |                                       |                                 | 6,163: unchanged). Tap pairs of a kernel row on one  |
    /// |                                       |                                 | VDPBF16PS: 15 instead of 25 per 5x5 channel. Then    |
    /// |                                       |                                 | fe4e0c1, broadcastBF16 (pixel pairs), medians of 3:  |
    /// |                                       |                                 | 9,013 vs 7,723 img/s                                  |
    /// | AVX512-BF16 whose dot products are    | the fp32 plan above             | Intel Xeon (family 6 model 207, AMX hidden by the    |
    /// | slower than fp32 FMAs                 |                                 | hypervisor), 2 threads, quiet: peak loops VDPBF16PS  |
    /// | (`fastBF16DotProducts` false)         |                                 | 175 vs FMA 359 GFLOP/s (ratio 0.49); `featuremaps    |
    /// |                                       |                                 | bench --only train --precision bf16`, 0b817de vs     |
    /// |                                       |                                 | this rule, alternating, 2 runs: seed 4,339/4,260 ->  |
    /// |                                       |                                 | 7,838/7,557, VGG 992/989 -> 1,330/1,344, airbench    |
    /// |                                       |                                 | 338/322 -> 477/475 img/s (the fp32 step's speed)     |
    /// | AVX-512 without AMX (AVX512-BF16 too) | the fp32 plan above             | 4bbd05f + bf16kernels f9d2955, AMD EPYC Zen 4, 2     |
    /// |                                       |                                 | threads, loaded machine: VGG layer 4 (64->64 16x16,  |
    /// |                                       |                                 | batch 128) forward bf16Im2col 40-48 ms vs Winograd   |
    /// |                                       |                                 | F(4x4) 26-28, backward 105-118 vs 49-53; training    |
    /// |                                       |                                 | step with bf16Im2col outside Winograd shapes: seed   |
    /// |                                       |                                 | 663 vs 1,707 img/s fp32 (its 5x5 vector kernels), VGG |
    /// |                                       |                                 | 249 vs 294                                           |
    /// | AVX2 without AVX-512                  | the fp32 plan above             | AMD EPYC Zen 3 (family 25 model 1), 2 threads,       |
    /// |                                       |                                 | `compare_peers.py --rounds 2` at 804452c (bf16Im2col |
    /// |                                       |                                 | then): training steps bf16 / fp32 seed 1,126 / 1,472, |
    /// |                                       |                                 | VGG 205 / 696, airbench 93 / 258 img/s; per pass     |
    /// |                                       |                                 | (airbenchConvolutionMethodTimes, 1 thread) the AVX2  |
    /// |                                       |                                 | F(4x4) 2-3x faster than bf16Im2col on every shape    |
    /// | no AVX2 (arm64, `portable`)           | `bf16Im2col` (software bf16gemm) | the path that checks bf16 numerics on any CPU (CI's  |
    /// |                                       |                                 | portable run)                                        |
    ///
    /// `bf16Im2col`: the columns matrix rounded to bf16 as it is written and `bf16gemm` (fp32
    /// sums): forward W * cols, weight gradient dY * cols^T, input gradient by the flipped kernel
    /// through the same bf16 forward at stride 1 with a square kernel and padding <= k - 1, else
    /// W^T dY + col2im. The profile of the AVX512-BF16 case: bf16 GEMM kernel 24% of the samples,
    /// im2col with rounding about 24%, bf16 packing 11%: the columns and packing passes cost about
    /// what the products do, while Winograd does 2.25x (F2) to 4x (F4) fewer multiplies and the
    /// 5x5 vector kernels read each input once. On such CPUs `--precision bf16` therefore
    /// changes the linear layers (`bf16gemm`) and, with AVX512-BF16, the Winograd convolutions'
    /// products in all three passes (`winogradF2BF16`: the transforms stay fp32 and round their
    /// results to bf16 as they write them). Which method ran is in the layer's
    /// `Conv2dScratch` (`lastForward`, ...).
    ///
    /// Commands and per-shape tables: Docs/KERNELS.md, "How a convolution runs". The CPU features
    /// are `CPUFeatures.enabled` (FEATUREMAPS_CPU). Tests force a method with
    /// `Conv2dDispatch.withMethods`, which holds for the calling task only.
    public static func choose(_ g: Conv2dGeometry, cpu: CPUFeatures, precision: Precision = .fp32) -> ConvolutionPlan {
        if precision == .bf16 {
            // Measured (the table above): with AVX-512 but no AMX, and with AVX2 alone, the fp32 kernels beat
            // bf16Im2col; with AVX512-BF16, Winograd F(2x2) with bf16 products beats both fp32
            // Winograd methods and bf16Im2col where the fp32 rules take Winograd (forward,
            // flipped-kernel input gradient, weight gradient), and the direct kernel's bf16 form
            // beats its fp32 form; F(4x4) in bf16 is kept out for its error (and the fp32 F(4x4)
            // weight gradient becomes bf16 F(2x2) too: on the Zen 4, bf16 F(2x2) was 1.8x fp32
            // F(2x2), on the Xeon fp32 F(4x4) is 1.4-1.6x fp32 F(2x2); not compared directly). Where VDPBF16PS is
            // slower than fp32 FMAs (`fastBF16DotProducts`), every pass keeps its fp32 method.
            if (cpu.avx512 || cpu.avx2) && cpu.bf16Path != .amx {
                var plan = choose(g, cpu: cpu)
                guard cpu.avx512bf16 && cpu.fastBF16DotProducts else { return plan }
                if plan.forward == .winogradF2 || plan.forward == .winogradF4 { plan.forward = .winogradF2BF16 }
                if plan.forward == .vectorDirect { plan.forward = .vectorDirectBF16 }
                if plan.inputGradient == .flippedKernel(.winogradF2) || plan.inputGradient == .flippedKernel(.winogradF4) {
                    plan.inputGradient = .flippedKernel(.winogradF2BF16)
                }
                if plan.inputGradient == .flippedKernel(.vectorDirect) { plan.inputGradient = .flippedKernel(.vectorDirectBF16) }
                if plan.weightGradient == .winogradF2 || plan.weightGradient == .winogradF4 { plan.weightGradient = .winogradF2BF16 }
                if plan.weightGradient == .broadcast { plan.weightGradient = .broadcastBF16 }
                return plan
            }
            if cpu.bf16Path == .amx && g.stride == 1 {
                // AMX: the implicit GEMM on tiles for the forward pass and the flipped-kernel
                // input gradient where a 32-channel block is at least half full; the weight
                // gradient where it has at least twice as many outputs as inputs (the table above).
                var plan = choose(g, cpu: cpu)
                if g.inChannels >= 16 { plan.forward = .amxDirect }
                if g.inChannels >= 16 && g.outChannels >= 2 * g.inChannels { plan.weightGradient = .amxDirect }
                if g.inputGradientIsFlippedConvolution && g.outChannels >= 16 { plan.inputGradient = .flippedKernel(.amxDirect) }
                return plan
            }
            let inputGradient: ConvInputGradientMethod = g.inputGradientIsFlippedConvolution
                ? .flippedKernel(.bf16Im2col) : .bf16Im2col
            return ConvolutionPlan(forward: .bf16Im2col, weightGradient: .bf16Im2col, inputGradient: inputGradient)
        }
        // Few filters on long rows: the GEMM would have 1 to 8 rows, and the columns cost more
        // than the arithmetic.
        let forward = g.outChannels <= 8 && g.outWidth >= 96 ? .directLoops : gemmClassForward(g, cpu: cpu)
        let weightGradient: ConvWeightGradientMethod
        if cpu.avx512 && g.inputGradientIsFlippedConvolution {
            if g.isWinograd3x3 && g.inChannels >= 16 && g.outChannels >= 16 && g.inChannels * g.outChannels >= 512 {
                weightGradient = min(g.height, g.width) >= 3 ? .winogradF4 : .winogradF2
            } else if g.kernelHeight == 3 || g.kernelHeight == 5 {
                weightGradient = .broadcast
            } else {
                weightGradient = .vectorDot
            }
        } else if cpu.avx2 && g.isWinograd3x3 && g.inChannels >= 16 && g.outChannels >= 16
                    && g.inChannels * g.outChannels >= 512 && min(g.height, g.width) >= 3 {
            // AVX2 without AVX-512: F(4x4) where AVX-512 takes it (winograd_wgrad_avx2.c).
            weightGradient = .winogradF4
        } else if !cpu.avx512 && supports(ConvWeightGradientMethod.rowDirect, g, cpu: cpu)
                    && g.inputGradientIsFlippedConvolution && g.outWidth >= 24 {
            // AVX2 without AVX-512, the rows of the forward's rowDirect rule (the input gradient
            // is then a flipped-kernel convolution, not im2col's, whose pass this would share).
            weightGradient = .rowDirect
        } else {
            weightGradient = .im2col
        }
        let inputGradient: ConvInputGradientMethod = g.inputGradientIsFlippedConvolution
            ? .flippedKernel(gemmClassForward(g.flippedInputGradient, cpu: cpu)) : .im2col
        return ConvolutionPlan(forward: forward, weightGradient: weightGradient, inputGradient: inputGradient)
    }

    /// The forward rules after direct loops (which the input gradient never takes; see `choose`).
    private static func gemmClassForward(_ g: Conv2dGeometry, cpu: CPUFeatures) -> ConvForwardMethod {
        if supports(ConvForwardMethod.winogradF2, g, cpu: cpu) && g.inChannels >= 8 {
            // F(4x4) does 4x fewer multiplies than direct where F(2x2) does 2.25x, but its
            // transforms cost more per tile: it pays on wide planes, and on narrower ones where
            // the products dominate (many input channels, no more outputs than inputs).
            let c = g.inChannels, w = g.width
            let f4 = w >= 28 || (w >= 15 && c >= 64 && g.outChannels <= c) || (w >= 7 && c >= 256)
            return f4 ? .winogradF4 : .winogradF2
        }
        if !cpu.avx512 && supports(ConvForwardMethod.winogradF4, g, cpu: cpu) && g.inChannels >= 8 {
            return .winogradF4
        }
        // AVX2 alone: the direct row kernel where output rows fill its 32-pixel tiles (measured
        // faster than the panels at 24 to 32 pixels, slower at 16 and less).
        if !cpu.avx512 && cpu.avx2 && g.stride == 1 && g.outWidth >= 24 { return .rowDirect }
        if cpu.avx512 && g.stride == 1 { return .vectorDirect }
        return g.stride == 1 ? .paddedPanels : .tapPanels
    }

    /// Whether `method` can compute the forward convolution `g` on `cpu` (faster or not).
    public static func supports(_ method: ConvForwardMethod, _ g: Conv2dGeometry, cpu: CPUFeatures) -> Bool {
        switch method {
        case .directLoops, .tapPanels, .bf16Im2col: return true
        case .winogradF2: return cpu.avx512 && g.isWinograd3x3 && g.width <= Int(FM_WINOGRAD_MAX_WIDTH)
        case .winogradF4: return (cpu.avx512 || cpu.avx2) && g.isWinograd3x3 && g.width <= Int(FM_WINOGRAD_MAX_WIDTH)
        case .winogradF2BF16, .winogradF4BF16:
            return cpu.avx512bf16 && supports(method == .winogradF2BF16 ? ConvForwardMethod.winogradF2 : .winogradF4, g, cpu: cpu)
        case .vectorDirect: return cpu.avx512 && g.stride == 1
        case .vectorDirectBF16: return cpu.avx512bf16 && g.stride == 1
        case .amxDirect: return cpu.bf16Path == .amx && g.stride == 1
        case .paddedPanels: return g.stride == 1
        case .rowDirect: return cpu.avx2 && g.stride == 1
        }
    }

    /// Whether `method` can compute the weight gradient of `g` on `cpu`.
    public static func supports(_ method: ConvWeightGradientMethod, _ g: Conv2dGeometry, cpu: CPUFeatures) -> Bool {
        switch method {
        case .winogradF2: return cpu.avx512 && g.isWinograd3x3
        case .winogradF4: return (cpu.avx512 || cpu.avx2) && g.isWinograd3x3
        case .winogradF2BF16: return cpu.avx512bf16 && g.isWinograd3x3
        case .broadcast:
            return cpu.avx512 && g.stride == 1 && g.kernelHeight == g.kernelWidth
                && (g.kernelHeight == 3 || g.kernelHeight == 5)
        case .broadcastBF16: return cpu.avx512bf16 && supports(ConvWeightGradientMethod.broadcast, g, cpu: cpu)
        case .amxDirect: return cpu.bf16Path == .amx && g.stride == 1
        case .vectorDot: return cpu.avx512 && g.stride == 1
        case .rowDirect: return cpu.avx2 && g.stride == 1 && g.kernelWidth <= 7
        case .im2col, .bf16Im2col: return true
        }
    }

    /// Whether `method` can compute the input gradient of `g` on `cpu`.
    public static func supports(_ method: ConvInputGradientMethod, _ g: Conv2dGeometry, cpu: CPUFeatures) -> Bool {
        switch method {
        case .flippedKernel(let forward):
            return g.inputGradientIsFlippedConvolution && supports(forward, g.flippedInputGradient, cpu: cpu)
        case .im2col, .bf16Im2col: return true
        }
    }
}

extension Conv2dGeometry {
    /// 3x3, stride 1, padding 1: the shape the Winograd kernels compute.
    var isWinograd3x3: Bool {
        kernelHeight == 3 && kernelWidth == 3 && stride == 1 && padding == 1
    }
}
