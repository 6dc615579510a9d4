import Foundation
import Kernels
import Testing

// Which method runs each convolution (Conv2dDispatch.swift), and that every method, forced,
// computes the same convolution as the plain loops. The rules are checked for both CPU feature
// sets on every machine (`choose` takes the features as an argument); running the AVX-512
// methods needs a CPU that has them.

private let avx512 = CPUFeatures(avx512: true)

/// (C, H, O) of the VGG preset's six 3x3 padding-1 convolutions on 32x32 CIFAR images
/// (Training's ModelZoo.vggSpec: c32 c32 mp2 c64 c64 mp2 c128 c128 mp2).
private let vggLayers = [(3, 32, 32), (32, 32, 32), (32, 16, 64), (64, 16, 64), (64, 8, 128), (128, 8, 128)]

private func vggGeometry(_ layer: Int, batch: Int = 128) -> Conv2dGeometry {
    let (c, h, o) = vggLayers[layer]
    return Conv2dGeometry(input: [batch, c, h, h], weight: [o, c, 3, 3], stride: 1, padding: 1)
}

@Test func vggLayersTakeTheMeasuredMethodsOnAVX512() {
    // Docs/KERNELS.md: F(4x4) runs layer 2 (forward and input gradient), layer 4 (both) and layer
    // 3's input gradient; F(2x2) layer 3's forward and layers 5 and 6; the 3-channel first layer
    // the vector direct kernel. The F(4x4) Winograd weight gradient takes layers 2-6.
    let expected: [(ConvForwardMethod, ConvWeightGradientMethod, ConvForwardMethod)] = [
        (.vectorDirect, .broadcast, .winogradF4),
        (.winogradF4, .winogradF4, .winogradF4),
        (.winogradF2, .winogradF4, .winogradF4),
        (.winogradF4, .winogradF4, .winogradF4),
        (.winogradF2, .winogradF4, .winogradF2),
        (.winogradF2, .winogradF4, .winogradF2),
    ]
    for (layer, (forward, weightGradient, inputGradient)) in expected.enumerated() {
        let plan = Conv2dDispatch.choose(vggGeometry(layer), cpu: avx512)
        #expect(plan == ConvolutionPlan(forward: forward, weightGradient: weightGradient,
                                        inputGradient: .flippedKernel(inputGradient)), "layer \(layer + 1)")
    }
}

@Test func airbenchLayersTakeTheMeasuredMethodsOnAVX512() {
    // Conv2dDispatch.choose's F(4x4) row: airbench's 3x3 convolutions (C, O, plane side) at
    // batch 256 and the fp32 methods measured faster for forward and input gradient; the
    // weight gradient is F(4x4) on all five.
    let expected: [(Int, Int, Int, ConvForwardMethod, ConvForwardMethod)] = [
        (24, 64, 31, .winogradF4, .winogradF4),
        (64, 64, 15, .winogradF4, .winogradF4),
        (64, 256, 15, .winogradF2, .winogradF4),
        (256, 256, 7, .winogradF4, .winogradF4),
        (256, 256, 3, .winogradF2, .winogradF2),
    ]
    for (c, o, side, forward, inputGradient) in expected {
        let g = Conv2dGeometry(input: [256, c, side, side], weight: [o, c, 3, 3], stride: 1, padding: 1)
        #expect(Conv2dDispatch.choose(g, cpu: avx512)
                == ConvolutionPlan(forward: forward, weightGradient: .winogradF4, inputGradient: .flippedKernel(inputGradient)),
                "\(c)->\(o) @\(side)")
    }
}

@Test func vggLayersTakeThePanelsWithoutAVX512() {
    for layer in vggLayers.indices {
        let plan = Conv2dDispatch.choose(vggGeometry(layer), cpu: .portable)
        #expect(plan == ConvolutionPlan(forward: .paddedPanels, weightGradient: .im2col,
                                        inputGradient: .flippedKernel(.paddedPanels)), "layer \(layer + 1)")
    }
}

private let avx2 = CPUFeatures(avx2: true)

