import Kernels
import Testing

/// The code of Sources/Kernels/Kernels.docc/GettingStarted.md, run as written
/// (`DocumentationExampleTests` checks that the article still shows this code).
@Suite struct KernelsGettingStartedTests {
    @Test func aFewStepsOfGradientDescentLowerTheLoss() {
        var rng = SeededGenerator(seed: 1)
        let net = Sequential(rng: &rng) {
            Conv2d(inChannels: 3, outChannels: 8, kernelSize: 3, padding: 1).named("conv1")
            BatchNorm2d(numFeatures: 8)
            ReLU()
            MaxPool2d(kernelSize: 2)
            Flatten()
            Linear(inFeatures: 8 * 4 * 4, outFeatures: 2).named("fc")
        }

        // Eight 8x8 RGB images: the first four dark, the last four bright.
        var images = Tensor.uniform(shape: [8, 3, 8, 8], in: 0..<0.5, using: &rng)
        images.withUnsafeMutableBufferPointer { pixels in
            for i in pixels.count / 2 ..< pixels.count { pixels[i] += 0.5 }
        }
        let labels = [0, 0, 0, 0, 1, 1, 1, 1]

        let loss = SoftmaxCrossEntropy()
        net.train()
        var losses: [Float] = []
        for _ in 0 ..< 20 {
            losses.append(loss(net(images), labels: labels))
            _ = net.backward(loss.backward())
            for (_, parameter) in net.namedParameters {
                for i in 0 ..< parameter.value.count {
                    parameter.value.storage[i] -= 0.1 * parameter.grad.storage[i]
                }
            }
        }

        net.eval()
        let logits = net(images)   // [8, 2]
        #expect(logits.shape == [8, 2])
        #expect(losses.last! < losses.first! / 2, "loss \(losses.first!) -> \(losses.last!)")
        #expect(net["conv1"] is Conv2d)
    }
}
