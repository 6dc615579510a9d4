import Testing
import Kernels

/// One batch-norm forward pass through the op with fresh running statistics.
private func batchNorm(_ x: Tensor, _ gamma: Tensor, _ beta: Tensor, training: Bool,
                       runningMean: Tensor? = nil, runningVar: Tensor? = nil) -> Tensor {
    let c = x.shape[1]
    var rm = runningMean ?? Tensor(shape: [c]), rv = runningVar ?? Tensor(shape: [c], repeating: 1)
    var mean = Tensor.empty, invStd = Tensor.empty, y = Tensor.empty
    batchNorm2dForward(x, weight: gamma, bias: beta, eps: 1e-5, momentum: 0.1, training: training,
                       runningMean: &rm, runningVar: &rv, savedMean: &mean, savedInvStd: &invStd, into: &y)
    return y
}

@Test func batchNormTrainingMatchesReferenceLoopsAndUpdatesRunningStatistics() {
    var rng = SeededGenerator(seed: 21)
    let (n, c, h, w) = (3, 4, 5, 3)
    let x = randomTensor([n, c, h, w], &rng, scale: 2)
    let gamma = randomTensor([c], &rng), beta = randomTensor([c], &rng)
    var rm = randomTensor([c], &rng), rv = Tensor.uniform(shape: [c], in: 0.5..<2, using: &rng)
    let rm0 = rm, rv0 = rv
    var mean = Tensor.empty, invStd = Tensor.empty, y = Tensor.empty
    batchNorm2dForward(x, weight: gamma, bias: beta, eps: 1e-5, momentum: 0.1, training: true,
                       runningMean: &rm, runningVar: &rv, savedMean: &mean, savedInvStd: &invStd, into: &y)
    let m = Double(n * h * w)
    for ch in 0..<c {
        var values: [Double] = []
        for img in 0..<n { for i in 0..<h { for j in 0..<w { values.append(Double(x[img, ch, i, j])) } } }
        let mu = values.reduce(0, +) / m
        let biased = values.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / m
        for img in 0..<n { for i in 0..<h { for j in 0..<w {
            let expected = (Double(x[img, ch, i, j]) - mu) / (biased + 1e-5).squareRoot() * Double(gamma[ch]) + Double(beta[ch])
            #expect(abs(Double(y[img, ch, i, j]) - expected) < 1e-5)
        }}}
        #expect(abs(Double(rm[ch]) - (0.9 * Double(rm0[ch]) + 0.1 * mu)) < 1e-6)
        #expect(abs(Double(rv[ch]) - (0.9 * Double(rv0[ch]) + 0.1 * biased * m / (m - 1))) < 1e-6)
    }
    // Evaluation normalises with the running statistics instead.
    let yEval = batchNorm(x, gamma, beta, training: false, runningMean: rm, runningVar: rv)
    let expected = (Double(x[1, 2, 3, 1]) - Double(rm[2])) / (Double(rv[2]) + 1e-5).squareRoot() * Double(gamma[2]) + Double(beta[2])
    #expect(abs(Double(yEval[1, 2, 3, 1]) - expected) < 1e-5)
}

@Test(arguments: [true, false])
func batchNormGradientsMatchFiniteDifferences(_ training: Bool) {
    var rng = SeededGenerator(seed: training ? 22 : 23)
    let x = randomTensor([3, 2, 3, 5], &rng, scale: 2)
    let gamma = Tensor.uniform(shape: [2], in: 0.5..<1.5, using: &rng), beta = randomTensor([2], &rng)
    let rm = randomTensor([2], &rng), rv = Tensor.uniform(shape: [2], in: 0.5..<2, using: &rng)
    var rmUsed = rm, rvUsed = rv
    var mean = Tensor.empty, invStd = Tensor.empty, y = Tensor.empty
    batchNorm2dForward(x, weight: gamma, bias: beta, eps: 1e-5, momentum: 0.1, training: training,
                       runningMean: &rmUsed, runningVar: &rvUsed, savedMean: &mean, savedInvStd: &invStd, into: &y)
    let r = randomTensor(y.shape, &rng)
    var dx = Tensor.empty, dg = Tensor.empty, db = Tensor.empty
    batchNorm2dBackward(input: x, weight: gamma, savedMean: mean, savedInvStd: invStd, gradOutput: r,
                        usedBatchStatistics: training, gradInput: &dx, gradWeight: &dg, gradBias: &db)
    let loss: (Tensor, Tensor, Tensor) -> Double = { x, g, b in
        weightedSum(batchNorm(x, g, b, training: training, runningMean: rm, runningVar: rv), r)
    }
    // In training the output is a smooth non-linear function of x (through the statistics): h = 1e-3.
    #expect(maxGradientError(at: x, analytic: dx, epsilon: 1e-3) { loss($0, gamma, beta) } < gradientTolerance)
    #expect(maxGradientError(at: gamma, analytic: dg, epsilon: 1e-2) { loss(x, $0, beta) } < gradientTolerance)
    #expect(maxGradientError(at: beta, analytic: db, epsilon: 1e-2) { loss(x, gamma, $0) } < gradientTolerance)
}

