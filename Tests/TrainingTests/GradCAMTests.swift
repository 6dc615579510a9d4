import Foundation
import Kernels
import Testing
import Training

/// A tiny classifier, conv 3x3 (pad 1) -> [batch norm] -> ReLU -> global average pool -> linear,
/// with random weights (and random batch-norm statistics), and the same network in Float64 loops.
private struct TinyNet {
    let classifier: Classifier
    let withBatchNorm: Bool
    let channels = 4, classes = 10
    let w: [Double], b: [Double], fw: [Double], fb: [Double]
    let gamma: [Double], beta: [Double], mean: [Double], variance: [Double]

    init(withBatchNorm: Bool, seed: UInt64) throws {
        self.withBatchNorm = withBatchNorm
        classifier = try Classifier(architecture: withBatchNorm ? "c4k3p1,bn,relu,gap,fc10" : "c4k3p1,relu,gap,fc10", seed: seed)
        var rng = SeededGenerator(seed: seed + 100)
        let params = Dictionary(uniqueKeysWithValues: classifier.network.namedParameters.map { ($0.name, $0.parameter) })
        func values(_ name: String) -> [Double] { params[name]!.value.storage.map(Double.init) }
        let fc = withBatchNorm ? "4" : "3"
        (w, b, fw, fb) = (values("0.weight"), values("0.bias"), values("\(fc).weight"), values("\(fc).bias"))
        if withBatchNorm {
            params["1.weight"]!.value = Tensor.uniform(shape: [4], in: 0.5..<1.5, using: &rng)
            params["1.bias"]!.value = Tensor.uniform(shape: [4], in: -0.2..<0.2, using: &rng)
            classifier.network.setBuffer(named: "1.running_mean", to: Tensor.uniform(shape: [4], in: -0.1..<0.1, using: &rng))
            classifier.network.setBuffer(named: "1.running_var", to: Tensor.uniform(shape: [4], in: 0.5..<2, using: &rng))
            let buffers = Dictionary(uniqueKeysWithValues: classifier.network.namedBuffers.map { ($0.name, $0.tensor) })
            (gamma, beta) = (values("1.weight"), values("1.bias"))
            (mean, variance) = (buffers["1.running_mean"]!.storage.map(Double.init), buffers["1.running_var"]!.storage.map(Double.init))
        } else {
            (gamma, beta, mean, variance) = ([1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1])
        }
        classifier.network.training = false
    }

    /// The module names of the conv's (batch norm's) and the ReLU's outputs.
    var convLayer: String { withBatchNorm ? "1" : "0" }
    var reluLayer: String { withBatchNorm ? "2" : "1" }

    /// Float64 forward of x [3, h, w]: the (batch-normed) conv output z, the ReLU output a, the logits.
    func forward(_ x: [Double], h: Int, w width: Int) -> (z: [Double], a: [Double], logits: [Double]) {
        let plane = h * width
        var z = [Double](repeating: 0, count: channels * plane)
        for k in 0 ..< channels {
            for i in 0 ..< h {
                for j in 0 ..< width {
                    var sum = b[k]
                    for c in 0 ..< 3 {
                        for u in 0 ..< 3 {
                            for v in 0 ..< 3 {
                                let (y, x0) = (i + u - 1, j + v - 1)
                                if y >= 0 && y < h && x0 >= 0 && x0 < width {
                                    sum += w[((k * 3 + c) * 3 + u) * 3 + v] * x[(c * h + y) * width + x0]
                                }
                            }
                        }
                    }
                    z[k * plane + i * width + j] = withBatchNorm
                        ? gamma[k] * (sum - mean[k]) / (variance[k] + 1e-5).squareRoot() + beta[k] : sum
                }
            }
        }
        let a = z.map { max($0, 0) }
        let pooled = (0 ..< channels).map { k in a[k * plane ..< (k + 1) * plane].reduce(0, +) / Double(plane) }
        let logits = (0 ..< classes).map { o in fb[o] + (0 ..< channels).reduce(0) { $0 + fw[o * channels + $1] * pooled[$1] } }
        return (z, a, logits)
    }

