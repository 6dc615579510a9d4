import Kernels

/// Updates parameters from their gradients. State (momentum buffers, Adam moments, step
/// count) can be exported and restored, so a resumed run continues exactly.
public protocol Optimizer: AnyObject {
    /// The parameters updated, in a fixed order.
    var parameters: [Parameter] { get }
    /// Applies one update with learning rate `learningRate`, reading each parameter's `grad`.
    func step(learningRate: Float)
    /// The optimiser state as named tensors ("<index>.<kind>"), for checkpoints.
    var state: [(name: String, tensor: Tensor)] { get }
    /// Restores state saved by `state`; throws when names or shapes do not match.
    func restore(state: [String: Tensor]) throws
}

extension Optimizer {
    fileprivate func restoreBuffers(_ buffers: inout [Tensor], kind: String, from saved: [String: Tensor]) throws {
        for i in buffers.indices {
            let name = "\(i).\(kind)"
            guard let t = saved[name], t.shape == buffers[i].shape else {
                throw TrainingError.optimizerState(reason: "lacks \(name) of shape \(buffers[i].shape)")
            }
            buffers[i] = t
        }
    }
}

/// Parameters that share a learning-rate factor and a weight decay: PyTorch's parameter
/// groups (`torch.optim.SGD([dict(params=..., lr=..., weight_decay=...), ...])`).
public struct ParameterGroup {
    /// The parameters of the group.
    public var parameters: [Parameter]
    /// The group's learning rate is the step's rate times this (airbench trains batch-norm
    /// biases at 64 times the rate of the other parameters).
    public var learningRateScale: Float
    /// L2 weight decay added to the gradient of the group's parameters.
    public var weightDecay: Float

    /// A group of `parameters` at `learningRateScale` times the step's rate, with `weightDecay`.
    public init(_ parameters: [Parameter], learningRateScale: Float = 1, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRateScale = learningRateScale
        self.weightDecay = weightDecay
    }
}

/// Stochastic gradient descent with PyTorch's semantics (torch.optim.SGD, dampening 0), per
/// parameter group: with lr' = lr * learningRateScale and wd the group's decay,
/// g = grad + wd * p; b = momentum * b + g; g = nesterov ? g + momentum * b : b; p -= lr' * g.
/// With momentum 0 it is plain SGD. Frozen parameters (`Parameter.isFrozen`) are skipped:
/// no update, no decay, no momentum, as PyTorch skips a parameter whose gradient is None.
public final class SGD: Optimizer {
    /// The parameter groups, in order.
    public let groups: [ParameterGroup]
    /// Every group's parameters, in group order (the order of the momentum buffers).
    public let parameters: [Parameter]
    /// Momentum coefficient.
    public let momentum: Float
    /// Nesterov momentum.
    public let nesterov: Bool
    private var buffers: [Tensor]

    /// An optimiser over `groups`.
    public init(groups: [ParameterGroup], momentum: Float = 0, nesterov: Bool = false) {
        self.groups = groups
        self.parameters = groups.flatMap(\.parameters)
        self.momentum = momentum
        self.nesterov = nesterov
        self.buffers = parameters.map { Tensor(shape: $0.value.shape) }
    }

    /// An optimiser over `parameters`, one group with L2 weight decay `weightDecay`.
    public convenience init(parameters: [Parameter], momentum: Float = 0, weightDecay: Float = 0, nesterov: Bool = false) {
        self.init(groups: [ParameterGroup(parameters, weightDecay: weightDecay)], momentum: momentum, nesterov: nesterov)
    }

    public func step(learningRate: Float) {
        let (mu, nesterov) = (momentum, self.nesterov)
        var index = 0
        for group in groups {
            defer { index += group.parameters.count }
            let (lr, wd) = (learningRate * group.learningRateScale, group.weightDecay)
            for (offset, parameter) in group.parameters.enumerated() where !parameter.isFrozen {
                let grad = parameter.grad
                buffers[index + offset].withUnsafeMutableBufferPointer { b in
                    parameter.value.withUnsafeMutableBufferPointer { p in
                        grad.withUnsafeBufferPointer { g in
                            for i in 0 ..< p.count {
                                let d = g[i] + wd * p[i]
                                let v = mu * b[i] + d
                                b[i] = v
                                p[i] -= lr * (nesterov ? d + mu * v : v)
                            }
                        }
                    }
                }
            }
        }
    }

    public var state: [(name: String, tensor: Tensor)] {
        buffers.enumerated().map { ("\($0.offset).momentum_buffer", $0.element) }
    }

    public func restore(state: [String: Tensor]) throws {
        try restoreBuffers(&buffers, kind: "momentum_buffer", from: state)
    }
}

/// Adam (torch.optim.Adam semantics, weight decay as L2 added to the gradient):
/// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
/// Frozen parameters (`Parameter.isFrozen`) are skipped.
public final class Adam: Optimizer {
    public let parameters: [Parameter]
    /// First-moment decay.
    public let beta1: Float
    /// Second-moment decay.
    public let beta2: Float
    /// Added to the denominator.
    public let epsilon: Float
    /// L2 weight decay added to the gradient.
    public let weightDecay: Float
    private var firstMoments: [Tensor]
    private var secondMoments: [Tensor]
    /// Updates applied so far (t in the bias corrections).
    public private(set) var stepCount = 0

