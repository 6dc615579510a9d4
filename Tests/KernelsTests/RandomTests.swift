import Testing
import Kernels

@Test func splitMix64MatchesTheReferenceSequence() {
    // Values from an independent Python transcription of SplitMix64 (Steele et al. 2014);
    // 0xE220A8397B1DCDAF is the published first output for seed 0.
    var zero = SeededGenerator(seed: 0)
    #expect(zero.next() == 0xE220_A839_7B1D_CDAF)
    var rng = SeededGenerator(seed: 12345)
    let expected: [UInt64] = [2454886589211414944, 3778200017661327597, 2205171434679333405, 3248800117070709450]
    for value in expected { #expect(rng.next() == value) }
}

@Test func uniformStaysInRangeWithTheRightMean() {
    var rng = SeededGenerator(seed: 7)
    let t = Tensor.uniform(shape: [100_000], in: -0.5..<1.5, using: &rng)
    #expect(t.storage.allSatisfy { $0 >= -0.5 && $0 < 1.5 })
    let mean = t.storage.reduce(0.0) { $0 + Double($1) } / Double(t.count)
    #expect(abs(mean - 0.5) < 0.01)  // std of the mean: (2/sqrt(12))/sqrt(1e5) = 0.0018
}

@Test func normalHasTheRequestedMomentsAndIsReproducible() {
    var rng = SeededGenerator(seed: 11)
    let t = Tensor.normal(shape: [100_001], mean: 2, std: 3, using: &rng)
    let n = Double(t.count)
    let mean = t.storage.reduce(0.0) { $0 + Double($1) } / n
    let variance = t.storage.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
    #expect(abs(mean - 2) < 0.05)                       // std of the mean: 3/sqrt(1e5) = 0.0095
    #expect(abs(variance.squareRoot() - 3) < 0.05)
    let within1 = t.storage.filter { abs($0 - 2) < 3 }.count
    #expect(abs(Double(within1) / n - 0.6827) < 0.01)   // a normal, not just any distribution
    var again = SeededGenerator(seed: 11)
    #expect(Tensor.normal(shape: [100_001], mean: 2, std: 3, using: &again) == t)
}
