import Foundation
import Testing
import Kernels
import Training
#if canImport(Glibc)
import Glibc
#endif

/// A benchmark, not a test of speed: the airbench net's training step at batch 256, layer by
/// layer (forward and backward, best of 3 in thread CPU time on one thread, so other jobs on a
/// shared machine do not count), with the convolution methods `Conv2dDispatch.choose` takes for
/// each convolution. Only runs with KERNELS_BENCH=1:
/// `KERNELS_BENCH=1 swift test -c release --filter airbenchLayerTimes`.
@Test(.enabled(if: ProcessInfo.processInfo.environment["KERNELS_BENCH"] == "1", "an opt-in benchmark that prints figures: set KERNELS_BENCH=1 to run it"))
func airbenchLayerTimes() {
    Parallelism.withThreadCount(1) {
        let net = ModelZoo.airbench(seed: 1)
        var rng = SeededGenerator(seed: 7)
        let batch = 256
        let x = Tensor.normal(shape: [batch, 3, 32, 32], std: 1, using: &rng)
        // The layers in forward order, groups opened up, each with its name.
        var layers = [(name: String, layer: any Layer)]()
        for (name, layer) in net.children {
            if let group = layer as? ConvGroup {
                layers += group.forwardOrder.map { ("\(name).\($0.name)", $0.layer) }
            } else {
                layers.append((name, layer))
            }
        }
        func threadSeconds() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
        }
        var forward = [Double](repeating: .infinity, count: layers.count)
        var backward = forward
        var inputs = [Tensor](repeating: .empty, count: layers.count)
        for _ in 0 ..< 3 {
            var h = x
            for (i, entry) in layers.enumerated() {
                inputs[i] = h
                let t0 = threadSeconds()
                h = entry.layer(h)
                forward[i] = min(forward[i], threadSeconds() - t0)
            }
            var g = Tensor(shape: h.shape, repeating: 0.01)
            for (i, entry) in layers.enumerated().reversed() {
                let t0 = threadSeconds()
                g = entry.layer.backward(g)
                backward[i] = min(backward[i], threadSeconds() - t0)
            }
        }
        for (i, entry) in layers.enumerated() {
            var plan = ""
            if let conv = entry.layer as? Conv2d {
                let g = Conv2dGeometry(input: inputs[i].shape, weight: conv.weight.value.shape, stride: conv.stride, padding: conv.padding)
                let p = Conv2dDispatch.choose(g, cpu: CPUFeatures.enabled)
                plan = " \(inputs[i].shape) forward \(p.forward), weight gradient \(p.weightGradient), input gradient \(p.inputGradient)"
            }
            print(String(format: "airbench %-10@ forward %7.1f ms, backward %7.1f ms", entry.name as NSString, forward[i] * 1e3, backward[i] * 1e3) + plan)
        }
        let total = forward.reduce(0, +) + backward.reduce(0, +)
        print(String(format: "airbench batch %d, one thread: %.0f ms a step (layers only), %.0f images/s", batch, total * 1e3, Double(batch) / total))
    }
}
