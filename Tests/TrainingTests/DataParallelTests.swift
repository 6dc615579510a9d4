import Foundation
import Testing
import Kernels
import Training

/// A stand-in for rank `rank` of `size` processes, in this process: each gradient bucket it is
/// asked to sum is recorded, and `others` (the other ranks' buckets, in order) are added to it.
/// The logged figures and broadcasts stay as they are.
private final class SimulatedRank: Communicator {
    let rank: Int, size: Int
    var others: [[Float]]
    var sent = [[Float]]()
    init(rank: Int, size: Int, others: [[Float]] = []) { (self.rank, self.size, self.others) = (rank, size, others) }
    func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) {
        sent.append(Array(values))
        if sent.count <= others.count {
            let other = others[sent.count - 1]
            for i in values.indices { values[i] += other[i] }
        }
    }
    func allreduceSum(_ values: inout [Double]) {}
    func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) {}
    func broadcast(bytes: [UInt8]?, from root: Int) -> [UInt8]? { bytes }
}

/// The parts of data-parallel training that need no MPI: the shards of a batch, the gradient
/// packing and weighting, the single-process path, and resuming with another process count.
/// (The MPI side runs under mpirun in Scripts/check_mpi.sh.)
@Suite struct DataParallelTests {
    @Test func shardsAreDisjointContiguousAndCoverTheBatch() {
        for size in 1 ... 5 {
            for start in [0, 7] {
                for count in size ... 23 {
                    let batch = start ..< start + count
                    let shards = (0 ..< size).map { BatchShard.range(of: batch, rank: $0, size: size) }
                    #expect(shards.first?.lowerBound == batch.lowerBound && shards.last?.upperBound == batch.upperBound)
                    #expect(zip(shards, shards.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
                    let counts = shards.map(\.count)
                    #expect(counts.max()! - counts.min()! <= 1 && counts.min()! >= 1, "\(batch) over \(size): \(counts)")
                }
            }
        }
    }

    /// The single-process reducer leaves the gradient of a plain forward/backward bit for bit.
    @Test func oneProcessGradientIsThePlainGradient() throws {
        let (images, labels) = batch(count: 12)
        let plain = try ModelZoo.build("seed", seed: 3).train()
        let loss = SoftmaxCrossEntropy()
        let value = loss(plain(images), labels: labels)
        _ = plain.backward(loss.backward())
        let reduced = try ModelZoo.build("seed", seed: 3).train()
        let reducer = GradientReducer(network: reduced, communicator: SingleProcess())
        let figures = reducer.globalGradient(of: reduced, loss: SoftmaxCrossEntropy(), shard: images, labels: labels, batchCount: 12)
        #expect(figures.lossSum == Double(value) * 12)
        for (a, b) in zip(plain.namedParameters, reduced.namedParameters) {
            #expect(a.parameter.grad.storage == b.parameter.grad.storage, "\(a.name)")
        }
    }

    /// Two simulated ranks with uneven shards (7 + 6) and buckets smaller than a tensor (so they
    /// cross parameter boundaries): the summed, weighted gradient is the whole batch's, for a
    /// mean loss and for a summed one.
    @Test func twoShardsSumToTheWholeBatchGradient() throws {
        let (images, labels) = batch(count: 13)
        for reduction in [LossReduction.mean, .sum] {
            let whole = try ModelZoo.build("seed", seed: 4).train()
            let reference = GradientReducer(network: whole, communicator: SingleProcess())
            _ = reference.globalGradient(of: whole, loss: SoftmaxCrossEntropy(reduction: reduction), shard: images, labels: labels, batchCount: 13)

            func run(rank: Int, _ communicator: SimulatedRank) throws -> any Layer {
                let net = try ModelZoo.build("seed", seed: 4).train()
                let shard = BatchShard.range(of: 0 ..< 13, rank: rank, size: 2)
                let per = images.count / 13
                var part = Tensor(shape: [shard.count, 3, 32, 32])
                part.storage = Array(images.storage[shard.lowerBound * per ..< shard.upperBound * per])
                let reducer = GradientReducer(network: net, communicator: communicator, bucketFloats: 1000)
                _ = reducer.globalGradient(of: net, loss: SoftmaxCrossEntropy(reduction: reduction), shard: part, labels: Array(labels[shard]), batchCount: 13)
                return net
            }
            let one = SimulatedRank(rank: 1, size: 2)
            _ = try run(rank: 1, one)
            #expect(one.sent.count > 1 && one.sent.dropLast().allSatisfy { $0.count == 1000 })
            let zero = try run(rank: 0, SimulatedRank(rank: 0, size: 2, others: one.sent))
            for (a, b) in zip(zero.namedParameters, whole.namedParameters) {
                let scale = b.parameter.grad.storage.reduce(0) { max($0, abs($1)) }
                let diff = zip(a.parameter.grad.storage, b.parameter.grad.storage).reduce(0) { max($0, abs($1.0 - $1.1)) }
                #expect(scale > 0 && diff <= 1e-5 * scale, "\(reduction) \(a.name): \(diff) of \(scale)")
            }
        }
    }

