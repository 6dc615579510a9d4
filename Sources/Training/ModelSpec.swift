/// One module of a model spec, in the order PyTorch's nn.Sequential would hold it.
public indirect enum LayerSpec: Sendable, Equatable {
    /// Conv2d to `out` channels, square `kernel`, `stride`, zero `padding`, optional bias.
    case conv(out: Int, kernel: Int, stride: Int, padding: Int, bias: Bool)
    /// BatchNorm2d over the current channels.
    case batchNorm
    /// ReLU.
    case relu
    /// GELU.
    case gelu
    /// MaxPool2d.
    case maxPool(kernel: Int, stride: Int)
    /// AvgPool2d.
    case avgPool(kernel: Int, stride: Int)
    /// Global average pooling to [N, C] (like AdaptiveAvgPool2d(1) + Flatten).
    case globalAvgPool
    /// Flatten [N, C, H, W] to [N, C*H*W].
    case flatten
    /// Linear to `out` features.
    case linear(out: Int)
    /// x + f(x), f a sequence with the same output shape as its input.
    case residual([LayerSpec])
}

/// A short text description of a network for `--model`, for example
/// `c32k3p1,bn,relu,mp2,c64k3p1,bn,relu,mp2,fc10`.
///
/// Grammar (comma-separated items, case-insensitive):
/// - `c<out>k<k>[s<stride>][p<pad>][nb]`: 2-D convolution (bias unless `nb`);
/// - `bn`, `relu`, `gelu`;
/// - `mp<k>[s<stride>]`, `ap<k>[s<stride>]`: max / average pooling (stride defaults to k);
/// - `gap`: global average pooling; `flatten`;
/// - `fc<out>`: linear layer (a flatten is inserted before it when the input is still an image);
/// - `res(<items>)`: a residual block x + f(x) whose items keep the shape.
/// The network must end with 10 outputs (the classes).
public struct ModelSpec: Sendable, Equatable {
    /// The modules in order (implicit flattens included).
    public var layers: [LayerSpec]

    /// Parses `text`; errors name the item and say what was expected.
    public static func parse(_ text: String) throws -> ModelSpec {
        var spec = try parseItems(text.lowercased(), whole: text)
        spec.layers = try spec.insertingFlattens(inputShape: [3, 32, 32], whole: text)
        let output = try spec.outputShape(input: [3, 32, 32], whole: text)
        guard output == [10] else {
            throw TrainingError.modelSpec(spec: text, reason: "the network outputs \(output); it must end with 10 class scores (for example with fc10)")
        }
        return spec
    }

    /// Splits `text` at top-level commas and parses each item (nested `res(...)` recursively).
    private static func parseItems(_ text: String, whole: String) throws -> ModelSpec {
        var items = [String]()
        var depth = 0, current = ""
        for ch in text where !ch.isWhitespace {
            if ch == "," && depth == 0 { items.append(current); current = ""; continue }
            if ch == "(" { depth += 1 }
            if ch == ")" { depth -= 1; guard depth >= 0 else { throw TrainingError.modelSpec(spec: whole, reason: "unbalanced ')'") } }
            current.append(ch)
        }
        guard depth == 0 else { throw TrainingError.modelSpec(spec: whole, reason: "unbalanced '('") }
        items.append(current)
        return ModelSpec(layers: try items.map { item in
            guard !item.isEmpty else { throw TrainingError.modelSpec(spec: whole, reason: "empty item (two commas in a row?)") }
            return try parseItem(item, in: whole)
        })
    }

    private static func parseItem(_ item: String, in text: String) throws -> LayerSpec {
        func bad(_ expected: String) -> TrainingError {
            TrainingError.modelSpec(spec: text, reason: "cannot read \"\(item)\"; expected \(expected)")
        }
        switch item {
        case "bn": return .batchNorm
        case "relu": return .relu
        case "gelu": return .gelu
        case "gap": return .globalAvgPool
        case "flatten": return .flatten
        default: break
        }
        if item.hasPrefix("res(") && item.hasSuffix(")") {
            return .residual(try parseItems(String(item.dropFirst(4).dropLast()), whole: text).layers)
        }
        // Letters introduce numbers: c32k3s1p1 -> [("c",32),("k",3),("s",1),("p",1)].
        var fields = [(String, Int?)]()
        var letters = "", digits = ""
        func flush() {
            if !letters.isEmpty { fields.append((letters, digits.isEmpty ? nil : Int(digits))) }
            letters = ""; digits = ""
        }
        for ch in item {
            if ch.isLetter { if !digits.isEmpty { flush() }; letters.append(ch) } else if ch.isNumber { digits.append(ch) } else { throw bad("letters and numbers") }
        }
        flush()
        var values = [String: Int]()
        var noBias = false
        for (key, value) in fields {
            if key == "nb" && value == nil { noBias = true; continue }
            guard let value, value > 0 || key == "p" else { throw bad("a positive number after \"\(key)\"") }
            // A bound far above any network this trains, so that shape arithmetic cannot
            // overflow (a spec may come from a model file's metadata, written by anyone).
            guard value <= maximumNumber else { throw bad("a number after \"\(key)\" of at most \(maximumNumber)") }
            guard values[key] == nil else { throw bad("\"\(key)\" once") }
            values[key] = value
        }
        let keys = Set(values.keys)
        if let out = values["c"] {
            guard let k = values["k"], keys.isSubset(of: ["c", "k", "s", "p"]) else { throw bad("c<out>k<kernel>[s<stride>][p<padding>][nb], e.g. c32k3p1") }
            return .conv(out: out, kernel: k, stride: values["s"] ?? 1, padding: values["p"] ?? 0, bias: !noBias)
        }
        guard !noBias else { throw bad("nb only after a convolution") }
        if let k = values["mp"], keys.isSubset(of: ["mp", "s"]) { return .maxPool(kernel: k, stride: values["s"] ?? k) }
        if let k = values["ap"], keys.isSubset(of: ["ap", "s"]) { return .avgPool(kernel: k, stride: values["s"] ?? k) }
        if let out = values["fc"], keys == ["fc"] { return .linear(out: out) }
        throw bad("one of c<out>k<k>[s][p][nb], bn, relu, gelu, mp<k>[s], ap<k>[s], gap, flatten, fc<out>, res(...)")
    }

