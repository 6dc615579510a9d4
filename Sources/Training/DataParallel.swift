import Kernels

/// The collective operations data-parallel training needs, in the trainer's terms: `size`
/// processes ("ranks") that each hold a copy of the network and train on their shard of every
/// global batch. One process alone is `SingleProcess`, whose operations change nothing; the MPI
/// build supplies an implementation over MPI (the Distributed target).
///
/// Every rank must make the same calls in the same order (they are collective), and every
/// result must be the same bits on every rank and must not depend on timing: the reduction
/// order is fixed for a given `size`.
package protocol Communicator: AnyObject {
    /// This process's index, 0 ..< size. Rank 0 writes the outputs.
    var rank: Int { get }
    /// The number of processes training together.
    var size: Int { get }
    /// Replaces `values` by their element-wise sum over all ranks (gradients: fp32).
    func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>)
    /// Replaces `values` by their element-wise sum over all ranks (the logged figures).
    func allreduceSum(_ values: inout [Double])
    /// Replaces `values` on every rank by rank `root`'s.
    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int)
    /// Rank `root`'s `bytes` on every rank; nil everywhere when the root passes nil (it failed).
    func broadcast(bytes: [UInt8]?, from root: Int) -> [UInt8]?
}

extension Communicator {
    /// Whether `flag` is true on any rank (a stop request seen by one rank stops them all at
    /// the same step). One process needs no message.
    package func any(_ flag: Bool) -> Bool {
        guard size > 1 else { return flag }
        var v = [flag ? 1.0 : 0.0]
        allreduceSum(&v)
        return v[0] > 0
    }
}

/// One process training alone: every collective is the identity, so the trainer's single-process
/// path is the distributed one with nothing to exchange.
package final class SingleProcess: Communicator {
    package init() {}
    package var rank: Int { 0 }
    package var size: Int { 1 }
    package func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) {}
    package func allreduceSum(_ values: inout [Double]) {}
    package func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) {}
    package func broadcast(bytes: [UInt8]?, from root: Int) -> [UInt8]? { bytes }
}

/// A rank that stopped because another rank failed first; that rank reports why, so this one
/// has nothing to add (the command line prints nothing for it).
package struct PeerFailed: Error, CustomStringConvertible {
    package var description: String { "stopped: another rank failed (its message says why)" }
}

/// Which images of a global batch each rank trains on.
package enum BatchShard {
    /// Rank `rank`'s contiguous part of `batch` when `size` ranks share it: the first
    /// `batch.count % size` ranks take one image more. Every rank draws the same permutation
    /// from the same seed, so the shards of a global batch are disjoint and cover it.
    package static func range(of batch: Range<Int>, rank: Int, size: Int) -> Range<Int> {
        let (share, extra) = batch.count.quotientAndRemainder(dividingBy: size)
        let lower = batch.lowerBound + rank * share + min(rank, extra)
        return lower ..< lower + share + (rank < extra ? 1 : 0)
    }
}

