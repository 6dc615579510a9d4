import Testing
import Kernels

@Test(arguments: [(1, 1, 1), (3, 7, 5), (4, 16, 10), (5, 13, 1)])
func linearForwardMatchesReferenceLoops(_ sizes: (Int, Int, Int)) {
    let (n, inF, outF) = sizes
    var rng = SeededGenerator(seed: UInt64(500 + n * 31 + inF))
    let x = randomTensor([n, inF], &rng), w = randomTensor([outF, inF], &rng), b = randomTensor([outF], &rng)
    let y = linear(x, weight: w, bias: b)
    #expect(y.shape == [n, outF])
    for row in 0..<n { for o in 0..<outF {
        var acc = Double(b[o])
        for i in 0..<inF { acc += Double(x[row, i]) * Double(w[o, i]) }
        #expect(abs(Double(y[row, o]) - acc) < 1e-5)
    }}
}

@Test(arguments: [(1, 1, 1), (3, 7, 5), (4, 16, 10)])
func linearGradientsMatchFiniteDifferences(_ sizes: (Int, Int, Int)) {
    let (n, inF, outF) = sizes
    var rng = SeededGenerator(seed: UInt64(600 + n * 31 + inF))
    let x = randomTensor([n, inF], &rng), w = randomTensor([outF, inF], &rng), b = randomTensor([outF], &rng)
    let r = randomTensor([n, outF], &rng)
    var dx = Tensor.empty, dw = Tensor.empty, db = Tensor.empty
    linearBackward(input: x, weight: w, gradOutput: r, gradInput: &dx, gradWeight: &dw)
    linearBiasBackward(gradOutput: r, into: &db)
    #expect(maxGradientError(at: x, analytic: dx, epsilon: 1e-2) { weightedSum(linear($0, weight: w, bias: b), r) } < gradientTolerance)
    #expect(maxGradientError(at: w, analytic: dw, epsilon: 1e-2) { weightedSum(linear(x, weight: $0, bias: b), r) } < gradientTolerance)
    #expect(maxGradientError(at: b, analytic: db, epsilon: 1e-2) { weightedSum(linear(x, weight: w, bias: $0), r) } < gradientTolerance)
}

@Test func flattenIsTorchFlattenOnNCHW() {
    var rng = SeededGenerator(seed: 9)
    let x = randomTensor([2, 3, 4, 5], &rng)
    let y = flatten(x)
    #expect(y.shape == [2, 60])
    #expect(y[1, (2 * 4 + 3) * 5 + 4] == x[1, 2, 3, 4])
    let back = flattenBackward(gradOutput: y, inputShape: x.shape)
    #expect(back == x)
}

@Test func flattenAndAddGradientsMatchFiniteDifferences() {
    var rng = SeededGenerator(seed: 10)
    let x = randomTensor([2, 3, 2, 5], &rng), other = randomTensor([2, 3, 2, 5], &rng)
    let r = randomTensor([2, 30], &rng), r4 = randomTensor(x.shape, &rng)
    #expect(maxGradientError(at: x, analytic: flattenBackward(gradOutput: r, inputShape: x.shape), epsilon: 1e-2) {
        weightedSum(flatten($0), r) } < gradientTolerance)
    // d(a + b)/da = d(a + b)/db = dy: the residual join passes the gradient to both branches.
    #expect(maxGradientError(at: x, analytic: r4, epsilon: 1e-2) { weightedSum(add($0, other), r4) } < gradientTolerance)
    #expect(maxGradientError(at: other, analytic: r4, epsilon: 1e-2) { weightedSum(add(x, $0), r4) } < gradientTolerance)
}

@Test func addSumsElementwise() {
    let a = Tensor(shape: [2, 2], storage: [1, 2, 3, 4]), b = Tensor(shape: [2, 2], storage: [10, 20, 30, 40])
    #expect(add(a, b).storage == [11, 22, 33, 44])
}
