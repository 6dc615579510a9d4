import Foundation
import Testing
import Kernels
import AllocationCounter

/// Two parties in one process summing vectors: each deposits its vector, and both receive the
/// element-wise sum (party 0's plus party 1's), as an all-reduce over two processes would give.
private final class TwoPartySum: @unchecked Sendable {
    private let condition = NSCondition()
    private var deposits: [[Double]?] = [nil, nil]
    private var result = [Double]()
    private var round = 0

    func sum(_ values: inout [Double], party: Int) {
        condition.lock()
        defer { condition.unlock() }
        deposits[party] = values
        if let a = deposits[0], let b = deposits[1] {
            result = zip(a, b).map { $0 + $1 }
            deposits = [nil, nil]
            round += 1
            condition.broadcast()
        } else {
            let mine = round
            while round == mine { condition.wait() }
        }
        values = result
    }
}

/// One shard's layer and data, run on its own thread.
private final class Party: @unchecked Sendable {
    let net: any Layer, norm: BatchNorm2d, input: Tensor, gradient: Tensor
    var y = Tensor.empty, dx = Tensor.empty
    init(net: any Layer, norm: BatchNorm2d, input: Tensor, gradient: Tensor) {
        (self.net, self.norm, self.input, self.gradient) = (net, norm, input, gradient)
    }
    func run() {
        Parallelism.withThreadCount(1) {
            y = net(input)
            dx = net.backward(gradient)
        }
    }
}

/// A batch norm with its GELU fused in, as `ConvGroup` runs them.
private final class NormGELU: Layer {
    let norm: BatchNorm2d
    init(_ norm: BatchNorm2d) { self.norm = norm }
    var training: Bool { get { norm.training } set { norm.training = newValue } }
    var namedParameters: [(name: String, parameter: Parameter)] { norm.namedParameters }
    func callAsFunction(_ x: Tensor) -> Tensor { norm.forward(x, activation: .gelu) }
    func backward(_ gradOutput: Tensor) -> Tensor { norm.backward(gradOutput) }
}