/// Float bit patterns: "the same bits" literally (NaN == NaN, -0 != +0).
private func bitPatterns(_ t: Tensor) -> [UInt32] { t.storage.map(\.bitPattern) }

/// Batch norm with a fused activation gives the bits of batch norm then the activation, forward
/// and backward (the backward given the activation output's gradient; a GELU's own gradient goes
/// into dx and is used in place), in training and evaluation mode, on planes of 63 values (the
/// vector loops' 32- and 16-wide steps and a scalar tail) and 49. The ReLU through the public
/// `applyingReLU`/`reluBias` form, the GELU through `activation`.
@Test(arguments: [(BatchNormActivation.relu, true, 9), (.relu, false, 9), (.gelu, true, 9), (.gelu, false, 9), (.gelu, true, 7)])
func batchNormWithFusedActivationEqualsTheTwoLayers(_ activation: BatchNormActivation, _ training: Bool, _ width: Int) {
    var rng = SeededGenerator(seed: (training ? 24 : 25) + (activation == .gelu ? 4 : 0))
    let (n, c) = (3, 5)
    let x = randomTensor([n, c, 7, width], &rng, scale: 2)
    let gamma = randomTensor([c], &rng), beta = randomTensor([c], &rng)
    let dz = randomTensor(x.shape, &rng)
    var results: [[[UInt32]]] = []
    for fused in [false, true] {
        var rm = Tensor(shape: [c], repeating: 0.5), rv = Tensor(shape: [c], repeating: 2)
        var mean = Tensor.empty, invStd = Tensor.empty, y = Tensor.empty, z = Tensor.empty
        var dx = Tensor.empty, dg = Tensor.empty, db = Tensor.empty
        if activation == .relu {
            batchNorm2dForward(x, weight: gamma, bias: beta, eps: 1e-5, momentum: 0.1, training: training, applyingReLU: fused,
                               runningMean: &rm, runningVar: &rv, savedMean: &mean, savedInvStd: &invStd, into: &y)
        } else {
            batchNorm2dForward(x, weight: gamma, bias: beta, eps: 1e-5, momentum: 0.1, training: training,
                               activation: fused ? .gelu : .none, runningMean: &rm, runningVar: &rv,
                               savedMean: &mean, savedInvStd: &invStd, into: &y)
        }
        var dy = dz
        switch (fused, activation) {
        case (true, _): z = y
        case (false, .relu):
            reluForward(y, into: &z)
            reluBackward(output: z, gradOutput: dz, into: &dy)
        default:
            geluForward(y, into: &z)
            geluBackward(input: y, gradOutput: dz, into: &dy)
        }
        if activation == .relu {
            batchNorm2dBackward(input: x, weight: gamma, savedMean: mean, savedInvStd: invStd, gradOutput: dy,
                                usedBatchStatistics: training, reluBias: fused ? beta : nil,
                                gradInput: &dx, gradWeight: &dg, gradBias: &db)
        } else {
            batchNorm2dBackward(input: x, weight: gamma, savedMean: mean, savedInvStd: invStd, gradOutput: dy,
                                usedBatchStatistics: training, activation: fused ? .gelu : .none, activationBias: fused ? beta : nil,
                                gradInput: &dx, gradWeight: &dg, gradBias: &db)
        }
        results.append([z, rm, rv, dx, dg, db].map(bitPatterns))
    }
    #expect(results[0] == results[1])
    if activation == .relu {
        #expect(results[1][0].contains(0) && results[1][0].contains { $0 != 0 })  // the ReLU cut some values, not all
    } else {
        #expect(results[1][0].contains { Float(bitPattern: $0) < 0 })  // GELU's negative lobe: not a ReLU
    }
}