@Test func layersTakeTheAVX2KernelsWithoutAVX512() {
    // Without AVX-512, F(4x4) on AVX2 (winograd_avx2.c, winograd_wgrad_avx2.c) for every 3x3
    // padding-1 layer with at least 8 input channels, forward and input gradient, and the weight
    // gradient where AVX-512 takes Winograd (C, O >= 16, C * O >= 512); the 3-channel first layers
    // take the direct row kernels, forward and weight gradient (Conv2dDispatch.choose's AVX2 rows).
    for layer in vggLayers.indices {
        let forward: ConvForwardMethod = layer == 0 ? .rowDirect : .winogradF4
        let weightGradient: ConvWeightGradientMethod = layer == 0 ? .rowDirect : .winogradF4
        #expect(Conv2dDispatch.choose(vggGeometry(layer), cpu: avx2)
                == ConvolutionPlan(forward: forward, weightGradient: weightGradient, inputGradient: .flippedKernel(.winogradF4)),
                "layer \(layer + 1)")
    }
    for (c, o, side) in [(24, 64, 31), (64, 64, 15), (64, 256, 15), (256, 256, 7), (256, 256, 3)] {
        let g = Conv2dGeometry(input: [256, c, side, side], weight: [o, c, 3, 3], stride: 1, padding: 1)
        #expect(Conv2dDispatch.choose(g, cpu: avx2)
                == ConvolutionPlan(forward: .winogradF4, weightGradient: .winogradF4, inputGradient: .flippedKernel(.winogradF4)),
                "\(c)->\(o) @\(side)")
    }
    // Planes of 1 or 2 rows: im2col (AVX-512 takes F(2x2) there, which AVX2 does not have).
    let tiny = Conv2dGeometry(input: [256, 256, 2, 2], weight: [256, 256, 3, 3], stride: 1, padding: 1)
    #expect(Conv2dDispatch.choose(tiny, cpu: avx2).weightGradient == .im2col)
    // Rows past Winograd's row buffer, and the 5x5 kernels of the seed net (24 and 28 wide
    // output rows, all three passes): the direct row kernels. 16-wide rows outside the Winograd
    // shapes, and stride 2: the panels (and im2col for their weight gradients).
    let wide = Conv2dGeometry(input: [1, 8, 3, 513], weight: [9, 8, 3, 3], stride: 1, padding: 1)
    #expect(Conv2dDispatch.choose(wide, cpu: avx2).forward == .rowDirect)
    let seed = Conv2dGeometry(input: [128, 16, 28, 28], weight: [16, 16, 5, 5], stride: 1, padding: 0)
    #expect(Conv2dDispatch.choose(seed, cpu: avx2)
            == ConvolutionPlan(forward: .rowDirect, weightGradient: .rowDirect, inputGradient: .flippedKernel(.rowDirect)))
    #expect(Conv2dDispatch.choose(wide, cpu: avx2).weightGradient == .rowDirect)
    let narrow = Conv2dGeometry(input: [128, 16, 20, 20], weight: [16, 16, 5, 5], stride: 1, padding: 0)
    #expect(Conv2dDispatch.choose(narrow, cpu: avx2).forward == .paddedPanels)
    #expect(Conv2dDispatch.choose(narrow, cpu: avx2).weightGradient == .im2col)
    let strided = Conv2dGeometry(input: [128, 16, 64, 64], weight: [16, 16, 3, 3], stride: 2, padding: 1)
    #expect(Conv2dDispatch.choose(strided, cpu: avx2).forward == .tapPanels)
}

@Test func seedNetTakesTheVectorKernels() {
    // The seed preset: 3 -> 16 and 16 -> 16 channels, 5x5, no padding, on 32x32 then 28x28.
    for (c, h) in [(3, 32), (16, 28)] {
        let g = Conv2dGeometry(input: [128, c, h, h], weight: [16, c, 5, 5], stride: 1, padding: 0)
        #expect(Conv2dDispatch.choose(g, cpu: avx512)
                == ConvolutionPlan(forward: .vectorDirect, weightGradient: .broadcast, inputGradient: .flippedKernel(.vectorDirect)))
        #expect(Conv2dDispatch.choose(g, cpu: .portable)
                == ConvolutionPlan(forward: .paddedPanels, weightGradient: .im2col, inputGradient: .flippedKernel(.paddedPanels)))
    }
}