    /// Grad-CAM of class `o` by hand: dy_o/da = fw[o, k] / plane; at the ReLU's output A = a,
    /// at the conv's (batch norm's) output A = z with the gradient masked by z > 0.
    func referenceCAM(_ x: [Double], h: Int, w width: Int, of o: Int, atReLU: Bool) -> [Double] {
        let (z, a, _) = forward(x, h: h, w: width)
        let plane = h * width
        var cam = [Double](repeating: 0, count: plane)
        for k in 0 ..< channels {
            var alpha = 0.0
            for i in 0 ..< plane { alpha += atReLU || z[k * plane + i] > 0 ? fw[o * channels + k] / Double(plane) : 0 }
            alpha /= Double(plane)
            for i in 0 ..< plane { cam[i] += alpha * (atReLU ? a : z)[k * plane + i] }
        }
        return cam.map { max($0, 0) }
    }
}

private func randomImage(h: Int, w: Int, seed: UInt64) -> Tensor {
    var rng = SeededGenerator(seed: seed)
    return Tensor.uniform(shape: [1, 3, h, w], in: -1.5..<1.5, using: &rng)
}

@Suite struct GradCAMTests {
    /// Grad-CAM through the kernels' backward equals the Float64 loops, at the ReLU's output and at
    /// the conv's (batch norm's) output, for every class at once; the network is left as it was.
    @Test(arguments: [false, true])
    func gradCAMMatchesAFloat64Reference(withBatchNorm: Bool) throws {
        let net = try TinyNet(withBatchNorm: withBatchNorm, seed: withBatchNorm ? 5 : 4)
        let (h, w) = (12, 10)
        let x = randomImage(h: h, w: w, seed: 9)
        let before = net.classifier.probabilities(x)
        let buffers = net.classifier.network.namedBuffers.map(\.tensor)
        for atReLU in [true, false] {
            let classes = [3, 7, 0, 1, 2, 4, 5, 6, 8, 9]
            let result = try net.classifier.gradCAM(for: x, classes: classes, layer: atReLU ? net.reluLayer : net.convLayer)
            #expect(result.activationShape == [4, h, w] && result.maps.count == 10)
            var nonZero = 0
            for (row, o) in classes.enumerated() {
                let reference = net.referenceCAM(x.storage.map(Double.init), h: h, w: w, of: o, atReLU: atReLU)
                let scale = max(reference.max() ?? 0, 1e-6)
                let error = zip(result.maps[row].storage, reference).map { abs(Double($0) - $1) }.max() ?? .infinity
                // Float32 sums of at most 27 products and 120 terms: a relative 1e-4 is loose enough.
                #expect(error <= 1e-4 * scale, "class \(o), at ReLU \(atReLU): error \(error), scale \(scale)")
                if reference.contains(where: { $0 > 0 }) { nonZero += 1 }
            }
            // Classes whose evidence is negative everywhere have all-zero maps; most must not.
            #expect(nonZero >= 5, "at ReLU \(atReLU): only \(nonZero) maps are not all zero")
        }
        #expect(net.classifier.network.training == false && net.classifier.network.usesRunningStatistics == false)
        #expect(net.classifier.network.namedBuffers.map(\.tensor) == buffers)  // running statistics untouched
        #expect(net.classifier.probabilities(x) == before)
    }

    /// Saliency |dy_c/dx| (max over colour channels) equals central finite differences of the
    /// Float64 network, for the top class.
    @Test func saliencyMatchesFiniteDifferences() throws {
        let net = try TinyNet(withBatchNorm: true, seed: 6)
        let (h, w) = (8, 9)
        let x = randomImage(h: h, w: w, seed: 10)
        let top = net.classifier.probabilities(x)[0].enumerated().max { $0.element < $1.element }!.offset
        let result = try net.classifier.gradCAM(for: x, classes: [top], layer: net.reluLayer)
        let saliency = result.saliency[0]
        #expect(saliency.shape == [h, w])
        let x64 = x.storage.map(Double.init), step = 1e-4
        var worst = 0.0, largest = 0.0
        for i in 0 ..< h * w {
            var expected = 0.0
            for c in 0 ..< 3 {
                var plus = x64, minus = x64
                plus[c * h * w + i] += step
                minus[c * h * w + i] -= step
                let derivative = (net.forward(plus, h: h, w: w).logits[top] - net.forward(minus, h: h, w: w).logits[top]) / (2 * step)
                expected = max(expected, abs(derivative))
            }
            largest = max(largest, expected)
            worst = max(worst, abs(Double(saliency.storage[i]) - expected))
        }
        #expect(largest > 1e-3, "the gradient must not vanish for the check to mean anything")
        #expect(worst <= 1e-4 * largest + 1e-6, "worst error \(worst), largest value \(largest)")
    }

