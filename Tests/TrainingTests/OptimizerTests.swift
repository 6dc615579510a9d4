import Testing
import Kernels
import Training

@Suite struct OptimizerTests {
    func parameter(_ v: Float) -> Parameter { Parameter(Tensor(shape: [1], storage: [v])) }

    @Test func sgdNesterovWithWeightDecayMatchesHandComputedSteps() {
        // d = g + 0.1 p; b = 0.9 b + d; p -= 0.1 (d + 0.9 b), from p = 1 with g = 0.5 twice:
        // step 1: d = 0.6, b = 0.6, p = 1 - 0.1 * 1.14 = 0.886
        // step 2: d = 0.5886, b = 1.1286, p = 0.886 - 0.1 * 1.60434 = 0.725566
        let p = parameter(1)
        let sgd = SGD(parameters: [p], momentum: 0.9, weightDecay: 0.1, nesterov: true)
        p.grad = Tensor(shape: [1], storage: [0.5])
        sgd.step(learningRate: 0.1)
        #expect(abs(p.value[0] - 0.886) < 1e-6)
        sgd.step(learningRate: 0.1)
        #expect(abs(p.value[0] - 0.725566) < 1e-6)
    }

    @Test func sgdMomentumMatchesHandComputedSteps() {
        // b = 0.5, p = 0.95; then g = -1: b = 0.45 - 1 = -0.55, p = 0.95 + 0.055 = 1.005
        let p = parameter(1)
        let sgd = SGD(parameters: [p], momentum: 0.9)
        p.grad = Tensor(shape: [1], storage: [0.5])
        sgd.step(learningRate: 0.1)
        #expect(abs(p.value[0] - 0.95) < 1e-6)
        p.grad = Tensor(shape: [1], storage: [-1])
        sgd.step(learningRate: 0.1)
        #expect(abs(p.value[0] - 1.005) < 1e-6)
    }

    @Test func adamMatchesHandComputedSteps() {
        // Bias-corrected moments: the first step moves by lr * sign(g) = 0.1; the second
        // (g = -0.25) gives 0.8733663 (computed in Float64 from the update formula by hand).
        let p = parameter(1)
        let adam = Adam(parameters: [p])
        p.grad = Tensor(shape: [1], storage: [0.5])
        adam.step(learningRate: 0.1)
        #expect(abs(p.value[0] - 0.9) < 1e-6)
        p.grad = Tensor(shape: [1], storage: [-0.25])
        adam.step(learningRate: 0.1)
        #expect(abs(p.value[0] - 0.8733663) < 1e-5)
    }

    @Test func optimiserStateRoundTrips() throws {
        let p = parameter(1), q = parameter(1)
        let a = SGD(parameters: [p], momentum: 0.9), b = SGD(parameters: [q], momentum: 0.9)
        p.grad = Tensor(shape: [1], storage: [0.5])
        q.grad = p.grad
        a.step(learningRate: 0.1)
        var saved = [String: Tensor]()
        for (name, t) in a.state { saved[name] = t }
        try b.restore(state: saved)
        q.value = p.value
        a.step(learningRate: 0.1)
        b.step(learningRate: 0.1)
        #expect(p.value == q.value)
        #expect(throws: TrainingError.self) { try b.restore(state: [:]) }
    }
}

@Suite struct ParameterGroupTests {
    func parameter(_ v: Float) -> Parameter { Parameter(Tensor(shape: [1], storage: [v])) }

    @Test func groupScalesTheRateAndDecaysWithItsOwnWeightDecay() {
        // Two groups, one at 4x the rate with its own decay, step for step equal to two
        // one-group optimisers at those rates and decays.
        let (a, b, refA, refB) = (parameter(1), parameter(-2), parameter(1), parameter(-2))
        let grouped = SGD(groups: [ParameterGroup([a], weightDecay: 0.3),
                                   ParameterGroup([b], learningRateScale: 4, weightDecay: 0.075)],
                          momentum: 0.85, nesterov: true)
        let plainA = SGD(parameters: [refA], momentum: 0.85, weightDecay: 0.3, nesterov: true)
        let plainB = SGD(parameters: [refB], momentum: 0.85, weightDecay: 0.075, nesterov: true)
        for (step, g) in [Float(0.5), -0.25, 1].enumerated() {
            for p in [a, b, refA, refB] { p.grad = Tensor(shape: [1], storage: [g * Float(step + 1)]) }
            grouped.step(learningRate: 0.01)
            plainA.step(learningRate: 0.01)
            plainB.step(learningRate: 0.04)
            #expect(a.value == refA.value && b.value == refB.value)
        }
        #expect(grouped.parameters.count == 2 && grouped.state.count == 2)
    }

