import Foundation
import Kernels
import Testing

/// A benchmark, not a test of speed: each of the airbench net's 3x3 convolution shapes at batch
/// 256 in bf16, by every method that can run it on this CPU, one thread, best of 7 in thread CPU
/// time (so other jobs on a shared machine do not count): the measurements behind the rows of
/// `Conv2dDispatch.choose`. Only runs with KERNELS_BENCH=1:
/// `KERNELS_BENCH=1 swift test -c release --filter airbenchConvolutionMethodTimes`.
@Test(.enabled(if: ProcessInfo.processInfo.environment["KERNELS_BENCH"] == "1", "an opt-in benchmark that prints figures: set KERNELS_BENCH=1 to run it"))
func airbenchConvolutionMethodTimes() {
    convolutionMethodTimes("airbench", [(24, 64, 31), (64, 64, 15), (64, 256, 15), (256, 256, 7), (256, 256, 3)], batch: 256)
}

/// The same for the VGG preset's 3x3 layers 2-6 at batch 128:
/// `KERNELS_BENCH=1 swift test -c release --filter vggConvolutionMethodTimes`.
@Test(.enabled(if: ProcessInfo.processInfo.environment["KERNELS_BENCH"] == "1", "an opt-in benchmark that prints figures: set KERNELS_BENCH=1 to run it"))
func vggConvolutionMethodTimes() {
    convolutionMethodTimes("vgg", [(32, 32, 32), (32, 64, 16), (64, 64, 16), (64, 128, 8), (128, 128, 8)], batch: 128)
}

/// The same for the notebook's net's two 5x5 layers (no padding) at batch 128, and the other
/// layers no Winograd method takes: VGG's 3-channel first layer (batch 128) and airbench's 2x2
/// whitening convolution (batch 256):
/// `KERNELS_BENCH=1 swift test -c release --filter otherConvolutionMethodTimes`.
@Test(.enabled(if: ProcessInfo.processInfo.environment["KERNELS_BENCH"] == "1", "an opt-in benchmark that prints figures: set KERNELS_BENCH=1 to run it"))
func otherConvolutionMethodTimes() {
    convolutionMethodTimes("seed", [(3, 16, 32), (16, 16, 28)], batch: 128, kernel: 5, padding: 0)
    convolutionMethodTimes("vgg", [(3, 32, 32)], batch: 128)
    convolutionMethodTimes("airbench whitening", [(3, 24, 32)], batch: 256, kernel: 2, padding: 0)
}

/// Prints, for each (C, O, side), every method's forward, weight-gradient and input-gradient time.
private func convolutionMethodTimes(_ net: String, _ shapes: [(Int, Int, Int)], batch: Int, kernel k: Int = 3,
                                    padding p: Int = 1) {
    Parallelism.withThreadCount(1) {
        Precision.with(.bf16) {
            var rng = SeededGenerator(seed: 5)
            for (c, o, side) in shapes {
                let x = randomTensor([batch, c, side, side], &rng), weight = randomTensor([o, c, k, k], &rng)
                let out = side + 2 * p - k + 1
                let dy = randomTensor([batch, o, out, out], &rng)
                let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: 1, padding: p)
                let chosen = Conv2dDispatch.plan(for: g)
                let cpu = CPUFeatures.enabled
                var y = Tensor.empty, dx = Tensor.empty, dw = Tensor.empty, scratch = Conv2dScratch()
                var line = "\(net) \(c)->\(o) \(side)x\(side):"
                for method in [ConvForwardMethod.winogradF2BF16, .winogradF2, .winogradF4, .vectorDirect, .rowDirect, .paddedPanels, .bf16Im2col, .amxDirect]
                where Conv2dDispatch.supports(method, g, cpu: cpu) {
                    let ms = bestThreadCPUMilliseconds {
                        Conv2dDispatch.withMethods(ConvolutionMethods(forward: method)) {
                            conv2dForward(x, weight: weight, bias: nil, stride: 1, padding: p, into: &y, scratch: &scratch)
                        }
                    }
                    line += String(format: " forward %@ %.1f ms%@;", method.rawValue, ms, method == chosen.forward ? " (chosen)" : "")
                }
                for method in [ConvWeightGradientMethod.winogradF2BF16, .winogradF2, .winogradF4, .broadcast, .im2col, .bf16Im2col, .amxDirect]
                where Conv2dDispatch.supports(method, g, cpu: cpu) {
                    let ms = bestThreadCPUMilliseconds {
                        Conv2dDispatch.withMethods(ConvolutionMethods(weightGradient: method)) {
                            conv2dBackward(input: x, weight: weight, gradOutput: dy, stride: 1, padding: p, gradInput: &dx,
                                           gradWeight: &dw, computeGradInput: false, scratch: &scratch)
                        }
                    }
                    line += String(format: " weight gradient %@ %.1f ms%@;", "\(method)", ms, method == chosen.weightGradient ? " (chosen)" : "")
                }
                for forward in [ConvForwardMethod.winogradF2BF16, .winogradF2, .winogradF4, .vectorDirect, .rowDirect, .paddedPanels, .bf16Im2col, .amxDirect] {
                    let method = ConvInputGradientMethod.flippedKernel(forward)
                    guard Conv2dDispatch.supports(method, g, cpu: cpu) else { continue }
                    // The input gradient alone: the frozen-weight form of the backward pass.
                    let ms = bestThreadCPUMilliseconds {
                        Conv2dDispatch.withMethods(ConvolutionMethods(inputGradient: method)) {
                            conv2dBackward(input: x, weight: weight, gradOutput: dy, stride: 1, padding: p, gradInput: &dx,
                                           gradWeight: &dw, computeGradWeight: false, scratch: &scratch)
                        }
                    }
                    line += String(format: " input gradient %@ %.1f ms%@;", forward.rawValue, ms, method == chosen.inputGradient ? " (chosen)" : "")
                }
                print(line)
            }
        }
    }
}