/// Sums the parameters' gradients over the ranks, so every rank steps with the gradient of the
/// whole global batch. The gradients are packed into fixed buckets of `bucketFloats` fp32
/// values (the same split on every rank and every step, so the reduction order is fixed) and
/// each bucket is all-reduced in turn. The reduction waits for the whole backward pass: the
/// layers' backward has no per-layer hook to start a bucket early, and Docs/DISTRIBUTED.md
/// says what overlapping could gain.
package final class GradientReducer {
    package let communicator: any Communicator
    private let parameters: [Parameter]
    private let bucketFloats: Int
    private var bucket: [Float]
    /// The step's summed loss and correct count, all-reduced in place (kept, not made per step).
    private var figures = [0.0, 0.0]
    /// The batch norms' link to the other processes (nil: per-process statistics).
    private let batchNormSynchronization: BatchNormSynchronization?

    /// 4 MiB buckets: large enough that a bucket's latency is small against its transfer at
    /// 10 Gbit/s (3.4 ms), small enough that the packing buffer stays small.
    package static let defaultBucketFloats = 1 << 20

    /// A reducer of `network`'s gradients. With `synchronizingBatchNorm` and more than one
    /// process, its batch norms normalise with the statistics of the whole global batch (their
    /// sums go through `communicator`); otherwise each process uses its shard's.
    package init(network: any Layer, communicator: any Communicator, synchronizingBatchNorm: Bool = false,
                 bucketFloats: Int = GradientReducer.defaultBucketFloats) {
        parameters = network.namedParameters.map(\.parameter)
        self.communicator = communicator
        if synchronizingBatchNorm && communicator.size > 1 {
            let synchronization = BatchNormSynchronization { [communicator] in communicator.allreduceSum(&$0) }
            for norm in batchNorms(in: network) { norm.synchronization = synchronization }
            batchNormSynchronization = synchronization
        } else {
            batchNormSynchronization = nil
        }
        self.bucketFloats = max(1, bucketFloats)
        let total = self.parameters.reduce(0) { $0 + $1.grad.count }
        bucket = [Float](repeating: 0, count: communicator.size > 1 ? min(total, self.bucketFloats) : 0)
    }

    /// Replaces every gradient by `sum over ranks of scale x gradient`. `scale` is the rank's
    /// share of the global batch for a mean loss (its gradient is a mean over its shard), 1 for
    /// a summed loss. One process changes nothing (not even by a multiplication by 1).
    package func reduce(scale: Float) {
        guard communicator.size > 1 else { return }
        // (parameter, offset) of the next value to pack and to unpack.
        var pack = (0, 0), unpack = (0, 0)
        func move(_ cursor: inout (Int, Int), count: Int, _ body: (_ grad: UnsafeMutablePointer<Float>, _ bucketOffset: Int, _ n: Int) -> Void) {
            var filled = 0
            while filled < count {
                let p = parameters[cursor.0]
                let n = min(p.grad.count - cursor.1, count - filled)
                p.grad.withUnsafeMutableBufferPointer { g in body(g.baseAddress! + cursor.1, filled, n) }
                filled += n
                cursor.1 += n
                if cursor.1 == p.grad.count { cursor = (cursor.0 + 1, 0) }
            }
        }
        var remaining = parameters.reduce(0) { $0 + $1.grad.count }
        while remaining > 0 {
            let count = min(bucketFloats, remaining)
            bucket.withUnsafeMutableBufferPointer { b in
                move(&pack, count: count) { g, o, n in for i in 0 ..< n { b[o + i] = g[i] * scale } }
                communicator.allreduceSum(UnsafeMutableBufferPointer(rebasing: b[0 ..< count]))
                move(&unpack, count: count) { g, o, n in for i in 0 ..< n { g[i] = b[o + i] } }
            }
            remaining -= count
        }
    }

    /// The training step's gradient, the one code both the trainer and the gradient check run:
    /// forward, loss and backward of `network` on this rank's `shard` of a global batch of
    /// `batchCount` images, then the gradients summed over the ranks, so every rank holds the
    /// gradient of the whole global batch (one process: its batch's, untouched). Returns the
    /// global batch's summed loss (per image for a mean loss, times its count) and correct count,
    /// the same on every rank, so all log the same figures and a loss that is not finite on one
    /// rank stops them all.
    package func globalGradient(of network: any Layer, loss: SoftmaxCrossEntropy, shard: Tensor, labels: [Int], batchCount: Int) -> (lossSum: Double, correct: Int) {
        // A mean loss's gradient is a mean over the shard: weighted by the shard's share of the
        // global batch before the sum (and in synchronised batch norms' backward sums).
        let weight: Float = loss.reduction == .sum ? 1 : Float(labels.count) / Float(batchCount)
        batchNormSynchronization?.gradientWeight = Double(weight)
        let value = loss(network(shard), labels: labels)
        figures[0] = Double(value) * (loss.reduction == .sum ? 1 : Double(labels.count))
        figures[1] = Double(loss.correctCount)
        communicator.allreduceSum(&figures)
        _ = network.backward(loss.backward())
        reduce(scale: weight)
        return (figures[0], Int(figures[1]))
    }

    /// Makes every rank's parameters rank 0's (the start of a run, so the copies cannot differ
    /// even where their setup could, such as a whitening computed with other thread counts).
    package func broadcastParameters() {
        guard communicator.size > 1 else { return }
        for p in parameters {
            p.value.withUnsafeMutableBufferPointer { communicator.broadcast($0, from: 0) }
        }
    }
}

/// Every batch norm in `layer`, in forward order (the zoo's containers: `Sequential`, `ConvGroup`).
func batchNorms(in layer: any Layer) -> [BatchNorm2d] {
    switch layer {
    case let norm as BatchNorm2d: [norm]
    case let sequential as Sequential: sequential.children.flatMap { batchNorms(in: $0.layer) }
    case let group as ConvGroup: [group.norm1, group.norm2]
    default: []
    }
}
