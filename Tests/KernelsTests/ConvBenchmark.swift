import Foundation
import Testing
import Kernels

/// A benchmark, not a test of speed: prints the time of the direct and im2col convolutions on
/// explorer- and CIFAR-sized shapes (Docs/KERNELS.md), single-threaded, best of 7. Only runs with
/// KERNELS_BENCH=1: `KERNELS_BENCH=1 swift test -c release --filter conv2dDirectVersusIm2colTimes`.
@Test(.enabled(if: ProcessInfo.processInfo.environment["KERNELS_BENCH"] == "1"))
func conv2dDirectVersusIm2colTimes() {
    Parallelism.threadCount = 1
    defer { Parallelism.threadCount = ProcessInfoCores.active }
    var rng = SeededGenerator(seed: 1)
    // (N, C, H, W, O, k): the explorer's default stack on a 300x451 photo, then more filters,
    // more channels, and CIFAR-sized maps.
    let cases = [(1, 1, 300, 451, 2, 3), (1, 2, 149, 224, 3, 5), (1, 3, 72, 110, 1, 7), (1, 3, 300, 451, 3, 3),
                 (1, 3, 300, 451, 8, 3), (1, 3, 300, 451, 16, 3), (1, 16, 150, 225, 8, 3), (1, 16, 150, 225, 16, 3),
                 (1, 8, 300, 451, 8, 5), (1, 16, 64, 64, 4, 3), (32, 3, 32, 32, 4, 5)]
    for (n, c, h, w, o, k) in cases {
        let x = randomTensor([n, c, h, w], &rng), weight = randomTensor([o, c, k, k], &rng)
        var direct = Tensor.empty, viaGEMM = Tensor.empty
        let directMs = bestMilliseconds { conv2dDirect(x, weight: weight, bias: nil, stride: 1, padding: 0, into: &direct) }
        var scratch = Conv2dScratch()
        let im2colMs = bestMilliseconds {
            conv2dGEMMForward(x, weight: weight, bias: nil, stride: 1, padding: 0, into: &viaGEMM, scratch: &scratch)
        }
        #expect(maxAbsDifference(direct, viaGEMM) < 1e-4)
        print("conv N\(n) C\(c) \(h)x\(w) O\(o) k\(k): direct \(String(format: "%.2f", directMs)) ms, im2col+GEMM \(String(format: "%.2f", im2colMs)) ms")
    }
}
