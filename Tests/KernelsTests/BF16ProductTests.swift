import Kernels
import Testing

// Convolutions and linear layers in bf16 (`Precision.with(.bf16)`): the products of operands
// rounded to bf16 with fp32 sums. Two checks per pass:
// 1. against a Float64 reference computed on the bf16-rounded operands: the only error left is
//    the fp32 summation. Products of two bf16 values are exact in fp32 (8 + 8 significand bits),
//    and K terms summed in fp32 in any order are within (K - 1) u |terms| of the exact sum
//    (u = 2^-24); K is the reduction length (C*k*k forward, O*k*k input gradient, N*Ho*Wo
//    weight gradient), plus one rounding for the bias and one for the sum across threads;
// 2. against the Float64 reference on the unrounded operands: within the bf16 rounding of both
//    factors, (2 v + v^2) |terms| with v = 2^-8, plus the same summation error; and somewhere
//    further than the fp32 bound, which shows the operands really were rounded.
// The error of each output is divided by S = sum |terms| (the reference on absolute values).

/// Every element rounded to bf16.
func roundedToBF16(_ t: Tensor) -> Tensor { Tensor(shape: t.shape, storage: t.storage.map { roundedToBF16($0) }) }

/// The fp32 summation bound of a reduction of length `k`, relative to S.
func fp32SumBound(reduction k: Int) -> Float { Float(k + 2) * 0x1p-24 }

/// The bound of bf16 products against exact ones, relative to S.
func bf16ProductBound(reduction k: Int) -> Float { 2 * 0x1p-8 + 0x1p-16 + fp32SumBound(reduction: k) }

/// (N, C, H, W, O, k, stride, padding): strides 1 and 2, padding 0, 1 and 2, 1x1, 3x3 and 5x5,
/// channel counts that are no multiple of 16.
private let bf16ConvCases: [(Int, Int, Int, Int, Int, Int, Int, Int)] = [
    (2, 3, 9, 11, 17, 3, 1, 1), (2, 5, 10, 9, 20, 3, 2, 1), (1, 7, 8, 8, 9, 1, 1, 0), (2, 4, 12, 11, 6, 5, 1, 2),
    (3, 6, 9, 9, 19, 5, 2, 0), (1, 18, 7, 6, 33, 3, 1, 0), (2, 3, 8, 10, 5, 3, 2, 2),
]

