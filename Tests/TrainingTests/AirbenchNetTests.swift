import Testing
import Kernels
import Training

/// The airbench preset's network against nets_torch.py's net_a: keys, shapes, frozen parameters,
/// initialisation and the sizes each stage produces.
@Suite struct AirbenchNetTests {
    @Test func stateDictIsNetAs() {
        let net = ModelZoo.airbench(seed: 0)
        var expected: [(String, [Int])] = [("0.weight", [24, 3, 2, 2]), ("0.bias", [24])]
        for (index, (cin, cout)) in [(24, 64), (64, 256), (256, 256)].enumerated() {
            let g = index + 2
            expected += [("\(g).conv1.weight", [cout, cin, 3, 3]), ("\(g).norm1.weight", [cout]), ("\(g).norm1.bias", [cout]),
                         ("\(g).conv2.weight", [cout, cout, 3, 3]), ("\(g).norm2.weight", [cout]), ("\(g).norm2.bias", [cout])]
        }
        expected.append(("7.weight", [10, 256]))
        #expect(net.namedParameters.map(\.name) == expected.map(\.0))
        #expect(net.namedParameters.map(\.parameter.value.shape) == expected.map(\.1))
        let buffers = (2 ... 4).flatMap { g in
            ["norm1", "norm2"].flatMap { n in ["running_mean", "running_var", "num_batches_tracked"].map { "\(g).\(n).\($0)" } }
        }
        #expect(net.namedBuffers.map(\.name) == buffers)
        // PyTorch's requires_grad = False: the whitening weight and every batch-norm scale.
        let frozen = net.namedParameters.filter(\.parameter.isFrozen).map(\.name)
        #expect(frozen == ["0.weight"] + (2 ... 4).flatMap { ["\($0).norm1.weight", "\($0).norm2.weight"] })
    }

    @Test func parameterGroupsAreNormBiasesAndTheRest() throws {
        let net = ModelZoo.airbench(seed: 0)
        let groups = ModelZoo.airbenchParameterGroups(net)
        #expect(groups.normBiases.map(\.name) == (2 ... 4).flatMap { ["\($0).norm1.bias", "\($0).norm2.bias"] })
        #expect(groups.others.map(\.name) == ["0.bias"] + (2 ... 4).flatMap { ["\($0).conv1.weight", "\($0).conv2.weight"] } + ["7.weight"])
        // Asked again once the whitening bias is frozen, the groups leave it out.
        try #require(net["0"] as? Conv2d).bias?.isFrozen = true
        #expect(ModelZoo.airbenchParameterGroups(net).others.first?.name == "2.conv1.weight")
    }

    @Test func stagesShrink32To1() {
        let net = ModelZoo.airbench(seed: 0)
        net.training = false
        var rng = SeededGenerator(seed: 1)
        var x = Tensor.normal(shape: [2, 3, 32, 32], std: 1, using: &rng)
        var sizes = [Int]()
        for (_, layer) in net.children {
            x = layer(x)
            sizes.append(x.rank == 4 ? x.shape[2] : -x.shape[1])
        }
        // whitening 31, GELU 31, groups 15 / 7 / 3, pool 1, flatten [2, 256], linear and scale [2, 10]
        #expect(sizes == [31, 31, 15, 7, 3, 1, -256, -10, -10])
    }

    @Test func initialisationIsNetAs() throws {
        let net = ModelZoo.airbench(seed: 3)
        let group = try #require(net["2"] as? ConvGroup)
        // The first 24 filters of conv1 are identities at the centre tap; the other 40 are PyTorch's
        // default (bound 1/sqrt(24*9)).
        let w = group.conv1.weight.value
        for o in 0 ..< 24 {
            for i in 0 ..< 24 {
                for y in 0 ..< 3 { for x in 0 ..< 3 { #expect(w[o, i, y, x] == (o == i && y == 1 && x == 1 ? 1 : 0)) } }
            }
        }
        let bound = 1 / Float(24 * 9).squareRoot()
        let rest = Array(w.storage[(24 * 24 * 9)...])
        #expect(rest.allSatisfy { abs($0) <= bound } && rest.contains { abs($0) > bound / 2 })
        #expect(group.norm1.weight.value.storage.allSatisfy { $0 == 1 } && group.norm1.bias.value.storage.allSatisfy { $0 == 0 })
        #expect(group.norm1.eps == 1e-12 && group.norm1.momentum == 0.4)
        let whitening = try #require(net["0"] as? Conv2d)
        #expect(whitening.bias?.value.storage.allSatisfy { $0 == 0 } == true)
        #expect(whitening.weight.value[2, 2, 1, 1] == 1 && whitening.weight.value[2, 1, 1, 1] == 0)
        // The same seed gives the same network.
        #expect(ModelZoo.airbench(seed: 3).namedParameters.map(\.parameter.value) == net.namedParameters.map(\.parameter.value))
    }

    @Test func trainingStepLeavesFrozenParametersAlone() throws {
        let net = ModelZoo.airbench(seed: 0)
        var rng = SeededGenerator(seed: 2)
        let x = Tensor.normal(shape: [4, 3, 32, 32], std: 1, using: &rng)
        let parameters = net.namedParameters
        let before = parameters.map(\.parameter.value)
        let sgd = SGD(parameters: parameters.map(\.parameter), momentum: 0.9, weightDecay: 0.01, nesterov: true)
        let loss = SoftmaxCrossEntropy()
        _ = loss(net(x), labels: [0, 1, 2, 3])
        #expect(net.backward(loss.backward()).count == 0)  // the images' gradient is not computed
        sgd.step(learningRate: 0.1)
        for (index, (name, parameter)) in parameters.enumerated() {
            #expect((parameter.value == before[index]) == parameter.isFrozen, "\(name)")
        }
        // Unfrozen at run time, the whitening weight moves at the next step.
        let whitening = try #require(net["0"] as? Conv2d)
        whitening.weight.isFrozen = false
        whitening.bias?.isFrozen = true
        let (weight, bias) = (whitening.weight.value, whitening.bias!.value)
        _ = loss(net(x), labels: [0, 1, 2, 3])
        _ = net.backward(loss.backward())
        sgd.step(learningRate: 0.1)
        #expect(whitening.weight.value != weight && whitening.bias!.value == bias)
    }
}
