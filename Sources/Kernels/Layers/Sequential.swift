/// A layer and the name it goes by inside a container (PyTorch's attribute or index name).
public struct SequentialChild {
    /// The name, or nil to be named by position like PyTorch's `nn.Sequential` ("0", "1", ...).
    public let name: String?
    /// The layer itself.
    public let layer: any Layer

    /// `layer` under `name` (nil: named by position).
    public init(name: String?, layer: any Layer) {
        self.name = name
        self.layer = layer
    }
}

extension Layer {
    /// This layer under `name` in a `Sequential` (so its parameters become "name.weight", ...).
    public func named(_ name: String) -> SequentialChild {
        SequentialChild(name: name, layer: self)
    }
}

/// Builds the children of a `Sequential` (or a `Residual` body) from a list of layers, with
/// `if`, `if/else` and `for` allowed, so a model spec can be turned into layers in a loop.
@resultBuilder
public enum SequentialBuilder {
    /// Result-builder plumbing: collects the children in order.
    public static func buildExpression(_ layer: any Layer) -> [SequentialChild] { [SequentialChild(name: nil, layer: layer)] }
    /// Result-builder plumbing: collects the children in order.
    public static func buildExpression(_ child: SequentialChild) -> [SequentialChild] { [child] }
    /// Result-builder plumbing: collects the children in order.
    public static func buildExpression(_ children: [SequentialChild]) -> [SequentialChild] { children }
    /// Result-builder plumbing: collects the children in order.
    public static func buildBlock(_ parts: [SequentialChild]...) -> [SequentialChild] { parts.flatMap { $0 } }
    /// Result-builder plumbing: collects the children in order.
    public static func buildOptional(_ part: [SequentialChild]?) -> [SequentialChild] { part ?? [] }
    /// Result-builder plumbing: collects the children in order.
    public static func buildEither(first part: [SequentialChild]) -> [SequentialChild] { part }
    /// Result-builder plumbing: collects the children in order.
    public static func buildEither(second part: [SequentialChild]) -> [SequentialChild] { part }
    /// Result-builder plumbing: collects the children in order.
    public static func buildArray(_ parts: [[SequentialChild]]) -> [SequentialChild] { parts.flatMap { $0 } }
}

/// Layers applied in order (PyTorch's `nn.Sequential`), each under a name: its own from
/// `.named(...)`, else its position. Parameter and buffer names are prefixed with the child's
/// name ("conv1.weight", "3.running_mean"), so a PyTorch module with the same structure has
/// the same state-dict keys.
///
/// ```swift
/// let net = Sequential(rng: &rng) {
///     Conv2d(inChannels: 3, outChannels: 16, kernelSize: 5).named("conv1")
///     ReLU()
///     MaxPool2d(kernelSize: 2)
///     Flatten()
///     Linear(inFeatures: 16 * 14 * 14, outFeatures: 10).named("fc")
/// }
/// ```
public final class Sequential: Layer, LayerContainer, ReportsFinishedGradients {
    /// The children in order, each with its resolved name.
    public private(set) var children: [(name: String, layer: any Layer)] = []

    /// How the children run: each on its own, except that a ReLU runs inside the layer next to it
    /// when that saves passes over memory: a BatchNorm2d followed by a ReLU
    /// (`BatchNorm2d.forward(_:activation:)`, the same bits), and a ReLU followed by a
    /// MaxPool2d (`MaxPool2d.forward(_:applyingReLU:)`: the ReLU on the 4x smaller pooled map;
    /// the same values and gradients, only a zero output's sign can differ). The layers themselves
    /// are unchanged, so calling one directly, the names and the saved state are as without it.
    private var steps: [Step] = []
    /// The index in `namedParameters` of each step's first parameter (the parameters of the
    /// children before it), counted when the child is appended.
    private var stepParameterStarts: [Int] = []
    private var parameterCount = 0

    private enum Step {
        case layer(any Layer)
        case batchNormReLU(BatchNorm2d)
        case reluMaxPool(MaxPool2d)
    }

    /// A container of the built children; parameters keep the values the children were built with.
    public init(@SequentialBuilder _ build: () -> [SequentialChild]) {
        for child in build() { append(child.layer, named: child.name) }
    }

    /// A container of the built children, then `reset(using: &rng)` on each child in order.
    ///
    /// - Parameters:
    ///   - rng: The generator every child's parameters are drawn from, in order, with PyTorch's
    ///     default initialisation for the layer type; a seed gives the same network everywhere.
    ///   - build: The children, one expression each; `.named(_:)` names one, else it is named by
    ///     its position (`"0"`, `"1"`, ...).
    public convenience init(rng: inout SeededGenerator, @SequentialBuilder _ build: () -> [SequentialChild]) {
        self.init(build)
        reset(using: &rng)
    }

    /// A container of `children` in order (for models assembled from a spec at run time).
    public init(_ children: [SequentialChild]) {
        for child in children { append(child.layer, named: child.name) }
    }

    /// Adds `layer` at the end, named `name` or by its position.
    public func append(_ layer: any Layer, named name: String? = nil) {
        let resolved = name ?? String(children.count)
        require(!resolved.isEmpty && !resolved.contains("."), "Sequential: child name '\(resolved)' must be non-empty without '.'")
        require(!children.contains { $0.name == resolved }, "Sequential: two children named '\(resolved)'")
        layer.training = training
        children.append((resolved, layer))
        if layer is ReLU, case .layer(let previous)? = steps.last, let batchNorm = previous as? BatchNorm2d {
            steps[steps.count - 1] = .batchNormReLU(batchNorm)
        } else if let pool = layer as? MaxPool2d, case .layer(let previous)? = steps.last, previous is ReLU {
            steps[steps.count - 1] = .reluMaxPool(pool)
        } else {
            steps.append(.layer(layer))
            stepParameterStarts.append(parameterCount)
        }
        // A fused step starts where its first child does; the ReLU it absorbs has no parameters.
        parameterCount += layer.namedParameters.count
    }