@Test(arguments: bf16ConvCases.indices)
func bf16ConvolutionMatchesRoundedReference(_ index: Int) {
    let (n, c, h, w, o, k, s, p) = bf16ConvCases[index]
    var rng = SeededGenerator(seed: 11_000 + UInt64(index))
    let x = randomTensor([n, c, h, w], &rng), weight = randomTensor([o, c, k, k], &rng), bias = randomTensor([o], &rng)
    let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: s, padding: p)
    let dy = randomTensor([n, o, g.outHeight, g.outWidth], &rng)
    let (xr, wr, dyr) = (roundedToBF16(x), roundedToBF16(weight), roundedToBF16(dy))

    // Forward, weight gradient and input gradient in bf16 by the bf16 methods (forced: with
    // AVX-512 or AVX2 the dispatch keeps fp32 or bf16 Winograd methods, or AMX's, see
    // bf16KeepsFP32WithoutAMX); the dispatch gives them where the CPU has neither.
    let flipped = g.inputGradientIsFlippedConvolution
    let bf16Plan = ConvolutionPlan(forward: .bf16Im2col, weightGradient: .bf16Im2col,
                                   inputGradient: flipped ? .flippedKernel(.bf16Im2col) : .bf16Im2col)
    let dispatchRunsBF16 = !CPUFeatures.enabled.avx512 && !CPUFeatures.enabled.avx2
    if dispatchRunsBF16 { #expect(Conv2dDispatch.plan(for: g, precision: .bf16) == bf16Plan, "\(g)") }
    var y = Tensor.empty, dx = Tensor.empty, dw = Tensor.empty, scratch = Conv2dScratch()
    Precision.with(.bf16) {
        Conv2dDispatch.withMethods(ConvolutionMethods(forward: bf16Plan.forward, weightGradient: bf16Plan.weightGradient,
                                                      inputGradient: bf16Plan.inputGradient)) {
            conv2dForward(x, weight: weight, bias: bias, stride: s, padding: p, into: &y, scratch: &scratch)
            conv2dBackward(input: x, weight: weight, gradOutput: dy, stride: s, padding: p,
                           gradInput: &dx, gradWeight: &dw, scratch: &scratch)
        }
    }
    // The bf16 methods ran.
    #expect(scratch.lastForward == .bf16Im2col)
    #expect(scratch.lastWeightGradient == .bf16Im2col)
    #expect(scratch.lastInputGradient == bf16Plan.inputGradient)

    let yRounded = referenceConv2d(xr, wr, bias, stride: s, padding: p)
    let yExact = referenceConv2d(x, weight, bias, stride: s, padding: p)
    let yScale = referenceConv2d(absolute(x), absolute(weight), absolute(bias), stride: s, padding: p)
    let (dxRounded, dwRounded) = referenceConv2dGradients(xr, wr, dyr, stride: s, padding: p)
    let (dxExact, dwExact) = referenceConv2dGradients(x, weight, dy, stride: s, padding: p)
    let (dxScale, dwScale) = referenceConv2dGradients(absolute(x), absolute(weight), absolute(dy), stride: s, padding: p)
    let forwardK = c * k * k, inputK = o * k * k, weightK = n * g.outPlane

    #expect(scaledError(y, yRounded, scale: yScale) <= fp32SumBound(reduction: forwardK), "forward \(g)")
    #expect(scaledError(dw, dwRounded, scale: dwScale) <= fp32SumBound(reduction: weightK), "weight gradient \(g)")
    #expect(scaledError(dx, dxRounded, scale: dxScale) <= fp32SumBound(reduction: inputK), "input gradient \(g)")

    for (result, exact, scale, reduction, name) in [(y, yExact, yScale, forwardK, "forward"), (dw, dwExact, dwScale, weightK, "weight gradient"),
                                                    (dx, dxExact, dxScale, inputK, "input gradient")] {
        let error = scaledError(result, exact, scale: scale)
        #expect(error <= bf16ProductBound(reduction: reduction), "\(name) against fp32, \(g)")
        #expect(error > fp32SumBound(reduction: reduction), "\(name): no bf16 rounding visible, \(g)")
    }

    // The other bf16 input gradient at stride 1 (W^T dY and col2im instead of the flipped kernel).
    if flipped {
        var dx2 = Tensor.empty, dw2 = Tensor.empty
        Precision.with(.bf16) {
            Conv2dDispatch.withMethods(ConvolutionMethods(weightGradient: .bf16Im2col, inputGradient: .bf16Im2col)) {
                conv2dBackward(input: x, weight: weight, gradOutput: dy, stride: s, padding: p,
                               gradInput: &dx2, gradWeight: &dw2, scratch: &scratch)
            }
        }
        #expect(scratch.lastInputGradient == .bf16Im2col)
        #expect(scaledError(dx2, dxRounded, scale: dxScale) <= fp32SumBound(reduction: inputK), "col2im input gradient \(g)")
    }
}

/// (N, C, H, W, O, k, padding) for `vectorDirectBF16`: 5x5, 3x3 and 1x1 kernels (odd rows: a
/// lone tap per row), 16 and 32-lane blocks (O a multiple of 32), partial blocks, output rows a
/// tile width divides (28, 16, 8) and rows none does (wide rows), channel counts of 1 and 3.
private let vectorDirectBF16Cases: [(Int, Int, Int, Int, Int, Int, Int)] = [
    (2, 3, 32, 32, 16, 5, 0), (2, 16, 14, 14, 16, 5, 2), (3, 5, 9, 11, 17, 3, 1), (1, 7, 8, 8, 32, 1, 0),
    (2, 1, 13, 10, 64, 3, 1), (1, 18, 7, 6, 33, 5, 1),
]

