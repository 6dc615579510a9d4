import Foundation

/// A small, fast, seedable random number generator: SplitMix64 (Steele, Lea and Flood, 2014).
///
/// The sequence depends only on the seed and uses only integer arithmetic, so it is the same on
/// every platform and Swift version. That is what makes `--seed` reproducible: weight
/// initialisation, random filters, shuffling and augmentation all draw from it.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A Float uniform in [0, 1) with 24 random bits (every value a multiple of 2^-24).
    /// Deliberately not `Float.random(in:using:)`, whose algorithm the standard library may change.
    @inlinable
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// A Double uniform in (0, 1] with 53 random bits (never 0, so its logarithm is finite).
    @inlinable
    public mutating func nextOpenUnitDouble() -> Double {
        (Double(next() >> 11) + 1) * 0x1p-53
    }
}

extension Tensor {
    /// A tensor of `shape` with elements uniform in `range`, drawn in storage order.
    ///
    /// Each element is `lower + u * (upper - lower)` with `u = nextUnitFloat()`; a result that
    /// rounds up to `upper` is replaced by the largest Float below it, so the range stays half-open.
    public static func uniform(shape: [Int], in range: Range<Float>, using rng: inout SeededGenerator) -> Tensor {
        var t = Tensor(shape: shape)
        let lower = range.lowerBound
        let width = range.upperBound - range.lowerBound
        t.withUnsafeMutableBufferPointer { p in
            for i in p.indices {
                let v = lower + rng.nextUnitFloat() * width
                p[i] = v < range.upperBound ? v : range.upperBound.nextDown
            }
        }
        return t
    }

    /// A tensor of `shape` with normally distributed elements, drawn in storage order.
    ///
    /// Box-Muller in Double: each pair of uniforms (u1 in (0, 1], u2 in [0, 1)) gives
    /// `r cos(2 pi u2)` then `r sin(2 pi u2)` with `r = sqrt(-2 ln u1)`, scaled by `std` and
    /// shifted by `mean`. Deterministic for a seed; across platforms it can differ only where
    /// the C library's `log`/`cos`/`sin` differ in the last bit before rounding to Float.
    public static func normal(shape: [Int], mean: Float = 0, std: Float, using rng: inout SeededGenerator) -> Tensor {
        var t = Tensor(shape: shape)
        t.withUnsafeMutableBufferPointer { p in
            var i = 0
            while i < p.count {
                let u1 = rng.nextOpenUnitDouble()
                let u2 = Double(rng.next() >> 11) * 0x1p-53
                let r = (-2 * Foundation.log(u1)).squareRoot()
                let angle = 2 * Double.pi * u2
                p[i] = mean + std * Float(r * Foundation.cos(angle))
                if i + 1 < p.count {
                    p[i + 1] = mean + std * Float(r * Foundation.sin(angle))
                }
                i += 2
            }
        }
        return t
    }
}