    @Test func frozenParameterKeepsItsValueAndMomentumLikeAGradientOfNone() {
        // PyTorch skips a parameter whose gradient is None: no decay, no momentum update. After
        // unfreezing, the momentum buffer continues from where it stopped.
        let (w, bias) = (parameter(1), parameter(1))
        let sgd = SGD(groups: [ParameterGroup([w]), ParameterGroup([bias])], momentum: 0.9)
        w.grad = Tensor(shape: [1], storage: [0.5])
        bias.grad = Tensor(shape: [1], storage: [0.5])
        sgd.step(learningRate: 0.1)                       // both: b = 0.5, p = 0.95
        bias.isFrozen = true
        sgd.step(learningRate: 0.1)                       // w: b = 0.95, p = 0.855; bias untouched
        #expect(abs(w.value[0] - 0.855) < 1e-6)
        #expect(bias.value[0] == 0.95)
        bias.isFrozen = false
        sgd.step(learningRate: 0.1)                       // bias: b = 0.45 + 0.5 = 0.95, p = 0.855
        #expect(abs(bias.value[0] - 0.855) < 1e-6)
    }
}

@Suite struct ScheduleTests {
    @Test func oneCycleRisesLinearlyThenFallsToZero() {
        // T = 100 steps, 15% warm-up: W = 15; lr(s) = (s+1)/15 before, (100-s)/85 after.
        func lr(_ s: Int) -> Float { LearningRateSchedule.oneCycle.learningRate(peak: 0.2, step: s, totalSteps: 100, stepsPerEpoch: 10, warmup: 0.15) }
        #expect(abs(lr(0) - 0.2 / 15) < 1e-7)
        #expect(abs(lr(7) - 0.2 * 8 / 15) < 1e-7)
        #expect(abs(lr(14) - 0.2) < 1e-7)
        #expect(abs(lr(15) - 0.2) < 1e-7)
        #expect(abs(lr(57) - 0.2 * 43 / 85) < 1e-7)
        #expect(abs(lr(99) - 0.2 / 85) < 1e-7)
    }

    @Test func cosineStepAndConstant() {
        func at(_ s: LearningRateSchedule, _ step: Int, warmup: Float = 0) -> Float {
            s.learningRate(peak: 1, step: step, totalSteps: 90, stepsPerEpoch: 10, warmup: warmup)
        }
        #expect(abs(at(.cosine, 0) - 1) < 1e-6)
        #expect(abs(at(.cosine, 45) - 0.5) < 1e-6)        // half way: cos(pi/2) = 0
        #expect(at(.cosine, 89) < 0.001)
        #expect(abs(at(.cosine, 4, warmup: 0.1) - 5.0 / 9) < 1e-6)  // W = 9
        #expect(at(.step, 29) == 1)                        // 9 epochs: x0.1 every 3
        #expect(abs(at(.step, 30) - 0.1) < 1e-7)
        #expect(abs(at(.step, 89) - 0.01) < 1e-8)
        #expect(at(.constant, 77) == 1)
        #expect(LearningRateSchedule(rawValue: "one-cycle") == .oneCycle)
    }

    @Test func triangleIsAirbenchs() {
        // airbench94 over 476 steps (48 steps of 1,024 images x 9.9 epochs): corners at step 0
        // (0.2), floor(0.23 x 476) = 109 (1) and 476 (0.07); linear in between.
        func lr(_ s: Int) -> Float { LearningRateSchedule.triangle.learningRate(peak: 2, step: s, totalSteps: 476, stepsPerEpoch: 48, warmup: 0.23) }
        #expect(abs(lr(0) - 0.4) < 1e-6)
        #expect(abs(lr(50) - 2 * (0.2 + 0.8 * 50 / 109)) < 1e-6)
        #expect(abs(lr(109) - 2) < 1e-6)
        #expect(abs(lr(300) - 2 * (1 - 0.93 * 191 / 367)) < 1e-6)
        #expect(abs(lr(475) - 2 * (1 - 0.93 * 366 / 367)) < 1e-6)
        #expect(abs(lr(476) - 0.14) < 1e-6)
        #expect(LearningRateSchedule(rawValue: "triangle") == .triangle)
    }
}
