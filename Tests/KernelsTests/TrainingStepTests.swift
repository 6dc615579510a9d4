import AllocationCounter
import Testing
import Kernels

/// Why the no-allocation tests are skipped when the counter is absent: it interposes glibc's
/// malloc, which other platforms lack and a sanitizer (`swift test --sanitize=...`) replaces.
let allocationCounterAbsence: Comment = "allocation counting needs glibc's malloc interposition (Linux, and not under a sanitizer, which brings its own malloc)"

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

/// The fewest allocations the calling thread made in any single call of `step`, over repeated
/// calls until one made none or `seconds` passed. `step` must run entirely on the calling thread:
/// at one thread, with `.callingThread`, or inside a `parallelFor` chunk, where the kernels' own
/// `parallelFor` runs inline (the pool is held). Counting this thread only keeps out the
/// allocations of the tests running at the same time: under load the process-wide count seldom
/// had a window free of them, and the test failed. The minimum over windows guards against the
/// runtime's own rare work on this thread; a step that allocates counts >= 1 in every window.
func fewestAllocations(seconds: Int, _ step: () -> Void) -> UInt64 {
    var fewest = UInt64.max
    let deadline = ContinuousClock.now + .seconds(seconds)
    while fewest > 0 && ContinuousClock.now < deadline {
        let before = allocation_count_on_this_thread()
        step()
        fewest = min(fewest, allocation_count_on_this_thread() - before)
    }
    return fewest
}

@Test(.enabled(if: allocation_counter_installed() == 1, allocationCounterAbsence))
func steadyStateTrainingStepDoesNotAllocate() {
    // The counter must see an ordinary Swift allocation, or a zero below would prove nothing.
    let probeStart = allocation_count_on_this_thread()
    let probe = [Float](repeating: 1, count: 1000 + Int(probeStart % 7))
    #expect(allocation_count_on_this_thread() > probeStart)
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

// The same step with bf16 products (`Precision.with(.bf16)`).

@Test func bf16TrainingIsBitIdenticalForAThreadCount() {
    func run() -> (losses: [Float], state: [[UInt32]]) {
        var rng = SeededGenerator(seed: 43)
        let net = smallNet(&rng)
        let parameters = net.namedParameters.map(\.parameter)
        let x = randomTensor([8, 3, 11, 13], &rng)
        let labels = [0, 1, 2, 0, 1, 2, 2, 1]
        let loss = SoftmaxCrossEntropy(labelSmoothing: 0.1)
        let losses = Precision.with(.bf16) { (0..<4).map { _ in sgdStep(net, parameters, loss, x, labels) } }
        return (losses, parameters.map { bits($0.value) } + parameters.map { bits($0.grad) } + net.namedBuffers.map { bits($0.tensor) })
    }
    let (first, second) = Parallelism.withThreadCount(2) { (run(), run()) }
    #expect(first.losses.map(\.bitPattern) == second.losses.map(\.bitPattern))
    #expect(first.state == second.state)
    #expect(first.losses.last! < first.losses.first!)
}

/// bf16 gradients are not checked by finite differences (the loss is not smooth at bf16's
/// resolution); instead, from the same weights and batch, each parameter's bf16 gradient must be
/// within 10% of its fp32 gradient's scale: the larger of its largest entry and 1% of the largest
/// entry of any gradient of the net (a gradient that is zero in exact arithmetic, like that of a
/// bias followed by batch norm, is rounding noise in both precisions). Each product's operands
/// carry a relative rounding error of at most 2^-8 (0.4%); through the network's products
/// forward and back these compound, and the largest deviation measured here was 3.2% (conv1's
/// weight, whose gradient comes through every layer), 0.3-1.8% for the others. A run that did not
/// round would show no difference at all, which is checked too.
@Test func bf16GradientsStayWithinBoundOfFP32Ones() {
    var rng = SeededGenerator(seed: 44)
    let net = smallNet(&rng)
    let parameters = net.namedParameters
    let x = randomTensor([8, 3, 11, 13], &rng)
    let labels = [0, 1, 2, 0, 1, 2, 2, 1]
    let loss = SoftmaxCrossEntropy()
    func gradients(_ precision: Precision) -> [Tensor] {
        Precision.with(precision) {
            _ = loss(net(x), labels: labels)
            _ = net.backward(loss.backward())
        }
        return parameters.map(\.parameter.grad)
    }
    let fp32 = gradients(.fp32), bf16 = gradients(.bf16)
    let largestOfAll = fp32.flatMap { $0.storage.map { abs($0) } }.max() ?? 0
    var largestRelative: Float = 0
    for ((name, _), (a, b)) in zip(parameters, zip(fp32, bf16)) {
        let scale = max(a.storage.map { abs($0) }.max() ?? 0, 0.01 * largestOfAll)
        let relative = maxAbsDifference(a, b) / scale
        largestRelative = max(largestRelative, relative)
        #expect(relative <= 0.1, "\(name): bf16 gradient off by \(relative) of its scale")
    }
    #expect(largestRelative > 1e-5, "bf16 gradients equal the fp32 ones: no rounding happened")
}

/// Whether `bf16gemm` runs without allocating: its software reference path allocates its rounded
/// copies on every call today; the AVX512-BF16 / AMX kernels (and a reworked software path) will
/// not, and then the no-allocation test below runs.
let bf16gemmDoesNotAllocate: Bool = {
    guard allocation_counter_installed() == 1 else { return false }
    let a = [Float](repeating: 0.5, count: 64), b = [Float](repeating: 0.25, count: 64)
    var c = [Float](repeating: 0, count: 64)
    return a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
        fewestAllocations(seconds: 2) {
            bf16gemm(transA: .none, transB: .none, m: 8, n: 8, k: 8, alpha: 1, a: pa.baseAddress!, lda: 8,
                     b: pb.baseAddress!, ldb: 8, beta: 0, c: pc.baseAddress!, ldc: 8, threading: .callingThread)
        } == 0
    }}}
}()

@Test(.enabled(if: bf16gemmDoesNotAllocate,
               "bf16gemm's software reference path allocates its rounded operands on every call (Kernels/BF16GEMM.swift); runs once bf16gemm does not allocate"))
func steadyStateBF16TrainingStepDoesNotAllocate() {
    var rng = SeededGenerator(seed: 8)
    let net = smallNet(&rng)
    let parameters = net.namedParameters.map(\.parameter)
    let x = randomTensor([6, 3, 11, 13], &rng)
    let labels = [0, 1, 2, 2, 1, 0]
    let loss = SoftmaxCrossEntropy(labelSmoothing: 0.1)
    // As the fp32 test: from inside a parallelFor chunk, which a task-local does not reach, so the
    // scope is opened there.
    var fewest = UInt64.max
    parallelFor(2) { chunk in
        guard chunk.lowerBound == 0 else { return }
        Precision.with(.bf16) {
            for _ in 0..<3 { sgdStep(net, parameters, loss, x, labels) }
            fewest = fewestAllocations(seconds: 20) { sgdStep(net, parameters, loss, x, labels) }
        }
    }
    #expect(fewest == 0, "a steady-state bf16 step allocated at least \(fewest) times")
}