/// Synchronised batch norm (data-parallel `--sync-bn`): a batch split unevenly over two shards,
/// each normalised on its own thread with the sums exchanged, gives the whole batch's output,
/// running statistics and gradients (each shard's scaled by its weight in the loss).
@Suite struct BatchNormSyncTests {
    @Test(arguments: ["none", "relu", "gelu"])
    func twoShardsActAsTheWholeBatch(fused activation: String) throws {
        var rng = SeededGenerator(seed: 21)
        let (n, c, h, w) = (6, 3, 4, 5)
        let x = Tensor.normal(shape: [n, c, h, w], mean: 0.5, std: 2, using: &rng)
        // The loss's gradient per image; a mean loss divides by the images it saw.
        let perImage = Tensor.normal(shape: [n, c, h, w], std: 1, using: &rng)
        let per = c * h * w
        func slice(_ t: Tensor, _ r: Range<Int>, divided: Float = 1) -> Tensor {
            var s = Tensor(shape: [r.count, c, h, w])
            s.storage = t.storage[r.lowerBound * per ..< r.upperBound * per].map { $0 / divided }
            return s
        }
        func network() -> (any Layer, BatchNorm2d) {
            let norm = BatchNorm2d(numFeatures: c)
            norm.weight.value.storage = [1.5, 0.5, -1]
            norm.bias.value.storage = [0.1, -0.2, 0.3]
            switch activation {
            case "relu": return (Sequential { norm; ReLU() }, norm)
            case "gelu": return (NormGELU(norm), norm)
            default: return (norm, norm)
            }
        }
        let (whole, wholeNorm) = network()
        let (yWhole, dxWhole) = Parallelism.withThreadCount(1) { () -> (Tensor, Tensor) in
            let y = whole(x)
            return (y, whole.backward(slice(perImage, 0 ..< n, divided: Float(n))))
        }

        let shards = [0 ..< 4, 4 ..< 6]
        let exchange = TwoPartySum()
        let parties = shards.enumerated().map { party, shard in
            let (net, norm) = network()
            let sync = BatchNormSynchronization { exchange.sum(&$0, party: party) }
            sync.gradientWeight = Double(shard.count) / Double(n)
            norm.synchronization = sync
            return Party(net: net, norm: norm, input: slice(x, shard), gradient: slice(perImage, shard, divided: Float(shard.count)))
        }
        DispatchQueue.concurrentPerform(iterations: 2) { parties[$0].run() }
        let parts = parties.map { (y: $0.y, dx: $0.dx, norm: $0.norm) }
        func close(_ a: [Float], _ b: [Float], _ what: String) {
            let scale = b.reduce(0) { max($0, abs($1)) }
            let diff = zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
            #expect(a.count == b.count && diff <= 1e-5 * max(scale, 1), "\(what): \(diff) of \(scale)")
        }
        close(parts[0].y.storage + parts[1].y.storage, yWhole.storage, "output")
        // Each shard's dx is 1/weight times the whole batch's (its loss is its own mean).
        let dx = zip(parts, shards).flatMap { part, shard in part.dx.storage.map { $0 * Float(shard.count) / Float(n) } }
        close(dx, dxWhole.storage, "input gradient")
        for (name, get) in [("weight", { (b: BatchNorm2d) in b.weight.grad.storage }), ("bias", { (b: BatchNorm2d) in b.bias.grad.storage })] {
            let summed = (0 ..< c).map { ch in zip(parts, shards).reduce(Float(0)) { $0 + get($1.0.norm)[ch] * Float($1.1.count) / Float(n) } }
            close(summed, get(wholeNorm), "\(name) gradient")
        }
        for part in parts {
            close(part.norm.runningMean.storage, wholeNorm.runningMean.storage, "running mean")
            close(part.norm.runningVar.storage, wholeNorm.runningVar.storage, "running variance")
        }
        // Per-shard statistics (no synchronisation) differ: the test can tell them apart.
        let (alone, _) = network()
        let yAlone = Parallelism.withThreadCount(1) { alone.train()(slice(x, shards[1])) }
        let apart = zip(yAlone.storage, parts[1].y.storage).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
        #expect(apart > 1e-2)
    }

    /// A synchronised batch norm's steady-state forward and backward pass allocates nothing: its
    /// vectors of sums are kept between passes (the exchange here doubles them in place, as a
    /// second process with the same shard would).
    @Test(.enabled(if: allocation_counter_installed() == 1, allocationCounterAbsence))
    func synchronisedPassDoesNotAllocate() {
        var rng = SeededGenerator(seed: 4)
        let norm = BatchNorm2d(numFeatures: 5)
        let net = Sequential { Conv2d(inChannels: 3, outChannels: 5, kernelSize: 3, padding: 1); norm; ReLU(); BatchNorm2d(numFeatures: 5) }
        net.reset(using: &rng)
        let sync = BatchNormSynchronization { values in for i in values.indices { values[i] *= 2 } }
        sync.gradientWeight = 0.5
        for case let bn as BatchNorm2d in net.children.map(\.layer) { bn.synchronization = sync }
        net.train()
        let x = Tensor.normal(shape: [4, 3, 6, 7], std: 1, using: &rng)
        let dy = Tensor.normal(shape: [4, 5, 6, 7], std: 1, using: &rng)
        for _ in 0 ..< 3 { _ = net.backward(net(x)) }
        var fewest = UInt64.max
        parallelFor(2) { chunk in
            guard chunk.lowerBound == 0 else { return }
            fewest = fewestAllocations(seconds: 20) { _ = net(x); _ = net.backward(dy) }
        }
        #expect(fewest == 0, "a synchronised batch-norm step allocated at least \(fewest) times")
    }
}