    /// A rank other than 0 trains but writes nothing: no output folder, no model, no test score.
    @Test func onlyRankZeroWrites() throws {
        let data = syntheticData(train: 32, test: 10)
        var o = TrainingOptions.preset(for: "seed")
        (o.batchSize, o.epochs, o.threads) = (8, 1, 1)
        let folder = try Fixture.temporaryFolder().appendingPathComponent("rank1").path
        let trainer = Trainer(options: o, data: data, outputFolder: folder)
        trainer.communicator = SimulatedRank(rank: 1, size: 2)
        let result = try trainer.run()
        #expect(!result.interrupted && result.testAccuracy == nil && result.records.count == 1)
        #expect(!FileManager.default.fileExists(atPath: folder))
    }

    /// The checkpoint records how many processes trained; resuming with another count is refused
    /// (the shards and the order of the gradient sums would differ), naming then and now.
    @Test func resumeRefusesAnotherProcessCount() throws {
        let (o, data, folder) = try stoppedTinyRun("seed")
        let path = folder + "/checkpoint.safetensors"
        #expect(try Safetensors.read(path: path).metadata["ranks"] == "1")
        let alone = try Data(contentsOf: URL(fileURLWithPath: path))
        // A one-process checkpoint resumed by two.
        let two = Trainer(options: o, data: data, outputFolder: folder)
        two.communicator = SimulatedRank(rank: 0, size: 2)
        do {
            _ = try two.run(resume: true)
            Issue.record("resumed a one-process run with two")
        } catch let TrainingError.checkpointMismatch(p, differences) {
            #expect(p == path && differences == [SettingDifference(name: "ranks", then: "1", now: "2")])
        }
        // A two-process checkpoint resumed by one.
        let edited = try HostileFile.editedMetadata([UInt8](alone)) { $0["ranks"] = "2" }
        try Data(edited).write(to: URL(fileURLWithPath: path))
        let message = Fixture.message { _ = try Trainer(options: o, data: data, outputFolder: folder).run(resume: true) }
        #expect(message.contains("ranks: 2 then, 1 now"), "\(message)")
        // The same count resumes.
        try alone.write(to: URL(fileURLWithPath: path))
        #expect(try !Trainer(options: o, data: data, outputFolder: folder).run(resume: true).interrupted)
    }

    private func batch(count: Int) -> (Tensor, [Int]) {
        var rng = SeededGenerator(seed: 11)
        let images = Tensor.normal(shape: [count, 3, 32, 32], std: 1, using: &rng)
        return (images, (0 ..< count).map { _ in Int(rng.next() % 10) })
    }
}