    /// An optimiser over `parameters`.
    public init(parameters: [Parameter], beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.parameters = parameters
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        firstMoments = parameters.map { Tensor(shape: $0.value.shape) }
        secondMoments = firstMoments
    }

    public func step(learningRate lr: Float) {
        stepCount += 1
        let (b1, b2, eps, wd) = (beta1, beta2, epsilon, weightDecay)
        let correction1 = 1 - Float(pow(Double(b1), Double(stepCount)))
        let correction2 = 1 - Float(pow(Double(b2), Double(stepCount)))
        let stepSize = lr / correction1
        let rootCorrection2 = correction2.squareRoot()
        for (index, parameter) in parameters.enumerated() where !parameter.isFrozen {
            let grad = parameter.grad
            firstMoments[index].withUnsafeMutableBufferPointer { m in
                secondMoments[index].withUnsafeMutableBufferPointer { v in
                    parameter.value.withUnsafeMutableBufferPointer { p in
                        grad.withUnsafeBufferPointer { g in
                            for i in 0 ..< p.count {
                                let d = g[i] + wd * p[i]
                                m[i] = b1 * m[i] + (1 - b1) * d
                                v[i] = b2 * v[i] + (1 - b2) * d * d
                                p[i] -= stepSize * m[i] / (v[i].squareRoot() / rootCorrection2 + eps)
                            }
                        }
                    }
                }
            }
        }
    }

    public var state: [(name: String, tensor: Tensor)] {
        firstMoments.enumerated().map { ("\($0.offset).exp_avg", $0.element) }
            + secondMoments.enumerated().map { ("\($0.offset).exp_avg_sq", $0.element) }
            + [("step", Tensor(shape: [1], storage: [Float(stepCount)]))]
    }

    public func restore(state: [String: Tensor]) throws {
        try restoreBuffers(&firstMoments, kind: "exp_avg", from: state)
        try restoreBuffers(&secondMoments, kind: "exp_avg_sq", from: state)
        guard let step = state["step"]?.storage.first else { throw TrainingError.optimizerState(reason: "lacks step") }
        stepCount = Int(step)
    }
}

/// How the learning rate moves over a run (evaluated per optimiser step).
public enum LearningRateSchedule: String, Sendable, CaseIterable {
    /// Linear warm-up (if any), then the peak rate throughout.
    case constant
    /// Linear warm-up (if any), then the peak rate times 0.1 after each third of the epochs.
    case step
    /// Linear warm-up, then a half cosine from the peak to 0.
    case cosine
    /// One-cycle as in the PyTorch reference recipe: linear 0 -> peak over the warm-up, then linear peak -> 0.
    case oneCycle = "one-cycle"
    /// airbench's triangle: linear from `triangleStart` x peak at step 0 to the peak at step
    /// floor(warmup T), then linear to `triangleEnd` x peak at step T.
    case triangle

    /// Where the triangle starts, as a fraction of the peak (airbench94: 0.2).
    public static let triangleStart: Float = 0.2
    /// Where the triangle ends, as a fraction of the peak (airbench94: 0.07).
    public static let triangleEnd: Float = 0.07

    /// The rate for 0-based optimiser step `step` of `totalSteps`, with `warmup` the fraction of
    /// steps spent rising linearly ((s+1)/W) to `peak` (for the triangle: where it peaks).
    public func learningRate(peak: Float, step s: Int, totalSteps: Int, stepsPerEpoch: Int, warmup: Float) -> Float {
        let t = max(totalSteps, 1)
        let w = warmup > 0 ? max(1, Int(Double(warmup) * Double(t))) : 0
        // The triangle's own rise replaces the warm-up.
        if s < w && self != .triangle { return peak * Float(s + 1) / Float(w) }
        let remaining = Float(max(t - w, 1))
        switch self {
        case .constant:
            return peak
        case .step:
            let epochs = max(1, (t + stepsPerEpoch - 1) / max(stepsPerEpoch, 1))
            let every = max(1, epochs / 3)
            let epoch = s / max(stepsPerEpoch, 1)
            return peak * Float(pow(0.1, Double(epoch / every)))
        case .cosine:
            return peak * 0.5 * (1 + Float(cos(Double.pi * Double(Float(s - w) / remaining))))
        case .oneCycle:
            return peak * max(0, Float(t - s) / remaining)
        case .triangle:
            return peak * triangle(step: s, totalSteps: t, top: Int(Double(warmup) * Double(t)))
        }
    }

    /// The triangle's factor at step s: its corners are (0, start), (top, 1), (t, end), the
    /// points airbench interpolates between (its `triangle(steps, start, end, peak)`, read by
    /// LambdaLR at the number of steps taken, so the first step runs at `start`).
    private func triangle(step s: Int, totalSteps t: Int, top: Int) -> Float {
        let (start, end) = (Self.triangleStart, Self.triangleEnd)
        if s < top { return start + (1 - start) * Float(s) / Float(top) }
        return 1 + (end - 1) * Float(s - top) / Float(max(t - top, 1))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