/// A Sequential runs a BatchNorm2d and the ReLU after it as one pass: its output and gradients
/// are the bits of calling the two layers one after the other.
@Test func sequentialBatchNormReLUEqualsTheLayersCalledInTurn() {
    var rng = SeededGenerator(seed: 26)
    let x = randomTensor([4, 3, 6, 5], &rng, scale: 2), dz = randomTensor(x.shape, &rng)
    let batchNorm = BatchNorm2d(numFeatures: 3), relu = ReLU()
    batchNorm.weight.value = randomTensor([3], &rng)
    batchNorm.bias.value = randomTensor([3], &rng)
    let z = relu(batchNorm(x))
    let dx = batchNorm.backward(relu.backward(dz))
    let separate = [z, dx, batchNorm.weight.grad, batchNorm.bias.grad].map(bitPatterns)

    let twin = BatchNorm2d(numFeatures: 3)
    twin.weight.value = batchNorm.weight.value
    twin.bias.value = batchNorm.bias.value
    let net = Sequential { twin.named("bn"); ReLU() }
    let zNet = net(x)
    let dxNet = net.backward(dz)
    #expect([zNet, dxNet, twin.weight.grad, twin.bias.grad].map(bitPatterns) == separate)
    #expect(net.namedBuffers.map(\.name) == ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"])
}

/// `usesRunningStatistics` in training mode: the evaluation-mode output (running statistics, left
/// unchanged, no batch counted), and a backward pass whose input gradient is the evaluation one,
/// gamma invStd dy, checked by finite differences of the evaluation-mode layer. A container passes
/// the setting to a batch norm inside a residual block.
@Test func batchNormWithRunningStatisticsInTrainingModeGivesEvaluationGradients() {
    var rng = SeededGenerator(seed: 27)
    let x = randomTensor([2, 3, 4, 5], &rng, scale: 2), r = randomTensor(x.shape, &rng)
    let batchNorm = BatchNorm2d(numFeatures: 3)
    batchNorm.weight.value = Tensor.uniform(shape: [3], in: 0.5..<1.5, using: &rng)
    batchNorm.bias.value = randomTensor([3], &rng)
    batchNorm.setBuffer(named: "running_mean", to: randomTensor([3], &rng))
    batchNorm.setBuffer(named: "running_var", to: Tensor.uniform(shape: [3], in: 0.5..<2, using: &rng))
    let net = Sequential { Residual { batchNorm } }
    net.train()
    net.usesRunningStatistics = true
    #expect(batchNorm.usesRunningStatistics && net.usesRunningStatistics)
    let (mean, variance) = (batchNorm.runningMean, batchNorm.runningVar)
    let y = batchNorm(x)
    let dx = batchNorm.backward(r)
    #expect(batchNorm.runningMean == mean && batchNorm.runningVar == variance && batchNorm.numBatchesTracked.storage == [0])

    let evaluation = BatchNorm2d(numFeatures: 3)
    evaluation.weight.value = batchNorm.weight.value
    evaluation.bias.value = batchNorm.bias.value
    for (name, tensor) in batchNorm.namedBuffers { evaluation.setBuffer(named: name, to: tensor) }
    evaluation.eval()
    #expect(bitPatterns(evaluation(x)) == bitPatterns(y))
    #expect(maxGradientError(at: x, analytic: dx, epsilon: 1e-2) { weightedSum(evaluation($0), r) } < gradientTolerance)
    // Not the training gradient: that one subtracts the batch means of dy and dy xhat.
    net.usesRunningStatistics = false
    _ = batchNorm(x)
    #expect(maxAbsDifference(batchNorm.backward(r), dx) > 1e-3)
}
