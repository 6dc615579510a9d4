import Testing
import FeatureMaps

@Suite("parts of a batch (--shard)")
struct ShardTests {
    @Test func partsAreReadAsIOverNWithIFromOne() {
        #expect(Shard(parsing: "3/8") == Shard(index: 3, count: 8))
        #expect(Shard(parsing: "1/1")?.description == "1/1")
        for bad in ["0/8", "9/8", "1/0", "0/0", "-1/8", "+1/8", "3", "3/", "/8", "3/8/1", "a/b", " 3/8", "3 / 8", "３/８", ""] {
            #expect(Shard(parsing: bad) == nil, "\(bad)")
        }
    }

    /// Every input is in exactly one part, in its order; parts differ by one input at most, and
    /// part i starts at the i-th input.
    @Test(arguments: [1, 2, 3, 8]) func thePartsTogetherAreTheWholeListOnce(count: Int) throws {
        for length in [0, 1, 7, 24, 25] {
            let items = Array(0 ..< length)
            let parts = try (1 ... count).map { try #require(Shard(index: $0, count: count)).select(items) }
            #expect(parts.flatMap { $0 }.sorted() == items)
            #expect(parts.allSatisfy { $0 == $0.sorted() })
            #expect(parts.map(\.count).max()! - parts.map(\.count).min()! <= 1)
            for (offset, part) in parts.enumerated() where !part.isEmpty { #expect(part[0] == offset) }
        }
    }
}
