/// One of `count` parts of a batch, so that a scheduler (a SLURM array, GNU parallel over ssh) can
/// spread one list of inputs over several machines or jobs, each running the same command on its
/// own part, with nothing shared but the output folder.
///
/// Part `index` (1-based, as SLURM numbers the tasks of `--array=1-N`) takes the inputs whose
/// position in the whole list (0-based) leaves the remainder `index - 1` when divided by `count`:
/// every `count`-th input, starting at the `index`-th. Taking every `count`-th rather than a block
/// keeps the parts within one input of each other in length and spreads each folder of the list
/// (listed together, often photos of one size) over every part, so no part gets all the large ones.
/// Every part must be cut from the same list: the same paths in the same order.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    /// Which part, from 1 to `count`.
    public let index: Int
    /// Parts in all, at least 1.
    public let count: Int

    /// Part `index` of `count`; nil unless 1 <= `index` <= `count`.
    public init?(index: Int, count: Int) {
        guard count >= 1, (1...count).contains(index) else { return nil }
        self.index = index
        self.count = count
    }

    /// The part written `I/N` (`3/8`); nil for anything else or numbers out of range.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let index = Int(parts[0]), let count = Int(parts[1]) else { return nil }
        self.init(index: index, count: count)
    }

    /// `I/N`, as `init(parsing:)` reads it.
    public var description: String { "\(index)/\(count)" }

    /// This part of `items`, in their order.
    public func select<Item>(_ items: [Item]) -> [Item] {
        stride(from: index - 1, to: items.count, by: count).map { items[$0] }
    }
}