@Test func explorerPhotoLayersTakeTheDirectLoops() {
    // The explorer's default stack (edges, 3x5, 1x7) on a 300x451 photo, and --color's first
    // layer: 1 to 3 filters on rows of 104 to 449 pixels, on any CPU. CIFAR-sized rows do not.
    let photo = [(1, 300, 451, 2, 3), (2, 149, 224, 3, 5), (3, 72, 110, 1, 7), (3, 300, 451, 2, 3)]
    for (c, h, w, o, k) in photo {
        let g = Conv2dGeometry(input: [1, c, h, w], weight: [o, c, k, k], stride: 1, padding: 0)
        for cpu in [avx512, CPUFeatures.portable] {
            #expect(Conv2dDispatch.choose(g, cpu: cpu).forward == .directLoops, "\(g)")
        }
    }
    let small = Conv2dGeometry(input: [1, 16, 64, 64], weight: [4, 16, 3, 3], stride: 1, padding: 0)
    #expect(Conv2dDispatch.choose(small, cpu: avx512).forward == .vectorDirect)
    let strided = Conv2dGeometry(input: [2, 16, 32, 32], weight: [32, 16, 3, 3], stride: 2, padding: 1)
    #expect(Conv2dDispatch.choose(strided, cpu: avx512)
            == ConvolutionPlan(forward: .tapPanels, weightGradient: .im2col, inputGradient: .im2col))
}

@Test func convolutionsRunThePlanAndRecordIt() {
    // conv2dForward and conv2dBackward take the plan `plan(for:)` gives (the rules on this
    // process's CPU features): a VGG layer and an explorer layer at small sizes.
    var rng = SeededGenerator(seed: 6100)
    for (shape, weightShape) in [([2, 32, 16, 16], [64, 32, 3, 3]), ([1, 1, 30, 120], [2, 1, 3, 3])] {
        let x = randomTensor(shape, &rng), weight = randomTensor(weightShape, &rng)
        let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: 1, padding: 1)
        let plan = Conv2dDispatch.choose(g, cpu: CPUFeatures.enabled)
        #expect(Conv2dDispatch.plan(for: g) == plan)
        var y = Tensor.empty, dx = Tensor.empty, dw = Tensor.empty, scratch = Conv2dScratch()
        conv2dForward(x, weight: weight, bias: nil, stride: 1, padding: 1, into: &y, scratch: &scratch)
        conv2dBackward(input: x, weight: weight, gradOutput: y, stride: 1, padding: 1,
                       gradInput: &dx, gradWeight: &dw, scratch: &scratch)
        #expect(scratch.lastForward == plan.forward)
        #expect(scratch.lastWeightGradient == plan.weightGradient)
        #expect(scratch.lastInputGradient == plan.inputGradient)
    }
}

@Test func theFeatureSwitchLimitsTheDetectedFeatures() {
    // Checked in whichever environment the tests run (.ci/run runs them with FEATUREMAPS_CPU=portable too).
    let level = ProcessInfo.processInfo.environment["FEATUREMAPS_CPU"]
        ?? (ProcessInfo.processInfo.environment["FEATUREMAPS_GEMM_KERNEL"] == "swift" ? "portable" : nil)
    switch level {
    case "portable": #expect(CPUFeatures.enabled == .portable)
    case "avx2": #expect(CPUFeatures.enabled == CPUFeatures(avx2: CPUFeatures.detected.avx2))
    case "avx512": #expect(CPUFeatures.enabled == CPUFeatures(avx2: CPUFeatures.detected.avx2, avx512: CPUFeatures.detected.avx512))
    case nil: #expect(CPUFeatures.enabled == CPUFeatures.detected)
    default: break
    }
    #expect(!CPUFeatures.enabled.avx512 || CPUFeatures.detected.avx512)
    #expect(!CPUFeatures.enabled.avx2 || CPUFeatures.detected.avx2)
}

@Test func forcedMethodsHoldForTheirScopeOnly() {
    let g = vggGeometry(1, batch: 2)
    let chosen = Conv2dDispatch.choose(g, cpu: CPUFeatures.enabled)
    Conv2dDispatch.withMethods(ConvolutionMethods(forward: .tapPanels, weightGradient: .im2col)) {
        let plan = Conv2dDispatch.plan(for: g)
        #expect(plan == ConvolutionPlan(forward: .tapPanels, weightGradient: .im2col, inputGradient: chosen.inputGradient))
        // Another thread, running meanwhile, is not in the scope.
        nonisolated(unsafe) var elsewhere: ConvolutionPlan?
        let done = DispatchSemaphore(value: 0)
        Thread { elsewhere = Conv2dDispatch.plan(for: g); done.signal() }.start()
        done.wait()
        #expect(elsewhere == chosen)
    }
    #expect(Conv2dDispatch.plan(for: g) == chosen)
}