/// The bf16 direct kernels (`vectorDirectBF16`: taps paired along kernel rows; `broadcastBF16`:
/// pixels paired along output rows; VDPBF16PS): the forward pass, the flipped-kernel input
/// gradient and (3x3, 5x5) the weight gradient against Float64 on the rounded operands (the fp32
/// summation bound) and on the exact ones (bf16's bound, and beyond fp32's).
@Test(.enabled(if: CPUFeatures.enabled.avx512bf16, "this CPU has no AVX512-BF16: the bf16 direct kernel cannot run"),
      arguments: vectorDirectBF16Cases.indices)
func bf16DirectKernelMatchesRoundedReference(_ index: Int) {
    let (n, c, h, w, o, k, p) = vectorDirectBF16Cases[index]
    var rng = SeededGenerator(seed: 12_000 + UInt64(index))
    let x = randomTensor([n, c, h, w], &rng), weight = randomTensor([o, c, k, k], &rng), bias = randomTensor([o], &rng)
    let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: 1, padding: p)
    let dy = randomTensor([n, o, g.outHeight, g.outWidth], &rng)
    var y = Tensor.empty, dx = Tensor.empty, dw = Tensor.empty, scratch = Conv2dScratch()
    let pairedWeightGradient = k == 3 || k == 5
    Precision.with(.bf16) {
        Conv2dDispatch.withMethods(ConvolutionMethods(forward: .vectorDirectBF16,
                                                      weightGradient: pairedWeightGradient ? .broadcastBF16 : .bf16Im2col,
                                                      inputGradient: .flippedKernel(.vectorDirectBF16))) {
            conv2dForward(x, weight: weight, bias: bias, stride: 1, padding: p, into: &y, scratch: &scratch)
            conv2dBackward(input: x, weight: weight, gradOutput: dy, stride: 1, padding: p,
                           gradInput: &dx, gradWeight: &dw, scratch: &scratch)
        }
    }
    #expect(scratch.lastForward == .vectorDirectBF16 && scratch.lastInputGradient == .flippedKernel(.vectorDirectBF16))
    #expect(scratch.lastWeightGradient == (pairedWeightGradient ? .broadcastBF16 : .bf16Im2col))
    expectStride1ConvolutionWithinBF16Bounds(x: x, weight: weight, bias: bias, dy: dy, padding: p, y: y, dx: dx, dw: dw)
}