    /// On the deeper nets (airbench: a frozen whitening conv, conv groups with batch norms and
    /// GELU; a spec with a residual block and max pooling) the saliency at a few pixels equals
    /// Float32 central differences of the evaluated network, so every layer's backward (and
    /// `usesRunningStatistics` inside containers) gives the evaluation-mode gradient.
    @Test(arguments: ["airbench", "c8k3p1,bn,relu,res(c8k3p1,bn,relu),mp2,c8k3p1,gelu,fc10"])
    func saliencyOfDeeperNetsMatchesFiniteDifferences(architecture: String) throws {
        let classifier = try Classifier(architecture: architecture, seed: 3)
        var rng = SeededGenerator(seed: 12)
        for (name, tensor) in classifier.network.namedBuffers where name.hasSuffix("running_mean") {
            classifier.network.setBuffer(named: name, to: Tensor.uniform(shape: tensor.shape, in: -0.1..<0.1, using: &rng))
        }
        classifier.network.training = false
        let x = randomImage(h: 32, w: 32, seed: 13)
        let result = try classifier.gradCAM(for: x, classes: [4], layer: try #require(classifier.defaultGradCAMLayer()))
        let largest = Double(result.saliency[0].storage.max() ?? 0)
        #expect(largest > 0)
        func logit(_ input: Tensor) -> Double { Double(classifier.network(input).storage[4]) }
        let step: Float = 1e-3
        for pixel in [0, 33, 250, 517, 800, 1023] {
            var expected = 0.0
            for c in 0 ..< 3 {
                var plus = x, minus = x
                plus.storage[c * 1024 + pixel] += step
                minus.storage[c * 1024 + pixel] -= step
                expected = max(expected, abs(logit(plus) - logit(minus)) / Double(2 * step))
            }
            let got = Double(result.saliency[0].storage[pixel])
            #expect(abs(got - expected) <= 0.02 * largest, "\(architecture) pixel \(pixel): \(got) against \(expected), largest \(largest)")
        }
    }

    /// The layers Grad-CAM can use are the modules that output maps, under their state-dict
    /// names; the default is after the last convolution's batch norm and activation.
    @Test func layerNamesAndDefaultsOfThePresets() throws {
        let seed = try Classifier(architecture: "seed", seed: 0)
        #expect(seed.gradCAMLayers().map(\.name) == ["conv1", "1", "conv2", "3", "4"])
        #expect(seed.gradCAMLayers().map(\.shape)[3] == [16, 24, 24])
        #expect(seed.defaultGradCAMLayer() == "3")
        let vgg = try Classifier(architecture: "vgg", seed: 0)
        #expect(vgg.defaultGradCAMLayer() == "19")  // conv 17, batch norm 18, ReLU 19, max pool 20
        #expect(vgg.gradCAMLayers().first { $0.name == "19" }?.shape == [128, 8, 8])
        let airbench = try Classifier(architecture: "airbench", seed: 0)
        #expect(airbench.defaultGradCAMLayer() == "4")
        #expect(airbench.gradCAMLayers().map(\.name) == ["0", "1", "2", "3", "4", "5"])
        let linear = try Classifier(architecture: "fc10", seed: 0)
        #expect(linear.gradCAMLayers().isEmpty && linear.defaultGradCAMLayer() == nil)

        let x = randomImage(h: 32, w: 32, seed: 11)
        #expect(throws: TrainingError.unknownLayer(name: "fc", available: ["conv1", "1", "conv2", "3", "4"])) {
            try seed.gradCAM(for: x, classes: [0], layer: "fc")  // a module, but its output is flat
        }
        #expect(throws: TrainingError.unknownLayer(name: "conv9", available: ["conv1", "1", "conv2", "3", "4"])) {
            try seed.gradCAM(for: x, classes: [0], layer: "conv9")
        }
        // The first layer's input gradient, which training skips, is computed for saliency and
        // the setting restored.
        #expect(seed.network.computesInputGradient == false)
        let result = try seed.gradCAM(for: x, classes: [1, 2, 3], layer: "3")
        #expect(result.saliency.count == 3 && result.saliency.allSatisfy { $0.shape == [32, 32] && $0.storage.contains { $0 > 0 } })
        #expect(result.maps.allSatisfy { $0.shape == [24, 24] })
        #expect(seed.network.computesInputGradient == false)
    }
}