/// (N, C, H, W, O, k, padding) at stride 1: Winograd's 3x3 padding-1 shapes (partial tiles, 3
/// and 8 channels, widths that take F(2x2) and F(4x4)), a 5x5 and a 1x1 kernel, and padding 2.
private let methodCases: [(Int, Int, Int, Int, Int, Int, Int)] = [
    (2, 8, 7, 9, 5, 3, 1), (1, 16, 17, 34, 24, 3, 1), (2, 3, 6, 5, 20, 3, 1), (1, 64, 8, 8, 16, 3, 1),
    (2, 4, 9, 11, 17, 5, 2), (3, 5, 6, 7, 33, 1, 0), (2, 6, 8, 7, 16, 3, 2),
]

private func methodCase(_ index: Int, seed: UInt64) -> (x: Tensor, weight: Tensor, bias: Tensor, g: Conv2dGeometry) {
    let (n, c, h, w, o, k, p) = methodCases[index]
    var rng = SeededGenerator(seed: seed + UInt64(index))
    let x = randomTensor([n, c, h, w], &rng), weight = randomTensor([o, c, k, k], &rng)
    return (x, weight, randomTensor([o], &rng), Conv2dGeometry(input: x.shape, weight: weight.shape, stride: 1, padding: p))
}

/// Runs every forward method that `cpu` allows on every case and returns how many cases each ran.
private func checkForwardMethods(_ methods: [ConvForwardMethod]) -> [ConvForwardMethod: Int] {
    var ran: [ConvForwardMethod: Int] = [:]
    for index in methodCases.indices {
        let (x, weight, bias, g) = methodCase(index, seed: 6200)
        let expected = referenceConv2d(x, weight, bias, stride: 1, padding: g.padding)
        let scale = referenceConv2d(absolute(x), absolute(weight), absolute(bias), stride: 1, padding: g.padding)
        for method in methods where Conv2dDispatch.supports(method, g, cpu: CPUFeatures.enabled) {
            let y = conv2d(x, weight: weight, bias: bias, stride: 1, padding: g.padding, by: method)
            #expect(scaledError(y, expected, scale: scale) < winogradRelativeTolerance, "\(method) on \(g)")
            ran[method, default: 0] += 1
        }
    }
    return ran
}

@Test func everyPortableForwardMethodMatchesTheDefinition() {
    let ran = checkForwardMethods([.directLoops, .paddedPanels, .tapPanels])
    #expect(ran == [.directLoops: methodCases.count, .paddedPanels: methodCases.count, .tapPanels: methodCases.count])
}

@Test(.enabled(if: CPUFeatures.enabled.avx512, "the AVX-512 methods need a CPU with AVX-512 (and FEATUREMAPS_CPU not portable)"))
func everyAVX512ForwardMethodMatchesTheDefinition() {
    let ran = checkForwardMethods([.winogradF2, .winogradF4, .vectorDirect])
    #expect(ran == [.winogradF2: 4, .winogradF4: 4, .vectorDirect: methodCases.count])
}

@Test(.enabled(if: CPUFeatures.enabled.avx2 && !CPUFeatures.enabled.avx512,
               "the AVX2 Winograd kernels run where AVX2 is the widest level: an AVX2-only CPU, or FEATUREMAPS_CPU=avx2"))
func everyAVX2MethodMatchesTheDefinition() {
    // winograd_avx2.c's F(4x4), forward and as the flipped-kernel input gradient, and
    // winograd_wgrad_avx2.c's F(4x4) weight gradient, on the cases
    // with a 3x3 padding-1 kernel (partial tiles, 3, 8, 16 and 64 channels; the narrow-plane
    // gathers and the 34-wide rows).
    // conv_rows_avx2.c's direct kernel (rowDirect) likewise, on every case.
    #expect(checkForwardMethods([.winogradF4, .rowDirect]) == [.winogradF4: 4, .rowDirect: methodCases.count])
    // Weight gradients: im2col, F(4x4) (3x3 padding-1 cases only) and the direct row kernel
    // (conv_rows_avx2.c's fm_conv_wgrad_rows_avx2: every case, kernels 1 to 5 wide, rows of 5 to
    // 34 pixels) with each input method its case allows (F(4x4): 3x3 padding 1; rowDirect: every
    // case here, all stride 1 with padding <= k - 1; im2col: with the im2col weight gradient only).
    let runs = checkGradientMethods(weight: [.im2col, .winogradF4, .rowDirect],
                                    input: [.im2col, .flippedKernel(.winogradF4), .flippedKernel(.rowDirect)])
    let winogradCases = 4, others = methodCases.count - winogradCases
    // im2col: 3 inputs on the Winograd cases, 2 elsewhere; F(4x4): 2 (Winograd cases only);
    // rowDirect: the same 2 on the Winograd cases, 1 (flipped rowDirect) elsewhere.
    #expect(runs == others * 2 + winogradCases * 5 + others * 1 + winogradCases * 2)
}