    /// The children's layers, in order.
    package var sublayers: [any Layer] { children.map(\.layer) }

    /// The child named `name`, if any.
    public subscript(name: String) -> (any Layer)? {
        children.first { $0.name == name }?.layer
    }

    /// Propagated to every child when set.
    public var training = true {
        didSet { for child in children { child.layer.training = training } }
    }

    /// Passed to the first child (the only one whose input gradient is the container's).
    public var computesInputGradient: Bool {
        get { children.first?.layer.computesInputGradient ?? true }
        set { children.first?.layer.computesInputGradient = newValue }
    }

    /// Passed to every child.
    public var usesRunningStatistics: Bool {
        get { children.contains { $0.layer.usesRunningStatistics } }
        set { for child in children { child.layer.usesRunningStatistics = newValue } }
    }

    /// Resets each child in order, drawing from one generator.
    public func reset(using rng: inout SeededGenerator) {
        for child in children { child.layer.reset(using: &rng) }
    }

    /// Built on each call (it allocates): an optimiser should read it once and keep the list.
    public var namedParameters: [(name: String, parameter: Parameter)] {
        children.flatMap { child in child.layer.namedParameters.map { ("\(child.name).\($0.name)", $0.parameter) } }
    }

    /// "running_mean", "running_var", "num_batches_tracked".
    public var namedBuffers: [(name: String, tensor: Tensor)] {
        children.flatMap { child in child.layer.namedBuffers.map { ("\(child.name).\($0.name)", $0.tensor) } }
    }

    /// Forwards "child.rest" to the child named "child" as "rest".
    public func setBuffer(named name: String, to tensor: Tensor) {
        guard let dot = name.firstIndex(of: ".") else { return }
        self[String(name[..<dot])]?.setBuffer(named: String(name[name.index(after: dot)...]), to: tensor)
    }

    /// Forward pass (see `Layer`).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var h = x
        for step in steps {
            switch step {
            case .layer(let layer): h = layer(h)
            case .batchNormReLU(let batchNorm): h = batchNorm.forward(h, activation: .relu)
            case .reluMaxPool(let pool): h = pool.forward(h, applyingReLU: true)
            }
        }
        return h
    }

    /// Backward pass for the last forward pass (see `Layer`).
    public func backward(_ gradOutput: Tensor) -> Tensor {
        backward(gradOutput, finished: { _ in })
    }

    /// Backward pass, reporting after each child (and inside children that can report) which
    /// parameters' gradients are final. Children appended as containers must be complete
    /// before they are appended: their parameter count is taken then.
    package func backward(_ gradOutput: Tensor, finished: (Int) -> Void) -> Tensor {
        var g = gradOutput
        for i in steps.indices.reversed() {
            let start = stepParameterStarts[i]
            switch steps[i] {
            case .layer(let layer): g = layer.backwardReporting(g) { finished(start + $0) }
            case .batchNormReLU(let batchNorm): g = batchNorm.backward(g); finished(start)
            case .reluMaxPool(let pool): g = pool.backward(g); finished(start)
            }
        }
        return g
    }
}

/// A residual block y = x + f(x), with f the children applied in order (their output must have
/// the input's shape). Parameter names are the children's, unprefixed ("conv.weight"), as in a
/// PyTorch module whose forward adds its input to its layers' output.
public final class Residual: Layer, LayerContainer, ReportsFinishedGradients {
    /// f: the children, in order.
    public let body: Sequential
    private var output = Tensor.empty
    private var gradInput = Tensor.empty

    /// A residual block around the built children.
    public init(@SequentialBuilder _ build: () -> [SequentialChild]) {
        body = Sequential(build)
    }

    /// The body.
    package var sublayers: [any Layer] { [body] }

    /// The body's mode.
    public var training: Bool {
        get { body.training }
        set { body.training = newValue }
    }

    /// The body's setting.
    public var usesRunningStatistics: Bool {
        get { body.usesRunningStatistics }
        set { body.usesRunningStatistics = newValue }
    }

    /// Resets the body's children in order.
    public func reset(using rng: inout SeededGenerator) { body.reset(using: &rng) }
    /// The body's parameters under the body's names.
    public var namedParameters: [(name: String, parameter: Parameter)] { body.namedParameters }
    /// The body's buffers under the body's names.
    public var namedBuffers: [(name: String, tensor: Tensor)] { body.namedBuffers }
    /// Sets a buffer of the body by its name.
    public func setBuffer(named name: String, to tensor: Tensor) { body.setBuffer(named: name, to: tensor) }

    /// Forward pass (see `Layer`).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let fx = body(x)
        addForward(x, fx, into: &output)
        return output
    }

    /// dx = dy (the skip path) + df(dy) (through the body).
    public func backward(_ gradOutput: Tensor) -> Tensor {
        backward(gradOutput, finished: { _ in })
    }

    /// dx as `backward(_:)`, reporting the body's finished gradients.
    package func backward(_ gradOutput: Tensor, finished: (Int) -> Void) -> Tensor {
        let throughBody = body.backward(gradOutput, finished: finished)
        addForward(gradOutput, throughBody, into: &gradInput)
        return gradInput
    }
}
