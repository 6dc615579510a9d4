import Foundation
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
    /// Whether the gradient sum (`allreduceSum` of fp32 values) may be called from another
    /// thread while this one makes the other calls, so the sum can overlap the backward pass.
    var allowsGradientSumsOnAnotherThread: Bool { get }
}

extension Communicator {
    /// By default every call comes from one thread.
    package var allowsGradientSumsOnAnotherThread: Bool { false }
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
/// whole global batch.
///
/// The gradients, laid end to end in `namedParameters` order, are cut into fixed buckets of
/// `bucketFloats` fp32 values counted from the end (the last parameters' gradients are the
/// first the backward pass finishes), the same cut on every rank and every step; each bucket
/// is packed, all-reduced and unpacked in turn, so the reduction order is fixed.
///
/// With `overlapping` (and a communicator that allows it), a thread of the reducer's own sums
/// each bucket as soon as the backward pass has finished every gradient in it, while the
/// backward pass goes on through the earlier layers (containers report their progress through
/// `ReportsFinishedGradients`). The buckets, their order and their sums are the same as without
/// overlap, so the bits are too; only the waiting differs.
package final class GradientReducer {
    package let communicator: any Communicator
    private let pipeline: BucketPipeline?
    /// The step's summed loss and correct count, all-reduced in place (kept, not made per step).
    private var figures = [0.0, 0.0]
    /// A stop request, summed over the ranks (kept, not made per step).
    private var stopFlag = [0.0]
    /// The batch norms' link to the other processes (nil: per-process statistics).
    private let batchNormSynchronization: BatchNormSynchronization?

    /// 1 MiB buckets (262,144 values): small enough that the backward pass finishes the first
    /// ones early (airbench's last conv group alone fills four), large enough that a bucket's
    /// message latencies stay small against its transfer at 10 Gbit/s (0.8 ms). Measured with
    /// overlap at 100 Mbit/s (Docs/DISTRIBUTED.md): 4 MiB hid less of the sum, 256 KiB gained
    /// less and cost more on one host.
    package static let defaultBucketFloats = 1 << 18

    /// Whether this reducer sums buckets while the backward pass runs.
    package var overlaps: Bool { pipeline?.worker != nil }

    /// A reducer of `network`'s gradients. With `synchronizingBatchNorm` and more than one
    /// process, its batch norms normalise with the statistics of the whole global batch (their
    /// sums go through `communicator`); otherwise each process uses its shard's. With
    /// `overlapping`, more than one process and a communicator whose gradient sums may run on
    /// another thread, buckets are summed during the backward pass.
    package init(network: any Layer, communicator: any Communicator, synchronizingBatchNorm: Bool = false,
                 bucketFloats: Int = GradientReducer.defaultBucketFloats, overlapping: Bool = false) {
        self.communicator = communicator
        if synchronizingBatchNorm && communicator.size > 1 {
            let synchronization = BatchNormSynchronization { [communicator] in communicator.allreduceSum(&$0) }
            for norm in batchNorms(in: network) { norm.synchronization = synchronization }
            batchNormSynchronization = synchronization
        } else {
            batchNormSynchronization = nil
        }
        pipeline = communicator.size > 1
            ? BucketPipeline(parameters: network.namedParameters.map(\.parameter), communicator: communicator,
                             bucketFloats: max(1, bucketFloats),
                             overlapping: overlapping && communicator.allowsGradientSumsOnAnotherThread)
            : nil
    }

    deinit { pipeline?.stop() }

    /// Whether `flag` is true on any rank (a stop request seen by one rank stops them all at the
    /// same step), without allocating. One process needs no message.
    package func anyRank(_ flag: Bool) -> Bool {
        guard communicator.size > 1 else { return flag }
        stopFlag[0] = flag ? 1 : 0
        communicator.allreduceSum(&stopFlag)
        return stopFlag[0] > 0
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
        // Every gradient becomes `sum over ranks of weight x gradient`: bucket by bucket as the
        // backward pass finishes them when overlapping, else all after it.
        pipeline?.begin(scale: weight)
        if let pipeline, pipeline.worker != nil {
            _ = network.backwardReporting(loss.backward()) { pipeline.finished(from: $0) }
        } else {
            _ = network.backward(loss.backward())
        }
        pipeline?.finish()
        return (figures[0], Int(figures[1]))
    }

    /// Makes every rank's parameters rank 0's (the start of a run, so the copies cannot differ
    /// even where their setup could, such as a whitening computed with other thread counts).
    package func broadcastParameters() {
        guard let pipeline else { return }
        for p in pipeline.parameters {
            p.value.withUnsafeMutableBufferPointer { communicator.broadcast($0, from: 0) }
        }
    }
}

/// The buckets of one reducer and, when overlapping, the thread that sums them. Bucket j holds
/// the gradient values at flat positions `max(0, total - (j+1) B) ..< total - j B` (B =
/// `bucketFloats`), so bucket 0 holds the last parameters' gradients, which the backward pass
/// finishes first. The main thread calls `begin`, then `finished(from:)` as the backward pass
/// goes and `finish()` at its end; each bucket is summed once, in order 0, 1, ..., on the worker
/// thread when there is one, else on the caller's.
private final class BucketPipeline: @unchecked Sendable {
    let parameters: [Parameter]
    private let communicator: any Communicator
    /// Flat position of each parameter's first value, and the total (the last entry).
    private let parameterStarts: [Int]
    private let bucketFloats: Int
    private let bucketCount: Int
    private var buffer: [Float]
    /// Set by `begin` before the step's first bucket is handed over (the semaphore orders it).
    private var scale: Float = 1
    /// Buckets handed over this step (main thread only).
    private var launched = 0
    /// The worker's next bucket (worker thread only, or the caller's without a worker).
    private var next = 0
    private let work = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private var stopping = false
    private(set) var worker: Thread?

