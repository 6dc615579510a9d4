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

@Test(.enabled(if: portableAndCForms.count > 1, "this CPU has neither AVX2 nor AVX-512: only the Swift GELU runs"))
func geluGivesTheSameBitsOnEveryPath() {
    // 1,000 random values (a tail of 8 after the vectors), the special values and the branch
    // edges of erf and exp.
    var rng = SeededGenerator(seed: 4)
    var values = randomTensor([1000], &rng, scale: 6).storage
    values += [0, -0.0, 1, -1, 3.9, -3.9, 13.2, -13.2, 20, -20, .infinity, -.infinity, .nan, 1e-30, -1e-30]
    let x = Tensor(shape: [values.count], storage: values)
    let dy = randomTensor(x.shape, &rng)
    var y0 = Tensor.empty, dx0 = Tensor.empty
    geluForward(x, into: &y0, cpu: .portable)
    geluBackward(input: x, gradOutput: dy, into: &dx0, cpu: .portable)
    for cpu in portableAndCForms.dropFirst() {
        var y = Tensor.empty, dx = Tensor.empty
        geluForward(x, into: &y, cpu: cpu)
        geluBackward(input: x, gradOutput: dy, into: &dx, cpu: cpu)
        #expect(y.storage.map(\.bitPattern) == y0.storage.map(\.bitPattern), "forward on \(cpu)")
        #expect(dx.storage.map(\.bitPattern) == dx0.storage.map(\.bitPattern), "backward on \(cpu)")
    }
}