@Test func precisionIsScopedAndDefaultsToFP32() {
    let g = Conv2dGeometry(input: [2, 32, 16, 16], weight: [64, 32, 5, 5], stride: 1, padding: 2)
    #expect(Precision.current == .fp32)
    #expect(Conv2dDispatch.plan(for: g) == Conv2dDispatch.choose(g, cpu: CPUFeatures.enabled))
    Precision.with(.bf16) {
        #expect(Precision.current == .bf16)
        #expect(Conv2dDispatch.plan(for: g) == Conv2dDispatch.choose(g, cpu: CPUFeatures.enabled, precision: .bf16))
        // An fp32 scope inside a bf16 one (the trainer's evaluations).
        Precision.with(.fp32) { #expect(Precision.current == .fp32) }
        #expect(Precision.current == .bf16)
    }
    #expect(Precision.current == .fp32)
    // The scope reaches the rules: where they give bf16 (no AVX-512), the plan is bf16.
    #expect(Conv2dDispatch.choose(g, cpu: .portable, precision: .bf16).forward == .bf16Im2col)
}

@Test func bf16KeepsFP32WithoutAMX() {
    // Conv2dDispatch.choose: with AVX-512 but no AMX every pass keeps the fp32 plan (measured
    // faster than bf16Im2col on AVX512-BF16), except that with AVX512-BF16 the Winograd forward
    // and input gradient become winogradF2BF16, the Winograd weight gradient its bf16 form, and
    // the vector direct kernel its bf16 form, unless its dot products are slower than fp32 FMAs
    // (fastBF16DotProducts false: the fp32 plan); with AVX2 alone the fp32 plan too (its
    // Winograd and panels beat bf16Im2col there); without AVX2 every pass is bf16Im2col.
    let layer4 = Conv2dGeometry(input: [128, 64, 16, 16], weight: [64, 64, 3, 3], stride: 1, padding: 1)
    let layer1 = Conv2dGeometry(input: [128, 3, 32, 32], weight: [32, 3, 3, 3], stride: 1, padding: 1)
    let seed2 = Conv2dGeometry(input: [128, 16, 28, 28], weight: [16, 16, 5, 5], stride: 1, padding: 0)
    let bf16Everywhere = ConvolutionPlan(forward: .bf16Im2col, weightGradient: .bf16Im2col, inputGradient: .flippedKernel(.bf16Im2col))
    var slowUnit = CPUFeatures(avx512: true, avx512bf16: true)
    slowUnit.fastBF16DotProducts = false
    for cpu in [CPUFeatures(avx2: true), CPUFeatures(avx512: true), CPUFeatures(avx512: true, avx512bf16: true),
                CPUFeatures(avx512: true, avx512bf16: true, amxTile: true), slowUnit] {
        for g in [layer4, layer1, seed2] {
            var expected = Conv2dDispatch.choose(g, cpu: cpu)
            if cpu.avx512bf16 && cpu.fastBF16DotProducts {
                if [.winogradF2, .winogradF4].contains(expected.forward) { expected.forward = .winogradF2BF16 }
                if [.flippedKernel(.winogradF2), .flippedKernel(.winogradF4)].contains(expected.inputGradient) {
                    expected.inputGradient = .flippedKernel(.winogradF2BF16)
                }
                if [.winogradF2, .winogradF4].contains(expected.weightGradient) { expected.weightGradient = .winogradF2BF16 }
                if expected.forward == .vectorDirect { expected.forward = .vectorDirectBF16 }
                if expected.weightGradient == .broadcast { expected.weightGradient = .broadcastBF16 }
                if expected.inputGradient == .flippedKernel(.vectorDirect) { expected.inputGradient = .flippedKernel(.vectorDirectBF16) }
            }
            #expect(Conv2dDispatch.choose(g, cpu: cpu, precision: .bf16) == expected, "\(g) \(cpu)")
        }
        #expect(Conv2dDispatch.choose(layer4, cpu: CPUFeatures(avx512: true, avx512bf16: true), precision: .bf16)
                .forward == .winogradF2BF16)
        // The seed net's 5x5 layer: the bf16 direct kernels in all three passes.
        #expect(Conv2dDispatch.choose(seed2, cpu: CPUFeatures(avx512: true, avx512bf16: true), precision: .bf16)
                == ConvolutionPlan(forward: .vectorDirectBF16, weightGradient: .broadcastBF16, inputGradient: .flippedKernel(.vectorDirectBF16)))
        #expect(Conv2dDispatch.choose(seed2, cpu: CPUFeatures(avx512: true), precision: .bf16)
                == Conv2dDispatch.choose(seed2, cpu: CPUFeatures(avx512: true)))
        #expect(Conv2dDispatch.choose(layer4, cpu: slowUnit, precision: .bf16) == Conv2dDispatch.choose(layer4, cpu: slowUnit))
    }
    // What the layer ran is recorded: VGG layer 4 at batch 2 in bf16 on this machine.
    var rng = SeededGenerator(seed: 13)
    let x = randomTensor([2, 64, 16, 16], &rng), weight = randomTensor([64, 64, 3, 3], &rng)
    var y = Tensor.empty, dx = Tensor.empty, dw = Tensor.empty, scratch = Conv2dScratch()
    Precision.with(.bf16) {
        conv2dForward(x, weight: weight, bias: nil, stride: 1, padding: 1, into: &y, scratch: &scratch)
        conv2dBackward(input: x, weight: weight, gradOutput: y, stride: 1, padding: 1, gradInput: &dx, gradWeight: &dw, scratch: &scratch)
    }
    let chosen = Conv2dDispatch.choose(Conv2dGeometry(input: x.shape, weight: weight.shape, stride: 1, padding: 1),
                                       cpu: CPUFeatures.enabled, precision: .bf16)
    #expect(scratch.lastForward == chosen.forward && scratch.lastWeightGradient == chosen.weightGradient
            && scratch.lastInputGradient == chosen.inputGradient)
    #expect((CPUFeatures.enabled.avx512 || CPUFeatures.enabled.avx2) != (scratch.lastForward == .bf16Im2col)
            || CPUFeatures.enabled.bf16Path == .amx)
    if CPUFeatures.enabled.avx512bf16 && CPUFeatures.enabled.fastBF16DotProducts && CPUFeatures.enabled.bf16Path != .amx {
        #expect(scratch.lastForward == .winogradF2BF16 && scratch.lastInputGradient == .flippedKernel(.winogradF2BF16)
                && scratch.lastWeightGradient == .winogradF2BF16)
    }
    let amx = CPUFeatures(avx512: true, avx512bf16: true, amxTile: true, amxBF16: true)
    // AMX: the tiles' implicit GEMM forward and for the input gradient, the fp32 weight gradient.
    #expect(Conv2dDispatch.choose(layer4, cpu: amx, precision: .bf16)
            == ConvolutionPlan(forward: .amxDirect, weightGradient: Conv2dDispatch.choose(layer4, cpu: amx).weightGradient,
                               inputGradient: .flippedKernel(.amxDirect)))
    #expect(Conv2dDispatch.choose(layer4, cpu: .portable, precision: .bf16) == bf16Everywhere)
}

