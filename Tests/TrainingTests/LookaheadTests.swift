import Foundation
import Testing
import Kernels
import Training

@Suite struct LookaheadTests {
    func smallNet() -> Sequential {
        var rng = SeededGenerator(seed: 5)
        return Sequential(rng: &rng) {
            Conv2d(inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1)
            BatchNorm2d(numFeatures: 3)
            ReLU()
            Flatten()
            Linear(inFeatures: 3 * 4 * 4, outFeatures: 10)
        }
    }

    @Test func decayIsAirbenchs() {
        // 0.95^5 (k/T)^3 at step k of T.
        #expect(abs(Lookahead.decay(afterStep: 5, of: 476) - Float(0.7737809375 * pow(5.0 / 476, 3))) < 1e-9)
        #expect(abs(Lookahead.decay(afterStep: 476, of: 476) - 0.7737809375) < 1e-7)
        #expect(Lookahead.updates(afterStep: 10) && !Lookahead.updates(afterStep: 11))
    }

    @Test func updateAveragesEveryTensorAndCopiesTheAverageBack() throws {
        let net = smallNet()
        let lookahead = Lookahead(net)
        let start = net.namedParameters.map { $0.parameter.value } + net.namedBuffers.map(\.tensor)
        // Move every parameter and running statistic, then update with decay 0.75.
        net.training = true
        var rng = SeededGenerator(seed: 9)
        _ = net(Tensor.normal(shape: [4, 2, 4, 4], std: 1, using: &rng))      // running stats and the counter move
        for (_, p) in net.namedParameters { p.value = Tensor(shape: p.value.shape, storage: p.value.storage.map { $0 + 1 }) }
        let moved = net.namedParameters.map { $0.parameter.value } + net.namedBuffers.map(\.tensor)
        lookahead.update(net, decay: 0.75)
        let after = net.namedParameters.map { $0.parameter.value } + net.namedBuffers.map(\.tensor)
        let names = net.namedParameters.map(\.name) + net.namedBuffers.map(\.name)
        for (i, name) in names.enumerated() {
            if name.hasSuffix("num_batches_tracked") {
                #expect(after[i] == moved[i], "the counter is not averaged")
                continue
            }
            for j in 0 ..< after[i].count {
                #expect(abs(after[i].storage[j] - (0.75 * start[i].storage[j] + 0.25 * moved[i].storage[j])) < 1e-6, "\(name)[\(j)]")
            }
        }
        #expect(lookahead.average.map(\.name) == names.filter { !$0.hasSuffix("num_batches_tracked") })
        // The network moves on; finish puts the average back.
        for (_, p) in net.namedParameters { p.value = Tensor(shape: p.value.shape, storage: p.value.storage.map { $0 * 3 }) }
        lookahead.finish(net)
        #expect(net.namedParameters.map { $0.parameter.value } == Array(after.prefix(net.namedParameters.count)))
    }

    @Test func restoreNeedsEveryTensor() throws {
        let net = smallNet()
        let a = Lookahead(net), b = Lookahead(smallNet())
        var saved = [String: Tensor]()
        for (name, t) in a.average { saved[name] = Tensor(shape: t.shape, storage: t.storage.map { $0 + 2 }) }
        try b.restore(saved)
        #expect(b.average.map(\.tensor) == a.average.map { Tensor(shape: $0.tensor.shape, storage: $0.tensor.storage.map { $0 + 2 }) })
        saved.removeValue(forKey: "0.weight")
        #expect(throws: TrainingError.self) { try b.restore(saved) }
    }
}
