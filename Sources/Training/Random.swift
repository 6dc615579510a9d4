import Kernels

/// A small, fast, seedable random generator (xoshiro256**, seeded through SplitMix64) whose
/// whole state is four integers, so a checkpoint can save it and `--resume` can continue the
/// exact same stream of shuffles and augmentations.
///
/// Kernels' `SeededGenerator` (used for weight initialisation) keeps its state private; the
/// data order needs a state that can be saved, hence this generator. Shuffling and integer
/// draws are implemented here rather than with `shuffle(using:)`, so the sequence a seed
/// produces is fixed by this file alone.
public struct TrainingRandom: RandomNumberGenerator, Sendable, Equatable {
    /// The generator state; restoring it restores the stream.
    public var state: [UInt64]

    /// A generator whose stream is determined by `seed`.
    public init(seed: UInt64) {
        // SplitMix64 (Kernels' SeededGenerator) spreads a small seed over the 256-bit state.
        var splitMix = SeededGenerator(seed: seed)
        state = (0..<4).map { _ in splitMix.next() }
    }

    /// A generator continuing from a saved `state` (four words, not all zero).
    public init?(state: [UInt64]) {
        guard state.count == 4, state.contains(where: { $0 != 0 }) else { return nil }
        self.state = state
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    /// A uniform integer in `0..<bound` (bound > 0), without modulo bias.
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        let b = UInt64(bound)
        // Lemire's multiply-shift with rejection of the biased low range.
        var m = next().multipliedFullWidth(by: b)
        if m.low < b {
            let threshold = (0 &- b) % b
            while m.low < threshold { m = next().multipliedFullWidth(by: b) }
        }
        return Int(m.high)
    }

    /// A uniform Float in [0, 1) with 24 random bits.
    public mutating func unitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// A uniformly random permutation of `0..<count` (Fisher-Yates).
    public mutating func permutation(_ count: Int) -> [Int] {
        var p = Array(0..<count)
        var i = count - 1
        while i > 0 {
            let j = below(i + 1)
            p.swapAt(i, j)
            i -= 1
        }
        return p
    }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