@Test func columnRowsRoundLikeRoundedToBF16() {
    // The vectorised rounding im2col uses (through a 1x1 convolution the columns are the input)
    // agrees with roundedToBF16 bit for bit, ties and NaN included: checked through the bf16
    // forward of a 1x1 convolution with one unit weight, whose output is the rounded input.
    // (Not -0, whose sign a sum from +0 drops, nor subnormals, which VDPBF16PS flushes to zero.)
    var values: [Float] = [1, 1 + 0x1p-8, 1 + 0x1p-9, 1 + 0x1p-9 + 0x1p-20, 1 + 3 * 0x1p-9, -2.5e-3, 3.0e38, .nan,
                           .infinity, -.infinity, 65504.7, -1 - 0x1p-9]
    var rng = SeededGenerator(seed: 12)
    values += randomTensor([1, 1, 1, 37], &rng, scale: 1000).storage
    let x = Tensor(shape: [1, 1, 1, values.count], storage: values)
    var y = Tensor.empty, scratch = Conv2dScratch()
    // Forced: with AVX-512 but no AMX the dispatch keeps fp32 methods even in bf16.
    Precision.with(.bf16) {
        Conv2dDispatch.withMethods(ConvolutionMethods(forward: .bf16Im2col)) {
            conv2dForward(x, weight: Tensor(shape: [1, 1, 1, 1], storage: [1]), bias: nil, stride: 1, padding: 0,
                          into: &y, scratch: &scratch)
        }
    }
    #expect(scratch.lastForward == .bf16Im2col)
    for (got, value) in zip(y.storage, values) {
        let expected = roundedToBF16(value)
        #expect(got.bitPattern == expected.bitPattern || (got.isNaN && expected.isNaN), "\(value): \(got) vs \(expected)")
    }
}

