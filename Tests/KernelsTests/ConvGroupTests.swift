import Testing
import Kernels
import AllocationCounter

// airbench's building blocks: the constant scale, the dirac initialisation, and the convolution
// group (names, forward order, gradients).

@Test func scaleForwardAndGradient() {
    var rng = SeededGenerator(seed: 21)
    let x = randomTensor([3, 10], &rng)
    let layer = Scale(1 / 9)
    let y = layer(x)
    for i in 0..<x.count { #expect(y.storage[i] == x.storage[i] * (1 / 9)) }
    let r = randomTensor(y.shape, &rng)
    let dx = layer.backward(r)
    #expect(maxGradientError(at: x, analytic: dx, epsilon: 1e-2) { weightedSum(Scale(1 / 9)($0), r) } < gradientTolerance)
    #expect(layer.namedParameters.isEmpty)
}

@Test func diracFiltersPassTheirChannelThrough() {
    var rng = SeededGenerator(seed: 22)
    // 5 -> 8 channels: filters 0-4 become identities, 5-7 keep their random values.
    let conv = Conv2d(inChannels: 5, outChannels: 8, kernelSize: 3, padding: 1, bias: false, rng: &rng)
    let kept = Array(conv.weight.value.storage[(5 * 5 * 9)...])
    conv.setDirac()
    #expect(Array(conv.weight.value.storage[(5 * 5 * 9)...]) == kept)
    let x = randomTensor([2, 5, 6, 7], &rng)
    let y = conv(x)
    for n in 0..<2 {
        for c in 0..<5 { for i in 0..<6 { for j in 0..<7 { #expect(y[n, c, i, j] == x[n, c, i, j]) } } }
    }
    // More inputs than outputs (the whitening conv, 3 -> 2 here): every filter is an identity.
    let narrow = Conv2d(inChannels: 3, outChannels: 2, kernelSize: 2, rng: &rng)
    narrow.setDirac()
    #expect(narrow.weight.value[1, 1, 1, 1] == 1 && narrow.weight.value.storage.reduce(0, +) == 2)
}

@Test func convGroupIsConvPoolNormGELUConvNormGELU() throws {
    var rng = SeededGenerator(seed: 23)
    let group = ConvGroup(inChannels: 3, outChannels: 4)
    group.reset(using: &rng)
    #expect(group.namedParameters.map(\.name) == ["conv1.weight", "norm1.weight", "norm1.bias", "conv2.weight", "norm2.weight", "norm2.bias"])
    #expect(group.namedBuffers.map(\.name) == ["norm1.running_mean", "norm1.running_var", "norm1.num_batches_tracked",
                                               "norm2.running_mean", "norm2.running_var", "norm2.num_batches_tracked"])
    #expect(group.forwardOrder.map(\.name) == ["conv1", "pool", "norm1", "activ", "conv2", "norm2", "activ"])
    #expect(group.namedParameters.filter(\.parameter.isFrozen).map(\.name) == ["norm1.weight", "norm2.weight"])
    // The same layers composed by hand (fresh batch norms with the group's settings and values).
    let x = randomTensor([2, 3, 9, 9], &rng)
    let norm1 = BatchNorm2d(numFeatures: 4, momentum: 0.4, eps: 1e-12), norm2 = BatchNorm2d(numFeatures: 4, momentum: 0.4, eps: 1e-12)
    let expected = gelu(norm2(group.conv2(gelu(norm1(maxPool2d(group.conv1(x), kernelSize: 2, stride: 2))))))
    let y = group(x)
    #expect(y.shape == [2, 4, 4, 4])
    #expect(maxAbsDifference(y, expected) < 1e-6)
    // momentum 0.4: the running mean moved 0.4 of the way to the batch mean.
    #expect(group.norm1.runningMean == norm1.runningMean && group.norm1.numBatchesTracked.storage == [1])
    group.setBuffer(named: "norm2.running_var", to: Tensor(shape: [4], repeating: 2))
    #expect(group.norm2.runningVar.storage == [2, 2, 2, 2])
}

/// The group runs each batch norm with its GELU fused in: its output, input gradient, parameter
/// gradients and running statistics are the bits of calling its `forwardOrder` layers one after
/// the other (on a twin with the same values), in training and in evaluation mode.
@Test(arguments: [true, false])
func convGroupFusedNormGELUEqualsTheLayersCalledInTurn(_ training: Bool) {
    var rng = SeededGenerator(seed: training ? 25 : 26)
    let group = ConvGroup(inChannels: 3, outChannels: 5), twin = ConvGroup(inChannels: 3, outChannels: 5)
    group.reset(using: &rng)
    for ((_, p), (_, q)) in zip(group.namedParameters, twin.namedParameters) { q.value = p.value }
    for (name, value) in [("norm1.bias", 0.3), ("norm2.bias", -0.2)] as [(String, Float)] {
        for g in [group, twin] { g.namedParameters.first { $0.name == name }!.parameter.value.storage[1] = value }
    }
    group.training = training
    twin.training = training
    let x = randomTensor([3, 3, 11, 11], &rng), dz = randomTensor([3, 5, 5, 5], &rng)
    let y = group(x)
    var h = x
    for (_, layer) in twin.forwardOrder { h = layer(h) }
    var results = [[y], [h]]
    if training {
        let dx = group.backward(dz)
        var g = dz
        for (_, layer) in twin.forwardOrder.reversed() { g = layer.backward(g) }
        results[0] += [dx] + group.namedParameters.map(\.parameter.grad)
        results[1] += [g] + twin.namedParameters.map(\.parameter.grad)
    }
    results[0] += group.namedBuffers.map(\.tensor)
    results[1] += twin.namedBuffers.map(\.tensor)
    #expect(results[0].map { $0.storage.map(\.bitPattern) } == results[1].map { $0.storage.map(\.bitPattern) })
}

@Test func convGroupGradientsMatchFiniteDifferences() {
    var rng = SeededGenerator(seed: 24)
    let group = ConvGroup(inChannels: 3, outChannels: 4, batchNormEps: 1e-5)
    group.reset(using: &rng)
    // Random non-identity values everywhere, so every path carries gradient.
    for (_, p) in group.namedParameters {
        p.value = randomTensor(p.value.shape, &rng, scale: 0.5)
        if p.value.rank == 1 { for i in 0..<p.value.count { p.value.storage[i] += 1 } }
    }
    let x = shuffledDistinct([2, 3, 7, 7], &rng)  // 7x7 -> 3x3: the pool drops the last row and column
    let y = group(x)
    let r = randomTensor(y.shape, &rng)
    let dx = group.backward(r)
    let loss = { (input: Tensor) in weightedSum(group(input), r) }
    #expect(maxGradientError(at: x, analytic: dx, epsilon: 1e-3, loss: loss) < gradientTolerance)
    _ = group(x)
    _ = group.backward(r)
    for (name, parameter) in group.namedParameters {
        let analytic = parameter.grad, original = parameter.value
        let error = maxGradientError(at: original, analytic: analytic, epsilon: 1e-3) { value in
            parameter.value = value
            defer { parameter.value = original }
            return weightedSum(group(x), r)
        }
        #expect(error < gradientTolerance, "\(name): \(error)")
    }
}

/// A frozen convolution weight (airbench's whitening layer) gets no gradient computed: its
/// `grad` is zero, while the bias and input gradients are those of the unfrozen layer; released
/// again, the weight gradient comes back. Both with and without the input gradient (the
/// whitening layer is the first one), and on a stride-2 shape whose input gradient shares
/// im2col's columns with the weight gradient.
@Test(arguments: [(1, true), (1, false), (2, true)])
func frozenConvolutionWeightGetsNoGradient(_ stride: Int, _ inputGradient: Bool) {
    var rng = SeededGenerator(seed: 23)
    let conv = Conv2d(inChannels: 3, outChannels: 4, kernelSize: 2, stride: stride, rng: &rng)
    conv.computesInputGradient = inputGradient
    let x = randomTensor([2, 3, 7, 7], &rng)
    let r = randomTensor(conv(x).shape, &rng)
    let dx = conv.backward(r)
    let weightGrad = conv.weight.grad.storage, biasGrad = conv.bias!.grad.storage
    #expect(weightGrad.contains { $0 != 0 })
    conv.weight.isFrozen = true
    _ = conv(x)
    let frozenDx = conv.backward(r)
    #expect(conv.weight.grad.storage.allSatisfy { $0 == 0 })
    #expect(conv.bias!.grad.storage == biasGrad)
    #expect(frozenDx.storage == dx.storage)
    conv.weight.isFrozen = false
    _ = conv(x)
    _ = conv.backward(r)
    #expect(conv.weight.grad.storage == weightGrad)
}

/// A convolution group's steady-state forward and backward pass, with its fused batch norms and
/// GELUs (the GELU's gradient written into the batch norm's dx buffer), allocates nothing.
@Test(.enabled(if: allocation_counter_installed() == 1, allocationCounterAbsence))
func convGroupSteadyStateDoesNotAllocate() {
    var rng = SeededGenerator(seed: 27)
    let group = ConvGroup(inChannels: 3, outChannels: 6)
    group.reset(using: &rng)
    group.training = true
    let x = randomTensor([4, 3, 9, 9], &rng), dz = randomTensor([4, 6, 4, 4], &rng)
    for _ in 0..<3 { _ = group(x); _ = group.backward(dz) }
    var fewest = UInt64.max
    parallelFor(2) { chunk in
        guard chunk.lowerBound == 0 else { return }
        fewest = fewestAllocations(seconds: 20) { _ = group(x); _ = group.backward(dz) }
    }
    #expect(fewest == 0, "a convolution group's step allocated at least \(fewest) times")
}