    private func insertingFlattens(inputShape: [Int], whole: String) throws -> [LayerSpec] {
        var shape = inputShape
        var out = [LayerSpec]()
        for layer in layers {
            if case .linear = layer, shape.count == 3 {
                out.append(.flatten)
                shape = [shape.reduce(1, *)]
            }
            out.append(layer)
            shape = try Self.apply(layer, to: shape, whole: whole)
        }
        return out
    }

    /// The largest number a spec item may hold (channels, kernel, stride, padding, features).
    public static let maximumNumber = 65_536

    /// The number of weights and biases of the network (the values a model file must hold
    /// besides batch-norm statistics) for a 3x32x32 input, computed without building it;
    /// `Int.max` when the count overflows. A model file is checked against it before its
    /// architecture is built, so a claimed huge network is refused without allocating it.
    public var parameterCount: Int {
        var total = 0
        func add(_ factors: Int...) {
            var product = 1
            for factor in factors {
                let (p, overflow) = product.multipliedReportingOverflow(by: factor)
                product = overflow ? Int.max : p
            }
            let (sum, overflow) = total.addingReportingOverflow(product)
            total = overflow ? Int.max : sum
        }
        func walk(_ layers: [LayerSpec], shape start: [Int]) -> [Int] {
            var shape = start
            for layer in layers {
                switch layer {
                case let .conv(out, k, _, _, bias):
                    add(out, shape.first ?? 0, k, k)
                    if bias { add(out) }
                case .batchNorm: add(2, shape.first ?? 0)
                case let .linear(out): add(out, shape.first ?? 0); add(out)
                case let .residual(inner): _ = walk(inner, shape: shape)
                default: break
                }
                shape = (try? Self.apply(layer, to: shape, whole: "")) ?? shape
            }
            return shape
        }
        _ = walk(layers, shape: [3, 32, 32])
        return total
    }

    /// The output shape (without the batch) for an input of `input` ([C, H, W]).
    public func outputShape(input: [Int], whole: String = "") throws -> [Int] {
        try layers.reduce(input) { try Self.apply($1, to: $0, whole: whole) }
    }

    static func apply(_ layer: LayerSpec, to shape: [Int], whole: String) throws -> [Int] {
        func fail(_ why: String) -> TrainingError { TrainingError.modelSpec(spec: whole, reason: "\(why)") }
        func needImage(_ name: String) throws -> (Int, Int, Int) {
            guard shape.count == 3 else { throw fail("\(name) needs an image input [C,H,W], got \(shape)") }
            return (shape[0], shape[1], shape[2])
        }
        switch layer {
        case let .conv(out, k, s, p, _):
            let (_, h, w) = try needImage("a convolution")
            guard h + 2 * p >= k, w + 2 * p >= k else { throw fail("a \(k)x\(k) convolution does not fit a \(h)x\(w) input with padding \(p)") }
            return [out, (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1]
        case .batchNorm:
            _ = try needImage("bn")
            return shape
        case .relu, .gelu:
            return shape
        case let .maxPool(k, s), let .avgPool(k, s):
            let (c, h, w) = try needImage("pooling")
            guard h >= k, w >= k else { throw fail("a \(k)x\(k) pool does not fit a \(h)x\(w) input") }
            return [c, (h - k) / s + 1, (w - k) / s + 1]
        case .globalAvgPool:
            let (c, _, _) = try needImage("gap")
            return [c]
        case .flatten:
            return [shape.reduce(1, *)]
        case let .linear(out):
            guard shape.count == 1 else { throw fail("fc needs a flat input, got \(shape)") }
            return [out]
        case let .residual(inner):
            let result = try inner.reduce(shape) { try apply($1, to: $0, whole: whole) }
            guard result == shape else { throw fail("a residual block must keep the shape \(shape), its layers give \(result)") }
            return shape
        }
    }
}