@Test(arguments: [(1, 1, 1), (3, 7, 5), (4, 37, 10), (9, 130, 17)])
func bf16LinearMatchesRoundedReference(_ sizes: (Int, Int, Int)) {
    let (n, inF, outF) = sizes
    var rng = SeededGenerator(seed: UInt64(12_000 + n * 31 + inF))
    let x = randomTensor([n, inF], &rng), w = randomTensor([outF, inF], &rng), b = randomTensor([outF], &rng)
    let dy = randomTensor([n, outF], &rng)
    var y = Tensor.empty, dx = Tensor.empty, dw = Tensor.empty
    Precision.with(.bf16) {
        linearForward(x, weight: w, bias: b, into: &y)
        linearBackward(input: x, weight: w, gradOutput: dy, gradInput: &dx, gradWeight: &dw)
    }
    // Float64 references: (value on rounded operands, value on exact operands, sum of |terms|).
    func reference(_ count: Int, _ terms: Int, _ term: (Int, Int) -> (Float, Float), bias: (Int) -> Float = { _ in 0 })
        -> (rounded: [Double], exact: [Double], scale: [Double]) {
        var rounded = [Double](), exact = [Double](), scale = [Double]()
        for i in 0..<count {
            var r = Double(bias(i)), e = r, s = abs(r)
            for t in 0..<terms {
                let (a, b) = term(i, t)
                r += Double(roundedToBF16(a)) * Double(roundedToBF16(b))
                e += Double(a) * Double(b)
                s += abs(Double(a) * Double(b))
            }
            rounded.append(r); exact.append(e); scale.append(s)
        }
        return (rounded, exact, scale)
    }
    let forward = reference(n * outF, inF, { i, t in (x[i / outF, t], w[i % outF, t]) }, bias: { b[$0 % outF] })
    let input = reference(n * inF, outF) { i, t in (dy[i / inF, t], w[t, i % inF]) }
    let weight = reference(outF * inF, n) { i, t in (dy[t, i / inF], x[t, i % inF]) }
    for (result, ref, k, name) in [(y, forward, inF, "forward"), (dx, input, outF, "input gradient"), (dw, weight, n, "weight gradient")] {
        var toRounded: Float = 0, toExact: Float = 0
        for i in 0..<result.count {
            let scale = max(ref.scale[i], 1e-30)
            toRounded = max(toRounded, Float(abs(Double(result.storage[i]) - ref.rounded[i]) / scale))
            toExact = max(toExact, Float(abs(Double(result.storage[i]) - ref.exact[i]) / scale))
        }
        #expect(toRounded <= fp32SumBound(reduction: k), "\(name) \(sizes)")
        #expect(toExact <= bf16ProductBound(reduction: k), "\(name) \(sizes)")
    }
}

/// (N, C, H, W, O, k, padding) for `amxDirect`: channel counts short of a 32-channel block (3, 5)
/// and past one (33, 70), output-channel counts short of a tile (7), of two (17, 40) and whole
/// (64), planes whose wide pixels end mid-block (7x7, 9x11, 1x1, 3x3), padding 0/1/2, 1x1 and 5x5
/// kernels, batches split over threads, and a weight gradient summed over several runs.
private let amxDirectCases: [(Int, Int, Int, Int, Int, Int, Int)] = [
    (2, 3, 32, 32, 16, 3, 1), (3, 33, 7, 7, 40, 3, 1), (2, 5, 9, 11, 7, 3, 0), (2, 70, 3, 3, 64, 3, 1),
    (1, 16, 14, 13, 17, 5, 2), (2, 24, 1, 1, 33, 1, 0), (4, 64, 15, 15, 64, 3, 1),
    // A weight gradient over several runs (`AMXWeightGradientRuns` at 64 KiB: two of these images
    // a run, so the threads' 3 and 4 images take runs of 2 + 1 and 2 + 2).
    (7, 16, 20, 20, 16, 3, 1),
]

/// The AMX convolution (`amxDirect`, TDPBF16PS on tiles read from the padded image): the forward
/// pass with a bias, the flipped-kernel input gradient and the weight gradient against Float64 on the rounded
/// operands (the fp32 summation bound) and on the exact ones (bf16's bound, and beyond fp32's).
@Test(.enabled(if: BF16Path.amx.isAvailable && CPUFeatures.enabled.bf16Path == .amx,
               "this CPU has no AMX-BF16 (or the OS refused tile state, or FEATUREMAPS_CPU caps it): the AMX convolution cannot run"),
      arguments: amxDirectCases.indices)
