import Testing
import Kernels
import Training

/// airbench's whitening initialisation: the Jacobi eigensolver and the filters it gives.
@Suite struct WhiteningTests {
    /// Images whose 2x2x3 patches are strongly correlated (a colour per image, a shared
    /// brightness field over the channels, a little independent noise), like photographs.
    func correlatedImages(_ n: Int, side: Int = 10, seed: UInt64 = 5) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        var x = Tensor(shape: [n, 3, side, side])
        for img in 0 ..< n {
            let colour = (0 ..< 3).map { _ in Float.random(in: -1 ..< 1, using: &rng) }
            for y in 0 ..< side {
                for col in 0 ..< side {
                    let brightness = Float.random(in: -1 ..< 1, using: &rng)
                    for c in 0 ..< 3 {
                        x[img, c, y, col] = colour[c] + 0.6 * brightness + 0.05 * Float.random(in: -1 ..< 1, using: &rng)
                    }
                }
            }
        }
        return x
    }

    @Test func jacobiDecomposesASymmetricMatrix() {
        var rng = SeededGenerator(seed: 9)
        let n = 12
        let b = (0 ..< n * n).map { _ in Double.random(in: -1 ..< 1, using: &rng) }
        var a = [Double](repeating: 0, count: n * n)  // B B^T: symmetric, positive semi-definite
        for i in 0 ..< n { for j in 0 ..< n { for k in 0 ..< n { a[i * n + j] += b[i * n + k] * b[j * n + k] } } }
        let (values, vectors) = symmetricEigendecomposition(a, size: n)
        #expect(values == values.sorted(by: >))
        for i in 0 ..< n {
            for j in 0 ..< n {
                // orthonormal vectors
                let dot = (0 ..< n).reduce(0.0) { $0 + vectors[i][$1] * vectors[j][$1] }
                #expect(abs(dot - (i == j ? 1 : 0)) < 1e-12)
            }
            // A v = lambda v
            for r in 0 ..< n {
                let av = (0 ..< n).reduce(0.0) { $0 + a[r * n + $1] * vectors[i][$1] }
                #expect(abs(av - values[i] * vectors[i][r]) < 1e-10)
            }
            #expect(vectors[i].max { abs($0) < abs($1) }! > 0)
        }
        // Trace and a hand case: [[2, 1], [1, 2]] has eigenvalues 3 and 1.
        #expect(abs(values.reduce(0, +) - (0 ..< n).reduce(0.0) { $0 + a[$1 * n + $1] }) < 1e-10)
        let small = symmetricEigendecomposition([2, 1, 1, 2], size: 2)
        #expect(abs(small.values[0] - 3) < 1e-15 && abs(small.values[1] - 1) < 1e-15)
        #expect(abs(small.vectors[0][0] - 0.5.squareRoot()) < 1e-15 && abs(small.vectors[0][1] - 0.5.squareRoot()) < 1e-15)
    }

    /// The second moment of the convolution's outputs over every position: [C_out x C_out].
    func outputMoment(_ images: Tensor, _ weight: Tensor) -> (moment: [Double], channels: Int) {
        var y = Tensor.empty, scratch = Conv2dScratch()
        conv2dForward(images, weight: weight, bias: nil, stride: 1, padding: 0, into: &y, scratch: &scratch)
        let c = y.shape[1], plane = y.shape[2] * y.shape[3], count = Double(y.shape[0] * plane)
        var m = [Double](repeating: 0, count: c * c)
        for n in 0 ..< y.shape[0] {
            for i in 0 ..< plane {
                for a in 0 ..< c {
                    let ya = Double(y.storage[(n * c + a) * plane + i])
                    for b in 0 ..< c { m[a * c + b] += ya * Double(y.storage[(n * c + b) * plane + i]) }
                }
            }
        }
        return (m.map { $0 / count }, c)
    }

    @Test func whitenedPatchesHaveIdentityCovariance() {
        let images = correlatedImages(40)
        // eps = 0: the first 12 outputs are white; the other 12 are their negatives.
        let weight = whiteningWeights(images: images, kernelSize: 2, eps: 0)
        #expect(weight.shape == [24, 3, 2, 2])
        let (m, c) = outputMoment(images, weight)
        #expect(c == 24)
        for a in 0 ..< 12 {
            for b in 0 ..< 12 {
                #expect(abs(m[a * c + b] - (a == b ? 1 : 0)) < 2e-4, "\(a), \(b): \(m[a * c + b])")
                #expect(abs(m[a * c + b + 12] + (a == b ? 1 : 0)) < 2e-4)
            }
        }
        // airbench's eps shrinks each direction's variance to lambda / (lambda + eps).
        let lambda = symmetricEigendecomposition(patchSecondMoment(images: images, kernelSize: 2), size: 12).values
        #expect(lambda.last! < 5e-3)  // the noise directions are weak enough for eps to matter
        let (shrunk, _) = outputMoment(images, whiteningWeights(images: images))
        for a in 0 ..< 12 {
            #expect(abs(shrunk[a * c + a] - lambda[a] / (lambda[a] + 5e-4)) < 2e-4, "\(a)")
        }
    }

    @Test func filtersAreInDescendingVarianceOrderAndThreadIndependent() {
        let images = correlatedImages(37, side: 9)
        let one = Parallelism.withThreadCount(1) { whiteningWeights(images: images) }
        let two = Parallelism.withThreadCount(2) { whiteningWeights(images: images) }
        #expect(one == two)
        // Filter f is v_f / sqrt(lambda_f + eps) with v_f a unit vector: norms grow as lambda falls.
        let norms = (0 ..< 24).map { f in (0 ..< 12).reduce(Float(0)) { $0 + one.storage[f * 12 + $1] * one.storage[f * 12 + $1] } }
        #expect(Array(norms[..<12]) == Array(norms[..<12]).sorted())
        #expect(Array(norms[12...]) == Array(norms[..<12]))
        for i in 0 ..< 12 * 12 { #expect(one.storage[12 * 12 + i] == -one.storage[i]) }
    }
}