/// Overlapping the gradient sums with the backward pass.
@Suite struct GradientOverlapTests {
    /// A stand-in for rank 0 of 2 whose "other rank" adds a fixed pattern to every bucket, and
    /// which lets its gradient sums run on the reducer's thread. It signals `arrived` when it is
    /// given a bucket.
    private final class ThreadedRank: Communicator, @unchecked Sendable {
        let rank = 0, size = 2
        let arrived = DispatchSemaphore(value: 0)
        var allowsGradientSumsOnAnotherThread: Bool { true }
        func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) {
            for i in values.indices { values[i] = values[i] * 3 + Float(i % 7) }
            arrived.signal()
        }
        func allreduceSum(_ values: inout [Double]) {}
        func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) {}
        func broadcast(bytes: [UInt8]?, from root: Int) -> [UInt8]? { bytes }
    }

    /// The network's first layer: an identity whose backward (the last to run) waits up to
    /// `patience` seconds for a bucket to reach the communicator. With overlap, the later
    /// layers' buckets are on their way by then; without it, none is until the backward pass ends.
    private final class WaitsForABucket: Layer {
        let communicator: ThreadedRank
        let patience: Double
        var sawABucketDuringBackward = false
        init(_ communicator: ThreadedRank, patience: Double) { (self.communicator, self.patience) = (communicator, patience) }
        var training = true
        var namedParameters: [(name: String, parameter: Parameter)] { [] }
        func callAsFunction(_ x: Tensor) -> Tensor { x }
        func backward(_ gradOutput: Tensor) -> Tensor {
            sawABucketDuringBackward = communicator.arrived.wait(timeout: .now() + patience) == .success
            if sawABucketDuringBackward { communicator.arrived.signal() }
            return gradOutput
        }
    }

    private func step(overlapping: Bool, bucketFloats: Int) throws -> (gradients: [[Float]], early: Bool, overlaps: Bool) {
        let communicator = ThreadedRank()
        // Long enough for a loaded machine when a bucket is due; short when none can come.
        let gate = WaitsForABucket(communicator, patience: overlapping && bucketFloats < 30_000 ? 20 : 0.2)
        var rng = SeededGenerator(seed: 8)
        let body = try ModelZoo.build("seed", seed: 8)
        let net = Sequential { gate; body }.train()
        let images = Tensor.normal(shape: [6, 3, 32, 32], std: 1, using: &rng)
        let labels = (0 ..< 6).map { $0 % 10 }
        let reducer = GradientReducer(network: net, communicator: communicator, bucketFloats: bucketFloats, overlapping: overlapping)
        _ = reducer.globalGradient(of: net, loss: SoftmaxCrossEntropy(), shard: images, labels: labels, batchCount: 12)
        return (net.namedParameters.map(\.parameter.grad.storage), gate.sawABucketDuringBackward, reducer.overlaps)
    }

    /// With overlap, buckets reach the communicator while the backward pass still runs, and the
    /// result is the same bits as summing after it (same buckets, same order), for buckets that
    /// split tensors and for one bucket of everything.
    @Test func overlappedSumsStartDuringTheBackwardPassAndGiveTheSameBits() throws {
        for bucketFloats in [1000, GradientReducer.defaultBucketFloats] {
            let overlapped = try step(overlapping: true, bucketFloats: bucketFloats)
            #expect(overlapped.overlaps)
            if bucketFloats == 1000 { #expect(overlapped.early, "no bucket reached the communicator before the backward pass ended") }
            let after = try step(overlapping: false, bucketFloats: bucketFloats)
            #expect(!after.overlaps && !after.early)
            #expect(after.gradients == overlapped.gradients)
        }
    }

    /// A communicator that keeps every call on one thread gets no overlap, even when asked.
    @Test func noOverlapWithoutACommunicatorThatAllowsIt() throws {
        let reducer = GradientReducer(network: try ModelZoo.build("seed", seed: 1), communicator: OneThreadRank(), overlapping: true)
        #expect(!reducer.overlaps)
    }

    private final class OneThreadRank: Communicator {
        let rank = 0, size = 2
        func allreduceSum(_ values: UnsafeMutableBufferPointer<Float>) {}
        func allreduceSum(_ values: inout [Double]) {}
        func broadcast(_ values: UnsafeMutableBufferPointer<Float>, from root: Int) {}
        func broadcast(bytes: [UInt8]?, from root: Int) -> [UInt8]? { bytes }
    }
}
