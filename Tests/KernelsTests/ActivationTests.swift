import Testing
import Kernels

/// Values with |x| >= 0.05, so a finite-difference step of 1e-2 never crosses ReLU's kink.
func awayFromZero(_ shape: [Int], _ rng: inout SeededGenerator) -> Tensor {
    var t = randomTensor(shape, &rng)
    for i in 0..<t.count where abs(t.storage[i]) < 0.05 { t.storage[i] += t.storage[i] < 0 ? -0.05 : 0.05 }
    return t
}

@Test func reluForwardIsMaxWithZero() {
    var rng = SeededGenerator(seed: 1)
    let x = randomTensor([2, 3, 5, 7], &rng)
    let y = relu(x)
    #expect(y.shape == x.shape)
    for i in 0..<x.count { #expect(y.storage[i] == max(x.storage[i], 0)) }
    #expect(relu(Tensor(shape: [1], storage: [.nan])).storage[0].isNaN)
}

@Test func reluGradientMatchesFiniteDifferences() {
    var rng = SeededGenerator(seed: 2)
    let x = awayFromZero([2, 3, 5, 7], &rng)
    let y = relu(x)
    let r = randomTensor(y.shape, &rng)
    var dx = Tensor.empty
    reluBackward(output: y, gradOutput: r, into: &dx)
    #expect(maxGradientError(at: x, analytic: dx, epsilon: 1e-2) { weightedSum(relu($0), r) } < gradientTolerance)
}

@Test func geluMatchesTheErfForm() {
    // Values of x Phi(x) from the standard normal CDF: Phi(1) = 0.841344746, Phi(-1) = 0.158655254,
    // Phi(0.5) = 0.691462461, Phi(3) = 0.998650102.
    let x = Tensor(shape: [5], storage: [1, -1, 0.5, 0, 3])
    let expected: [Float] = [0.841344746, -0.158655254, 0.345731231, 0, 2.995950306]
    let y = gelu(x)
    for i in 0..<5 { #expect(abs(y.storage[i] - expected[i]) < 1e-6) }
}

@Test func geluGradientMatchesFiniteDifferences() {
    var rng = SeededGenerator(seed: 3)
    let x = randomTensor([2, 3, 4, 5], &rng, scale: 3)
    let r = randomTensor(x.shape, &rng)
    var dx = Tensor.empty
    geluBackward(input: x, gradOutput: r, into: &dx)
    // Smooth but not linear: h = 1e-3 keeps the truncation error (~h^2) below the tolerance.
    #expect(maxGradientError(at: x, analytic: dx, epsilon: 1e-3) { weightedSum(gelu($0), r) } < gradientTolerance)
}
