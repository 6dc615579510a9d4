import Foundation
import Testing
import Kernels

/// -(1/N) sum_n sum_k q[n,k] log p[n,k] straight from the definition, in Float64.
private func referenceLoss(_ logits: Tensor, _ labels: [Int], smoothing eps: Double) -> Double {
    let n = logits.shape[0], k = logits.shape[1]
    var total: Double = 0
    for row in 0..<n {
        let l = (0..<k).map { Double(logits[row, $0]) }
        let z = l.map { exp($0) }.reduce(0, +)
        for j in 0..<k {
            let q = (j == labels[row] ? 1 - eps : 0) + eps / Double(k)
            total -= q * log(exp(l[j]) / z)
        }
    }
    return total / Double(n)
}

@Test func crossEntropyHandComputedValues() {
    let loss = SoftmaxCrossEntropy()
    // Equal logits: p = 1/2, loss = ln 2.
    #expect(abs(Double(loss(Tensor(shape: [1, 2], storage: [0, 0]), labels: [0])) - log(2.0)) < 1e-6)
    // logits (1,2,3), label 2, eps 0.1: logZ = 3 + ln(1 + e^-1 + e^-2); loss = logZ - 0.9*3 - (0.1/3)*6.
    let smoothed = SoftmaxCrossEntropy(labelSmoothing: 0.1)
    let value = smoothed(Tensor(shape: [1, 3], storage: [1, 2, 3]), labels: [2])
    #expect(abs(Double(value) - (3 + log(1 + exp(-1.0) + exp(-2.0)) - 2.7 - 0.2)) < 1e-6)
    #expect(smoothed.predictions == [2] && smoothed.correctCount == 1)
}

@Test(arguments: [Float(0), 0.1, 0.3])
func crossEntropyMatchesDefinitionAndGradient(_ eps: Float) {
    var rng = SeededGenerator(seed: 31)
    let logits = randomTensor([6, 10], &rng, scale: 4)
    let labels = [3, 0, 9, 3, 5, 1]
    let loss = SoftmaxCrossEntropy(labelSmoothing: eps)
    let value = loss(logits, labels: labels)
    #expect(abs(Double(value) - referenceLoss(logits, labels, smoothing: Double(eps))) < 1e-5)
    for row in 0..<6 {
        let p = (0..<10).map { loss.probabilities[row, $0] }
        #expect(abs(p.reduce(0, +) - 1) < 1e-5)
        #expect(loss.predictions[row] == (0..<10).max { logits[row, $0] < logits[row, $1] }!)
    }
    let grad = loss.backward()
    #expect(maxGradientError(at: logits, analytic: grad, epsilon: 1e-3) {
        referenceLoss($0, labels, smoothing: Double(eps)) } < gradientTolerance)
}

/// The summed loss (airbench's `reduction='sum'`) is N times the mean, value and gradient,
/// and its gradient passes the finite-difference check against the definition summed over rows.
@Test(arguments: [Float(0), 0.2])
func summedCrossEntropyIsNTimesTheMeanAndPassesTheGradientCheck(_ eps: Float) {
    var rng = SeededGenerator(seed: 47)
    let logits = randomTensor([5, 10], &rng, scale: 3)
    let labels = [7, 2, 2, 0, 9]
    let mean = SoftmaxCrossEntropy(labelSmoothing: eps)
    let sum = SoftmaxCrossEntropy(labelSmoothing: eps, reduction: .sum)
    let meanValue = mean(logits, labels: labels), sumValue = sum(logits, labels: labels)
    #expect(abs(Double(sumValue) - 5 * referenceLoss(logits, labels, smoothing: Double(eps))) < 5e-5)
    #expect(abs(sumValue - 5 * meanValue) < 5e-5)
    let meanGrad = mean.backward(), sumGrad = sum.backward()
    for i in 0..<sumGrad.count { #expect(abs(sumGrad.storage[i] - 5 * meanGrad.storage[i]) < 1e-6) }
    #expect(maxGradientError(at: logits, analytic: sumGrad, epsilon: 1e-3) {
        5 * referenceLoss($0, labels, smoothing: Double(eps)) } < gradientTolerance)
}