/// Runs every gradient method that `cpu` allows on every case against the plain-loop gradients.
private func checkGradientMethods(weight weightMethods: [ConvWeightGradientMethod],
                                  input inputMethods: [ConvInputGradientMethod]) -> Int {
    var runs = 0
    for index in methodCases.indices {
        let (x, weight, _, g) = methodCase(index, seed: 6300)
        var rng = SeededGenerator(seed: 6400 + UInt64(index))
        let dy = randomTensor([g.batch, g.outChannels, g.outHeight, g.outWidth], &rng)
        let (dxExpected, dwExpected) = referenceConv2dGradients(x, weight, dy, stride: 1, padding: g.padding)
        let (dxScale, _) = referenceConv2dGradients(absolute(x), absolute(weight), absolute(dy), stride: 1, padding: g.padding)
        let largest = dwExpected.storage.map { abs($0) }.max() ?? 0
        let cpu = CPUFeatures.enabled
        for w in weightMethods where Conv2dDispatch.supports(w, g, cpu: cpu) {
            for i in inputMethods where Conv2dDispatch.supports(i, g, cpu: cpu) && (i != .im2col || w == .im2col) {
                var dx = Tensor.empty, dw = Tensor.empty, scratch = Conv2dScratch()
                Conv2dDispatch.withMethods(ConvolutionMethods(weightGradient: w, inputGradient: i)) {
                    conv2dBackward(input: x, weight: weight, gradOutput: dy, stride: 1, padding: g.padding,
                                   gradInput: &dx, gradWeight: &dw, scratch: &scratch)
                }
                #expect(scratch.lastWeightGradient == w && scratch.lastInputGradient == i)
                // Weight gradient: the Winograd weight-gradient tests' bounds (1e-5 of the largest
                // entry, 1e-4 for F(4x4)).
                #expect(maxAbsDifference(dw, dwExpected) <= (w == .winogradF4 ? 1e-4 : 1e-5) * largest, "\(w) on \(g)")
                #expect(scaledError(dx, dxExpected, scale: dxScale) < winogradRelativeTolerance, "\(i) on \(g)")
                runs += 1
            }
        }
    }
    return runs
}

@Test func everyPortableGradientMethodMatchesTheDefinition() {
    let runs = checkGradientMethods(weight: [.im2col],
                                    input: [.im2col, .flippedKernel(.directLoops), .flippedKernel(.paddedPanels),
                                            .flippedKernel(.tapPanels)])
    #expect(runs == 4 * methodCases.count)
}

@Test(.enabled(if: CPUFeatures.enabled.avx512, "the AVX-512 methods need a CPU with AVX-512 (and FEATUREMAPS_CPU not portable)"))
func everyAVX512GradientMethodMatchesTheDefinition() {
    let runs = checkGradientMethods(weight: [.winogradF2, .winogradF4, .broadcast, .vectorDot],
                                    input: [.flippedKernel(.winogradF2), .flippedKernel(.winogradF4),
                                            .flippedKernel(.vectorDirect)])
    // Each weight method its case allows (Winograd F(2x2), F(4x4): 3x3 padding 1; broadcast: 3x3 and 5x5;
    // vectorDot: all) with each input method it allows (Winograd F(2x2), F(4x4): 3x3 padding 1;
    // vectorDirect: all).
    let expected = methodCases.reduce(0) { total, c in
        let winograd = c.5 == 3 && c.6 == 1
        let weights = (winograd ? 2 : 0) + (c.5 == 3 || c.5 == 5 ? 1 : 0) + 1
        return total + weights * (winograd ? 3 : 1)
    }
    #expect(runs == expected)
}
