import Foundation
import Testing
import Kernels

/// A benchmark, not a test of speed: prints the single-threaded time of the memory-bound ops of a
/// training step (batch norm, ReLU, GELU, either fused into batch norm, max pooling, channel sums) on the VGG and seed nets' shapes
/// at batch 128 and airbench's at batch 256, best of 7. Only runs with KERNELS_BENCH=1:
/// `KERNELS_BENCH=1 swift test -c release --filter memoryBoundOpTimes`.
@Test(.enabled(if: ProcessInfo.processInfo.environment["KERNELS_BENCH"] == "1", "an opt-in benchmark that prints figures: set KERNELS_BENCH=1 to run it"))
func memoryBoundOpTimes() {
    Parallelism.withThreadCount(1, memoryBoundOpTimesSingleThreaded)
}

private func memoryBoundOpTimesSingleThreaded() {
    var rng = SeededGenerator(seed: 1)
    let shapes = [[128, 32, 32, 32], [128, 64, 16, 16], [128, 128, 8, 8], [128, 16, 28, 28], [128, 16, 24, 24],
                  [256, 64, 31, 31], [256, 256, 15, 15], [256, 256, 7, 7], [256, 64, 15, 15]]
    for shape in shapes {
        let c = shape[1]
        let x = randomTensor(shape, &rng), dy = randomTensor(shape, &rng)
        let gamma = randomTensor([c], &rng), beta = randomTensor([c], &rng)
        var runningMean = Tensor(shape: [c]), runningVar = Tensor(shape: [c], repeating: 1)
        var mean = Tensor.empty, invStd = Tensor.empty, y = Tensor.empty, dx = Tensor.empty
        var dGamma = Tensor.empty, dBeta = Tensor.empty, r = Tensor.empty, dr = Tensor.empty
        var pooled = Tensor.empty, argmax: [Int32] = [], dPool = Tensor.empty
        var times: [(String, Double)] = []
        var copy = x
        copy.storage[0] += 1  // its own storage, so the timed copy below does not allocate
        times.append(("copy", bestMilliseconds {
            x.withUnsafeBufferPointer { from in _ = copy.withUnsafeMutableBufferPointer { $0.update(fromContentsOf: from) } }
        }))
        times.append(("bn fwd", bestMilliseconds {
            batchNorm2dForward(x, weight: gamma, bias: beta, eps: 1e-5, momentum: 0.1, training: true,
                               runningMean: &runningMean, runningVar: &runningVar,
                               savedMean: &mean, savedInvStd: &invStd, into: &y)
        }))
        times.append(("bn bwd", bestMilliseconds {
            batchNorm2dBackward(input: x, weight: gamma, savedMean: mean, savedInvStd: invStd, gradOutput: dy,
                                usedBatchStatistics: true, gradInput: &dx, gradWeight: &dGamma, gradBias: &dBeta)
        }))
        times.append(("bn+relu fwd", bestMilliseconds {
            batchNorm2dForward(x, weight: gamma, bias: beta, eps: 1e-5, momentum: 0.1, training: true, applyingReLU: true,
                               runningMean: &runningMean, runningVar: &runningVar,
                               savedMean: &mean, savedInvStd: &invStd, into: &y)
        }))
        times.append(("bn+relu bwd", bestMilliseconds {
            batchNorm2dBackward(input: x, weight: gamma, savedMean: mean, savedInvStd: invStd, gradOutput: dy,
                                usedBatchStatistics: true, reluBias: beta, gradInput: &dx, gradWeight: &dGamma, gradBias: &dBeta)
        }))
        times.append(("bn+gelu fwd", bestMilliseconds {
            batchNorm2dForward(x, weight: gamma, bias: beta, eps: 1e-5, momentum: 0.1, training: true, activation: .gelu,
                               runningMean: &runningMean, runningVar: &runningVar,
                               savedMean: &mean, savedInvStd: &invStd, into: &y)
        }))
        times.append(("bn+gelu bwd", bestMilliseconds {
            batchNorm2dBackward(input: x, weight: gamma, savedMean: mean, savedInvStd: invStd, gradOutput: dy,
                                usedBatchStatistics: true, activation: .gelu, activationBias: beta,
                                gradInput: &dx, gradWeight: &dGamma, gradBias: &dBeta)
        }))
        times.append(("relu fwd", bestMilliseconds { reluForward(x, into: &r) }))
        times.append(("relu bwd", bestMilliseconds { reluBackward(output: r, gradOutput: dy, into: &dr) }))
        times.append(("gelu fwd", bestMilliseconds { geluForward(x, into: &r) }))
        times.append(("gelu bwd", bestMilliseconds { geluBackward(input: x, gradOutput: dy, into: &dr) }))
        times.append(("pool fwd", bestMilliseconds {
            maxPool2dForward(x, kernelSize: 2, stride: 2, into: &pooled, argmax: &argmax)
        }))
        let dPooled = randomTensor(pooled.shape, &rng)
        times.append(("pool bwd", bestMilliseconds {
            maxPool2dBackward(gradOutput: dPooled, argmax: argmax, inputShape: shape, kernelSize: 2, stride: 2, into: &dPool)
        }))
        times.append(("channel sums", bestMilliseconds { conv2dBiasBackward(gradOutput: dy, into: &dBeta) }))
        print("\(shape):", times.map { "\($0.0) \(String(format: "%.2f", $0.1))" }.joined(separator: ", "), "ms")
    }
}