    init(parameters: [Parameter], communicator: any Communicator, bucketFloats: Int, overlapping: Bool) {
        self.parameters = parameters
        self.communicator = communicator
        var starts = [0]
        for p in parameters { starts.append(starts.last! + p.grad.count) }
        parameterStarts = starts
        let total = starts.last!
        self.bucketFloats = bucketFloats
        bucketCount = (total + bucketFloats - 1) / bucketFloats
        buffer = [Float](repeating: 0, count: min(total, bucketFloats))
        if overlapping && bucketCount > 0 {
            let thread = Thread { [self] in runWorker() }
            thread.name = "gradient all-reduce"
            worker = thread
            thread.start()
        }
    }

    private var total: Int { parameterStarts[parameterStarts.count - 1] }

    private func bucket(_ j: Int) -> Range<Int> {
        max(0, total - (j + 1) * bucketFloats) ..< total - j * bucketFloats
    }

    func begin(scale: Float) {
        self.scale = scale
        launched = 0
    }

    /// The gradients of parameters `first...` are final: hand over every bucket they complete.
    func finished(from first: Int) {
        let ready = parameterStarts[first]
        while launched < bucketCount && bucket(launched).lowerBound >= ready {
            launched += 1
            if worker != nil { work.signal() } else { sumNextBucket() }
        }
    }

    /// Every gradient is final: hands over the remaining buckets and returns when every bucket
    /// of the step is summed and unpacked.
    func finish() {
        finished(from: 0)
        guard worker != nil else { return }
        for _ in 0 ..< bucketCount { done.wait() }
    }

    func stop() {
        guard worker != nil else { return }
        stopping = true
        work.signal()
    }

    private func runWorker() {
        while true {
            work.wait()
            if stopping { return }
            sumNextBucket()
            done.signal()
        }
    }

    /// Packs bucket `next` (times the scale), sums it over the ranks and unpacks it.
    private func sumNextBucket() {
        let range = bucket(next)
        next = next + 1 == bucketCount ? 0 : next + 1
        let scale = self.scale
        buffer.withUnsafeMutableBufferPointer { b in
            forEachSegment(of: range) { g, offset, n in for i in 0 ..< n { b[offset + i] = g[i] * scale } }
            communicator.allreduceSum(UnsafeMutableBufferPointer(rebasing: b[0 ..< range.count]))
            forEachSegment(of: range) { g, offset, n in for i in 0 ..< n { g[i] = b[offset + i] } }
        }
    }

    /// Calls `body(gradient values, offset in the bucket, count)` for each parameter's part of
    /// the flat range `range`.
    private func forEachSegment(of range: Range<Int>, _ body: (UnsafeMutablePointer<Float>, Int, Int) -> Void) {
        // The last parameter starting at or before the range (starts ascend; few parameters).
        var p = 0
        while parameterStarts[p + 1] <= range.lowerBound { p += 1 }
        var position = range.lowerBound
        while position < range.upperBound {
            let start = parameterStarts[p], end = min(parameterStarts[p + 1], range.upperBound)
            if end > position {
                parameters[p].grad.withUnsafeMutableBufferPointer { g in
                    body(g.baseAddress! + (position - start), position - range.lowerBound, end - position)
                }
            }
            position = end
            p += 1
        }
    }
}

/// Every batch norm in `layer`, in forward order.
func batchNorms(in layer: any Layer) -> [BatchNorm2d] {
    layer.layerTree.compactMap { $0 as? BatchNorm2d }
}