func amxConvolutionMatchesRoundedReference(_ index: Int) {
    let (n, c, h, w, o, k, p) = amxDirectCases[index]
    var rng = SeededGenerator(seed: 13_000 + UInt64(index))
    let x = randomTensor([n, c, h, w], &rng), weight = randomTensor([o, c, k, k], &rng), bias = randomTensor([o], &rng)
    let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: 1, padding: p)
    let dy = randomTensor([n, o, g.outHeight, g.outWidth], &rng)
    var y = Tensor.empty, dx = Tensor.empty, dw = Tensor.empty, scratch = Conv2dScratch()
    let flipped = g.inputGradientIsFlippedConvolution
    Precision.with(.bf16) { AMXWeightGradientRuns.withBytes(64 << 10) {
        Conv2dDispatch.withMethods(ConvolutionMethods(forward: .amxDirect, weightGradient: .amxDirect,
                                                      inputGradient: flipped ? .flippedKernel(.amxDirect) : .bf16Im2col)) {
            conv2dForward(x, weight: weight, bias: bias, stride: 1, padding: p, into: &y, scratch: &scratch)
            conv2dBackward(input: x, weight: weight, gradOutput: dy, stride: 1, padding: p,
                           gradInput: &dx, gradWeight: &dw, scratch: &scratch)
        }
    }}
    #expect(scratch.lastForward == .amxDirect && scratch.lastWeightGradient == .amxDirect)
    #expect(scratch.lastInputGradient == (flipped ? .flippedKernel(.amxDirect) : .bf16Im2col))
    expectStride1ConvolutionWithinBF16Bounds(x: x, weight: weight, bias: bias, dy: dy, padding: p, y: y, dx: dx, dw: dw)
    // Every output written: no NaN from an unwritten element of a reused tensor.
    #expect(y.withUnsafeBufferPointer { $0.allSatisfy(\.isFinite) })
}

/// A stride-1 convolution's bf16 forward pass (with `bias`), input gradient and weight gradient
/// against Float64: on the operands rounded to bf16 within the fp32 summation bound, and on the
/// exact ones within bf16's bound and beyond fp32's (so the rounding did happen; shown where the
/// fp32 bound of the reduction is below bf16's rounding, 2^-9).
func expectStride1ConvolutionWithinBF16Bounds(x: Tensor, weight: Tensor, bias: Tensor, dy: Tensor, padding p: Int,
                                              y: Tensor, dx: Tensor, dw: Tensor,
                                              sourceLocation: SourceLocation = #_sourceLocation) {
    let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: 1, padding: p)
    let (xr, wr, dyr) = (roundedToBF16(x), roundedToBF16(weight), roundedToBF16(dy))
    let yScale = referenceConv2d(absolute(x), absolute(weight), absolute(bias), stride: 1, padding: p)
    let (dxScale, dwScale) = referenceConv2dGradients(absolute(x), absolute(weight), absolute(dy), stride: 1, padding: p)
    let rounded = referenceConv2dGradients(xr, wr, dyr, stride: 1, padding: p)
    let exact = referenceConv2dGradients(x, weight, dy, stride: 1, padding: p)
    let passes: [(String, Tensor, Tensor, Tensor, Tensor, Int)] = [
        ("forward", y, referenceConv2d(xr, wr, bias, stride: 1, padding: p), referenceConv2d(x, weight, bias, stride: 1, padding: p),
         yScale, g.inChannels * g.kernelHeight * g.kernelWidth),
        ("input gradient", dx, rounded.dx, exact.dx, dxScale, g.outChannels * g.kernelHeight * g.kernelWidth),
        ("weight gradient", dw, rounded.dw, exact.dw, dwScale, g.batch * g.outPlane),
    ]
    for (name, value, onRounded, onExact, scale, k) in passes {
        #expect(scaledError(value, onRounded, scale: scale) <= fp32SumBound(reduction: k), "\(name) \(g)",
                sourceLocation: sourceLocation)
        let error = scaledError(value, onExact, scale: scale)
        #expect(error <= bf16ProductBound(reduction: k) && (error > fp32SumBound(reduction: k) || fp32SumBound(reduction: k) > 0x1p-9),
                "\(name) \(g)", sourceLocation: sourceLocation)
    }
}
