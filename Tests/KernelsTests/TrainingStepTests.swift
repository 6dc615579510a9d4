import AllocationCounter
import Testing
import Kernels

/// One SGD step (forward, loss, backward, w -= lr * grad) of `net` on a fixed batch.
@discardableResult
func sgdStep(_ net: Sequential, _ parameters: [Parameter], _ loss: SoftmaxCrossEntropy,
             _ x: Tensor, _ labels: [Int], learningRate: Float = 0.05) -> Float {
    let value = loss(net(x), labels: labels)
    _ = net.backward(loss.backward())
    for p in parameters {
        p.value.withUnsafeMutableBufferPointer { v in
            p.grad.withUnsafeBufferPointer { g in
                for i in v.indices { v[i] -= learningRate * g[i] }
            }
        }
    }
    return value
}

/// Float bit patterns, so NaN == NaN and -0 != +0: "bit-identical" literally.
private func bits(_ t: Tensor) -> [UInt32] { t.storage.map(\.bitPattern) }

@Test func sameSeedAndThreadCountGiveBitIdenticalTraining() {
    func run() -> (losses: [Float], state: [[UInt32]], output: [UInt32]) {
        var rng = SeededGenerator(seed: 42)
        let net = smallNet(&rng)
        let parameters = net.namedParameters.map(\.parameter)
        let x = randomTensor([8, 3, 11, 13], &rng)
        let labels = [0, 1, 2, 0, 1, 2, 2, 1]
        let loss = SoftmaxCrossEntropy(labelSmoothing: 0.1)
        let losses = (0..<4).map { _ in sgdStep(net, parameters, loss, x, labels) }
        let state = parameters.map { bits($0.value) } + parameters.map { bits($0.grad) }
            + net.namedBuffers.map { bits($0.tensor) }
        net.eval()
        return (losses, state, bits(net(x)))
    }
    // Results are promised identical for one thread count; the scope fixes it for both runs
    // whatever other tests run at the same time.
    let (first, second) = Parallelism.withThreadCount(2) { (run(), run()) }
    #expect(first.losses.map(\.bitPattern) == second.losses.map(\.bitPattern))
    #expect(first.state == second.state)
    #expect(first.output == second.output)
    #expect(first.losses.last! < first.losses.first!)  // and it is actually training
}

/// The fewest allocations any single call of `step` made, over repeated calls until one made
/// none or `seconds` passed. The counter is process-wide and other tests run concurrently, so a
/// call's window can include their allocations; but a step that allocates counts >= 1 in every
/// window, so a minimum of 0 proves the step itself allocates nothing.
func fewestAllocations(seconds: Int, _ step: () -> Void) -> UInt64 {
    var fewest = UInt64.max
    let deadline = ContinuousClock.now + .seconds(seconds)
    while fewest > 0 && ContinuousClock.now < deadline {
        let before = allocation_count()
        step()
        fewest = min(fewest, allocation_count() - before)
    }
    return fewest
}

@Test func steadyStateTrainingStepDoesNotAllocate() {
    guard allocation_counter_installed() == 1 else {
        Issue.record("the allocation counter only works on Linux/glibc; nothing measured")
        return
    }
    // The counter must see an ordinary Swift allocation, or a zero below would prove nothing.
    let probeStart = allocation_count()
    let probe = [Float](repeating: 1, count: 1000 + Int(probeStart % 7))
    #expect(allocation_count() > probeStart)
    withExtendedLifetime(probe) {}

    var rng = SeededGenerator(seed: 7)
    let net = smallNet(&rng)
    net.computesInputGradient = false  // as a trainer runs it; the other path is measured below
    let parameters = net.namedParameters.map(\.parameter)
    let x = randomTensor([6, 3, 11, 13], &rng)
    let labels = [0, 1, 2, 2, 1, 0]
    let loss = SoftmaxCrossEntropy(labelSmoothing: 0.1)
    for _ in 0..<3 { sgdStep(net, parameters, loss, x, labels) }  // warm-up sizes every buffer

    // Measured from inside a parallelFor chunk: the kernels' own parallelFor calls then run
    // inline, which isolates what the ops and layers allocate (nothing) from the one transient
    // closure box each multi-threaded hand-off costs (Parallel.swift, Docs/KERNELS.md).
    var withGradInput = UInt64.max, withoutGradInput = UInt64.max
    parallelFor(2) { chunk in
        guard chunk.lowerBound == 0 else { return }
        withoutGradInput = fewestAllocations(seconds: 20) { sgdStep(net, parameters, loss, x, labels) }
        net.computesInputGradient = true
        for _ in 0..<2 { sgdStep(net, parameters, loss, x, labels) }
        withGradInput = fewestAllocations(seconds: 20) { sgdStep(net, parameters, loss, x, labels) }
    }
    #expect(withoutGradInput == 0, "a steady-state step allocated at least \(withoutGradInput) times")
    #expect(withGradInput == 0, "a step computing the input gradient allocated at least \(withGradInput) times")
}
