import Foundation
import Testing
import Kernels

/// A benchmark, not a test of speed: prints the time of the direct loops and the panel GEMM on
/// explorer- and CIFAR-sized shapes (Docs/KERNELS.md), single-threaded, best of 7. Only runs with
/// KERNELS_BENCH=1: `KERNELS_BENCH=1 swift test -c release --filter conv2dDirectVersusIm2colTimes`.
@Test(.enabled(if: ProcessInfo.processInfo.environment["KERNELS_BENCH"] == "1", "an opt-in benchmark that prints figures: set KERNELS_BENCH=1 to run it"))
func conv2dDirectVersusIm2colTimes() {
    Parallelism.withThreadCount(1, conv2dDirectVersusIm2colTimesSingleThreaded)
}

private func conv2dDirectVersusIm2colTimesSingleThreaded() {
    var rng = SeededGenerator(seed: 1)
    // (N, C, H, W, O, k): the explorer's default stack on a 300x451 photo, then more filters,
    // more channels, and CIFAR-sized maps.
    let cases = [(1, 1, 300, 451, 2, 3), (1, 2, 149, 224, 3, 5), (1, 3, 72, 110, 1, 7), (1, 3, 300, 451, 3, 3),
                 (1, 3, 300, 451, 8, 3), (1, 3, 300, 451, 16, 3), (1, 16, 150, 225, 8, 3), (1, 16, 150, 225, 16, 3),
                 (1, 8, 300, 451, 8, 5), (1, 16, 64, 64, 4, 3), (32, 3, 32, 32, 4, 5)]
    for (n, c, h, w, o, k) in cases {
        let x = randomTensor([n, c, h, w], &rng), weight = randomTensor([o, c, k, k], &rng)
        var direct = Tensor.empty, viaGEMM = Tensor.empty, scratch = Conv2dScratch()
        let directMs = bestMilliseconds {
            direct = conv2d(x, weight: weight, bias: nil, stride: 1, padding: 0, by: .directLoops, scratch: &scratch)
        }
        let im2colMs = bestMilliseconds {
            viaGEMM = conv2d(x, weight: weight, bias: nil, stride: 1, padding: 0, by: .paddedPanels, scratch: &scratch)
        }
        #expect(maxAbsDifference(direct, viaGEMM) < 1e-4)
        print("conv N\(n) C\(c) \(h)x\(w) O\(o) k\(k): direct \(String(format: "%.2f", directMs)) ms, panel GEMM \(String(format: "%.2f", im2colMs)) ms")
    }
}

/// A benchmark: the VGG net's 3x3 padding-1 convolutions at batch 128 through `conv2dForward`
/// (the Winograd path on AVX-512 where Conv2dWinograd.swift takes them), forward shapes and the
/// input gradients' (channels swapped), single-threaded, best of 7 in thread CPU time (the
/// machine is shared, and wall time counts the other jobs' slices). Only runs with
/// KERNELS_BENCH=1: `KERNELS_BENCH=1 swift test -c release --filter vggConvolutionTimes`.
@Test(.enabled(if: ProcessInfo.processInfo.environment["KERNELS_BENCH"] == "1", "an opt-in benchmark that prints figures: set KERNELS_BENCH=1 to run it"))
func vggConvolutionTimes() {
    Parallelism.withThreadCount(1, vggConvolutionTimesSingleThreaded)
}

private func vggConvolutionTimesSingleThreaded() {
    var rng = SeededGenerator(seed: 2)
    // (C, H, O): layers 2-6 forward, then their input gradients as convolutions.
    let cases = [(32, 32, 32), (32, 16, 64), (64, 16, 64), (64, 8, 128), (128, 8, 128),
                 (64, 16, 32), (128, 8, 64)]
    var scratch = Conv2dScratch()
    for (c, h, o) in cases {
        let x = randomTensor([128, c, h, h], &rng), weight = randomTensor([o, c, 3, 3], &rng)
        var y = Tensor.empty
        let ms = bestThreadCPUMilliseconds {
            conv2dForward(x, weight: weight, bias: nil, stride: 1, padding: 1, into: &y, scratch: &scratch)
        }
        let gflops = 2.0 * 128 * Double(c * o * h * h * 9) / (ms * 1e6)
        print("vgg conv C\(c) \(h)x\(h) O\(o): \(String(format: "%.2f", ms)) ms, \(String(format: "%.0f", gflops)) direct-equivalent GFLOP/s")
    }
}

/// The best of 7 calls of `body` (after one untimed warm-up) in this thread's CPU time, in milliseconds.
func bestThreadCPUMilliseconds(_ body: () -> Void) -> Double {
    func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) * 1e3 + Double(t.tv_nsec) / 1e6
    }
    body()
    var best = Double.infinity
    for _ in 0..<7 {
        let start = now()
        body()
        best = min(best, now() - start)
    }
    return best
}

/// A benchmark: one VGG layer (64 -> 64 channels, 16x16, batch 128: layer 4) forward and backward
/// (weight and input gradients) with the methods the dispatch picks in fp32 and with the bf16
/// im2col methods forced (bf16Im2col; without AMX the dispatch takes fp32 and bf16 Winograd), at the calling
/// scope's thread count, best of 7 wall-clock runs (the measurement behind Conv2dDispatch.choose's bf16 rule).
/// Only runs with KERNELS_BENCH=1: `KERNELS_BENCH=1 swift test -c release --filter vggLayerBF16VersusFP32Times`.
@Test(.enabled(if: ProcessInfo.processInfo.environment["KERNELS_BENCH"] == "1", "an opt-in benchmark that prints figures: set KERNELS_BENCH=1 to run it"))
func vggLayerBF16VersusFP32Times() {
    var rng = SeededGenerator(seed: 3)
    let x = randomTensor([128, 64, 16, 16], &rng), weight = randomTensor([64, 64, 3, 3], &rng)
    let dy = randomTensor([128, 64, 16, 16], &rng)
    for precision in Precision.allCases {
        var y = Tensor.empty, dx = Tensor.empty, dw = Tensor.empty, scratch = Conv2dScratch()
        let methods = precision == .bf16
            ? ConvolutionMethods(forward: .bf16Im2col, weightGradient: .bf16Im2col, inputGradient: .flippedKernel(.bf16Im2col))
            : ConvolutionMethods()
        Precision.with(precision) { Conv2dDispatch.withMethods(methods) {
            let forwardMs = bestMilliseconds {
                conv2dForward(x, weight: weight, bias: nil, stride: 1, padding: 1, into: &y, scratch: &scratch)
            }
            let backwardMs = bestMilliseconds {
                conv2dBackward(input: x, weight: weight, gradOutput: dy, stride: 1, padding: 1,
                               gradInput: &dx, gradWeight: &dw, scratch: &scratch)
            }
            print("VGG layer 4 \(precision): forward \(String(format: "%.1f", forwardMs)) ms (\(scratch.lastForward!)), "
                  + "backward \(String(format: "%.1f", backwardMs)) ms (\(scratch.lastWeightGradient!), \(scratch.lastInputGradient!)), "
                  + "\(Parallelism.threadCount) threads")
        }}
    }
}
