import ArgumentParser
import Foundation
import Kernels
import Training

/// `featuremaps gradient-check` (hidden): checks the data-parallel gradient arithmetic. Every
/// process computes the gradient of one global batch of random images the way `train-cifar`
/// does (its shard, then the sum over the processes); rank 0 also computes the gradient of the
/// whole batch alone and compares them. Run under `mpirun -np N` (Scripts/check_mpi.sh);
/// alone it compares the single-process path with itself.
struct GradientCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradient-check",
        abstract: "Compare the data-parallel gradient of a batch with the gradient computed by one process.",
        shouldDisplay: false)

    @Option(help: ArgumentHelp("The network: a preset or a layer spec (without batch norm: per-process statistics change the gradient).", valueName: "arch"))
    var arch = "seed"
    @Option(help: "Images in the global batch.")
    var batchSize = 32
    @Option(help: "Seed of the weights, the images and the labels.")
    var seed: UInt64 = 0
    @Option(help: "Largest accepted relative difference (per tensor: max |distributed - single| / max |single|, or of the network's where a tensor's is below 1e-4 of that).")
    var tolerance = 1e-5
    @Flag(name: .customLong("sync-bn"), help: "Synchronised batch norm, as train-cifar --sync-bn.")
    var syncBN = false
    @Flag(help: "Also sum the gradient during the backward pass, as train-cifar --overlap-gradients: it must give the same bits as after it.")
    var overlapGradients = false
    @Option(help: "fp32 values per all-reduced bucket (small: many buckets, to exercise their cut).")
    var bucketFloats = GradientReducer.defaultBucketFloats
    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        if bucketFloats < 1 { throw ValidationError("--bucket-floats must be at least 1") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if !(tolerance >= 0) { throw ValidationError("--tolerance must be a non-negative number") }
    }

    func run() throws {
        let processes = try Processes.join()
        try processes.run { try check(processes.communicator) }
    }

    private func check(_ communicator: any Communicator) throws {
        guard batchSize >= communicator.size else {
            throw CommandFailure("--batch-size \(batchSize) gives some of the \(communicator.size) processes no image")
        }
        var rng = SeededGenerator(seed: seed &+ 1)
        let images = Tensor.normal(shape: [batchSize, 3, 32, 32], std: 1, using: &rng)
        let labels = (0 ..< batchSize).map { _ in Int(rng.next() % 10) }
        func gradients(_ range: Range<Int>, _ communicator: any Communicator, overlapping: Bool = false) throws -> [(name: String, grad: Tensor)] {
            let network = try ModelZoo.build(arch, seed: seed).train()
            let per = images.count / batchSize
            var shard = Tensor(shape: [range.count, 3, 32, 32])
            shard.storage = Array(images.storage[range.lowerBound * per ..< range.upperBound * per])
            let reducer = GradientReducer(network: network, communicator: communicator, synchronizingBatchNorm: syncBN,
                                          bucketFloats: bucketFloats, overlapping: overlapping)
            if overlapping && communicator.size > 1 && !reducer.overlaps {
                throw CommandFailure("--overlap-gradients: this MPI library does not allow calls from two threads (MPI_THREAD_MULTIPLE)")
            }
            _ = reducer.globalGradient(of: network, loss: SoftmaxCrossEntropy(), shard: shard, labels: Array(labels[range]), batchCount: batchSize)
            return network.namedParameters.map { ($0.name, $0.parameter.grad) }
        }
        let threadCount = threads.threads ?? Processes.defaultThreads()
        let shard = BatchShard.range(of: 0 ..< batchSize, rank: communicator.rank, size: communicator.size)
        let distributed = try Parallelism.withThreadCount(threadCount) { try gradients(shard, communicator) }
        // Overlapped sums: the same buckets in the same order, so the same bits on every rank.
        var overlapNote = ""
        if overlapGradients {
            let overlapped = try Parallelism.withThreadCount(threadCount) { try gradients(shard, communicator, overlapping: true) }
            let same = zip(distributed, overlapped).allSatisfy { zip($0.grad.storage, $1.grad.storage).allSatisfy { $0.bitPattern == $1.bitPattern } }
            var unequal = [same ? 0.0 : 1.0]
            communicator.allreduceSum(&unequal)
            guard unequal[0] == 0 else {
                throw CommandFailure("gradient check: the gradient summed during the backward pass differs from the one summed after it: FAILED")
            }
            overlapNote = "; summed during the backward pass: the same bits"
        }
        guard communicator.rank == 0 else { return }
        let single = try Parallelism.withThreadCount(threadCount) { try gradients(0 ..< batchSize, SingleProcess()) }
        // Relative to the tensor's largest element, except for a tensor whose gradient is below
        // 1e-4 of the network's largest: that is one zero in exact arithmetic (a bias just before
        // a batch norm), whose fp32 value is rounding noise no summation order reproduces, so it
        // is compared against the network's largest (the usual norm-wise relative difference).
        func largest(_ t: Tensor) -> Double { t.storage.reduce(0) { max($0, abs(Double($1))) } }
        let network = single.reduce(0) { max($0, largest($1.grad)) }
        var worst = (difference: 0.0, name: "every tensor")
        for ((name, d), (_, s)) in zip(distributed, single) {
            let diff = zip(d.storage, s.storage).reduce(0) { max($0, abs(Double($1.0) - Double($1.1))) }
            let scale = largest(s) >= 1e-4 * network ? largest(s) : network
            let relative = diff / max(scale, .leastNormalMagnitude)
            // NaN compares false: treat it as the worst.
            if !(relative <= worst.difference) { worst = (relative, name) }
        }
        // What each step all-reduces (Docs/DISTRIBUTED.md's cost model).
        let values = single.reduce(0) { $0 + $1.grad.count }
        let line = String(format: "gradient check: %@ (%d parameters, %d bytes all-reduced per step), global batch %d over %d processes: largest relative difference %.3g (%@), tolerance %.3g%@",
                          arch, values, 4 * values, batchSize, communicator.size, worst.difference, worst.name, tolerance, overlapNote)
        guard worst.difference <= tolerance else { throw CommandFailure(line + ": FAILED") }
        print(line + ": ok")
    }
}
