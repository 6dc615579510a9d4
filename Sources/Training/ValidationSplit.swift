import Foundation

/// Which training images a run held out for validation: everything that determines them, so
/// the model file can record it (metadata "validation_split") and a later evaluation scores
/// exactly those images, even when the run trained on only the first images of the data.
public struct ValidationSplit: Sendable, Equatable, Codable {
    /// The permutation seed of every run: independent of the training seed, so runs that draw
    /// the same count from the same images tune on the same images.
    public static let permutationSeed: UInt64 = 12345

    /// The split was drawn from the first `pool` training images (a run's image limit, or all).
    public var pool: Int
    /// Images held out.
    public var count: Int
    /// Seed of the permutation that picks them.
    public var seed: UInt64
    /// FNV-1a (64-bit, hex) of the held-out labels then pixels: tells whether other data would
    /// give other images under the same pool, count and seed.
    public var fingerprint: String

    /// Holds out `count` of the first `pool` images of `train` (see `CIFARSplit.splittingValidation`)
    /// and returns the record with (the remaining training images, the held-out ones).
    public static func draw(count: Int, pool: Int, from train: CIFARSplit, seed: UInt64 = permutationSeed) throws
        -> (split: ValidationSplit, train: CIFARSplit, validation: CIFARSplit) {
        let (rest, held) = try train.prefix(pool).splittingValidation(count, seed: seed)
        let split = ValidationSplit(pool: min(pool, train.count), count: held.count, seed: seed, fingerprint: fingerprint(of: held))
        return (split, rest, held)
    }

    /// The same held-out images drawn again from `train`; an error (naming `source`) when this
    /// data cannot give them: too few images, or other images under the same draw.
    public func heldOutImages(from train: CIFARSplit, source: String) throws -> CIFARSplit {
        guard train.count >= pool else {
            throw TrainingError.file(path: source, reason: "the validation split was drawn from the first \(pool) training images; this data has only \(train.count)")
        }
        let held = try train.prefix(pool).splittingValidation(count, seed: seed).validation
        guard Self.fingerprint(of: held) == fingerprint else {
            throw TrainingError.file(path: source, reason: "the images this data gives for the validation split differ from those the run held out (other training data?)")
        }
        return held
    }

    /// FNV-1a over the labels, then the pixels.
    static func fingerprint(of split: CIFARSplit) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for bytes in [split.labels, split.pixels] {
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        }
        return String(hash, radix: 16)
    }
}
