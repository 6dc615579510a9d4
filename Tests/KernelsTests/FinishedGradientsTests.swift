import Testing
import Kernels

/// `ReportsFinishedGradients`: containers say during the backward pass which parameters'
/// gradients are final, which data-parallel training uses to sum them early.
@Suite struct FinishedGradientsTests {
    /// At every report p, the gradients of parameters p... already hold their final values and
    /// those before p have not been written yet; the reports never grow and end at 0. Checked on
    /// a net with every layer type, both fused steps and a residual block, and on a ConvGroup.
    @Test(arguments: ["small", "convGroup"])
    func reportsComeInOrderAndOnlyForFinalGradients(_ which: String) {
        var rng = SeededGenerator(seed: 5)
        let net: any Layer
        let x: Tensor
        if which == "small" {
            net = smallNet(&rng)
            x = Tensor.normal(shape: [3, 3, 11, 13], std: 1, using: &rng)
        } else {
            let group = ConvGroup(inChannels: 3, outChannels: 6)
            group.reset(using: &rng)
            net = Sequential { Conv2d(inChannels: 3, outChannels: 3, kernelSize: 1); group; Flatten() }
            net.reset(using: &rng)
            x = Tensor.normal(shape: [2, 3, 8, 8], std: 1, using: &rng)
        }
        net.train()
        let parameters = net.namedParameters.map(\.parameter)
        let dy = Tensor.normal(shape: net(x).shape, std: 1, using: &rng)
        _ = net.backward(dy)
        let final = parameters.map(\.grad.storage)

        // The same pass again, with every gradient first set to a value no backward pass writes.
        _ = net(x)
        for p in parameters { p.grad.storage = [Float](repeating: .nan, count: p.grad.count) }
        var reports = [Int]()
        _ = net.backwardReporting(dy) { p in
            reports.append(p)
            for (i, parameter) in parameters.enumerated() {
                let written = !parameter.grad.storage.contains { $0.isNaN }
                if i >= p {
                    #expect(parameter.grad.storage == final[i], "parameter \(i) not final at report \(p)")
                } else {
                    #expect(!written, "parameter \(i) written before report \(p) said so")
                }
            }
        }
        #expect(reports.last == 0 && zip(reports, reports.dropFirst()).allSatisfy { $0 >= $1 })
        // More than one report: the parameters are released in several groups, not all at the end.
        #expect(Set(reports).count > 2, "\(reports)")
    }
}
