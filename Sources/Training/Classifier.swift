import Foundation
import Kernels

/// A CIFAR-10 classifier: a network, the architecture string that rebuilds it, and what a
/// model file must carry to be used alone (class names and input normalisation).
public final class Classifier {
    /// "seed", "vgg", or a layer spec (see `ModelSpec`): enough to rebuild the network.
    public let architecture: String
    /// The network; its parameter and buffer names are PyTorch's for the same architecture.
    public let network: any Layer
    /// Class names by label.
    public var classNames: [String]
    /// The input normalisation the network was trained with.
    public var normalization: Normalization
    /// The training images its run held out for validation (nil: none, or not recorded).
    public var validationSplit: ValidationSplit?
    /// The precision of the products its run trained with (nil: not recorded). A record only:
    /// the weights are fp32 either way, and evaluation runs in the caller's precision.
    public var trainingPrecision: Precision?

    /// A freshly initialised classifier (initialisation drawn from `seed`).
    public init(architecture: String, seed: UInt64, classNames: [String] = CIFAR10.classNames,
                normalization: Normalization = Normalization(mean: [0, 0, 0], std: [1, 1, 1])) throws {
        self.architecture = architecture
        self.network = try ModelZoo.build(architecture, seed: seed)
        self.classNames = classNames
        self.normalization = normalization
    }

    /// Parameters then buffers, with their PyTorch names: what model.safetensors holds.
    public var namedTensors: [(name: String, tensor: Tensor)] {
        network.namedParameters.map { ($0.name, $0.parameter.value) } + network.namedBuffers
    }

    /// The metadata written with the model.
    public var metadata: [String: String] {
        var metadata = [
            "format": "featuremaps-cifar10",
            "architecture": architecture,
            "classes": jsonArray(classNames.map { jsonQuoted($0) }),
            "mean": jsonArray(normalization.mean.map { "\($0)" }),
            "std": jsonArray(normalization.std.map { "\($0)" }),
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        if let validationSplit, let json = try? encoder.encode(validationSplit) {
            metadata[Self.validationSplitKey] = String(decoding: json, as: UTF8.self)
        }
        if let trainingPrecision { metadata[Self.trainingPrecisionKey] = trainingPrecision.rawValue }
        return metadata
    }

    /// The number of weights (64 MB) up to which a model file's architecture is built before
    /// its tensors are compared with it; beyond it the file must hold at least as many values.
    static let weightsBuiltUnchecked = 1 << 24

    /// The metadata key of `validationSplit`.
    static let validationSplitKey = "validation_split"
    /// The metadata key of `trainingPrecision`.
    static let trainingPrecisionKey = "training_precision"

    /// The images this classifier's run held out, drawn again from `train` (the training images
    /// of the data being scored). `count`, when given, must be the number the run held out.
    /// Errors name `source` (the model file): no recorded split, another count, other data.
    public func heldOutImages(from train: CIFARSplit, count: Int? = nil, source: String) throws -> CIFARSplit {
        guard let split = validationSplit else {
            throw TrainingError.file(path: source, reason: "the model records no validation split (its run held out no training images, or the file predates recorded splits)")
        }
        if let count, count != split.count {
            throw TrainingError.file(path: source, reason: "the model's run held out \(split.count) of its first \(split.pool) training images, not \(count)")
        }
        return try split.heldOutImages(from: train, source: source)
    }

    /// Writes model.safetensors (atomically).
    public func save(to path: String) throws {
        try Safetensors.write(tensors: namedTensors, metadata: metadata, to: path)
    }

    /// Loads the tensors of `contents` into the network; every tensor of the architecture must
    /// be present with its shape (extra tensors are an error too: another architecture).
    public func load(_ contents: Safetensors.Contents, source: String) throws {
        var byName = [String: Tensor]()
        for (name, tensor) in contents.tensors { byName[name] = tensor }
        for (name, parameter) in network.namedParameters {
            parameter.value = try take(name, shape: parameter.value.shape, from: &byName, source: source)
        }
        for (name, tensor) in network.namedBuffers {
            network.setBuffer(named: name, to: try take(name, shape: tensor.shape, from: &byName, source: source))
        }
        if let extra = byName.keys.sorted().first {
            throw TrainingError.file(path: source, reason: "holds tensor \(extra), which architecture \"\(architecture)\" does not have (a model of another architecture?)")
        }
    }

    private func take(_ name: String, shape: [Int], from tensors: inout [String: Tensor], source: String) throws -> Tensor {
        guard let t = tensors.removeValue(forKey: name) else {
            throw TrainingError.file(path: source, reason: "lacks tensor \(name) \(shape) of architecture \"\(architecture)\" (a model of another architecture?)")
        }
        guard t.shape == shape else {
            throw TrainingError.file(path: source, reason: "tensor \(name) has shape \(t.shape); architecture \"\(architecture)\" expects \(shape)")
        }
        // A NaN or infinite weight makes every prediction NaN; refuse it where it is named.
        let bad = t.withUnsafeBufferPointer { values in values.reduce(0) { $0 + ($1.isFinite ? 0 : 1) } }
        guard bad == 0 else {
            throw TrainingError.file(path: source, reason: "tensor \(name) holds \(bad) NaN or infinite values of \(t.count); the model cannot be used")
        }
        return t
    }

    /// Reads a model file written by `save` (or any safetensors file with the same metadata).
    ///
    /// - Parameter path: A model file, such as the `model.safetensors` a `Trainer` writes.
    /// - Returns: The network of the recorded architecture with the file's parameters and buffers.
    /// - Throws: `TrainingError.file` naming `path` when it cannot be read, is not a model file,
    ///   or its tensors do not fit the architecture.
    public static func load(path: String) throws -> Classifier {
        try load(Safetensors.read(path: path), source: path)
    }

    /// A classifier from the contents of a model file; `path` names it in errors.
    public static func load(_ contents: Safetensors.Contents, source path: String) throws -> Classifier {
        let meta = contents.metadata
        guard let architecture = meta["architecture"] else {
            throw TrainingError.file(path: path, reason: "no \"architecture\" in the safetensors metadata; expected a model written by train-cifar")
        }
        let classes = try decodeArray(meta["classes"], as: String.self, key: "classes", count: 10, path: path)
        let mean = try decodeArray(meta["mean"], as: Double.self, key: "mean", count: 3, path: path)
        let std = try decodeArray(meta["std"], as: Double.self, key: "std", count: 3, path: path)
        guard std.allSatisfy({ $0 > 0 }) else { throw TrainingError.file(path: path, reason: "metadata std must be positive") }
        // Building allocates every weight of the architecture; a network larger than the file
        // (and than a small model, which is built so that the check below names the missing
        // tensor) is refused first, so metadata naming a huge network allocates nothing.
        let stored = contents.tensors.reduce(0) { $0 + $1.tensor.count }
        if !ModelZoo.presets.contains(architecture), let spec = try? ModelSpec.parse(architecture),
           spec.parameterCount > max(stored, Self.weightsBuiltUnchecked) {
            let needed = spec.parameterCount == Int.max ? "more than 2^63" : "\(spec.parameterCount)"
            throw TrainingError.file(path: path, reason: "architecture \"\(architecture)\" has \(needed) weights; the file holds \(stored) values")
        }
        let classifier: Classifier
        do {
            classifier = try Classifier(architecture: architecture, seed: 0, classNames: classes,
                                        normalization: Normalization(mean: mean.map(Float.init), std: std.map(Float.init)))
        } catch let error as TrainingError {
            throw TrainingError.file(path: path, reason: "architecture \"\(architecture)\" cannot be built: \(error.description)")
        }
        if let text = meta[validationSplitKey] {
            guard let split = try? JSONDecoder().decode(ValidationSplit.self, from: Data(text.utf8)) else {
                throw TrainingError.file(path: path, reason: "metadata \"\(validationSplitKey)\" is not a readable split record")
            }
            classifier.validationSplit = split
        }
        if let text = meta[trainingPrecisionKey] {
            guard let precision = Precision(rawValue: text) else {
                throw TrainingError.file(path: path, reason: "metadata \"\(trainingPrecisionKey)\" is \"\(text)\", not one of \(Precision.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            classifier.trainingPrecision = precision
        }
        try classifier.load(contents, source: path)
        classifier.network.training = false
        return classifier
    }

    private static func decodeArray<T>(_ text: String?, as: T.Type, key: String, count: Int, path: String) throws -> [T] {
        guard let text, let data = text.data(using: .utf8),
              let array = try? JSONSerialization.jsonObject(with: data) as? [Any] else {
            throw TrainingError.file(path: path, reason: "metadata \"\(key)\" missing or not a JSON array")
        }
        let values: [T] = array.compactMap { element in
            if T.self == Double.self, let n = element as? NSNumber { return n.doubleValue as? T }
            return element as? T
        }
        guard values.count == count, array.count == count else {
            throw TrainingError.file(path: path, reason: "metadata \"\(key)\" must hold \(count) \(T.self == String.self ? "strings" : "numbers")")
        }
        return values
    }

    /// Class probabilities for a normalised batch [N, 3, 32, 32] (evaluation mode): [N][10].
    public func probabilities(_ batch: Tensor) -> [[Float]] {
        let wasTraining = network.training
        network.training = false
        defer { network.training = wasTraining }
        let logits = network(batch)
        let classes = logits.shape.last ?? 0
        return (0 ..< (logits.shape.first ?? 0)).map { n in
            let row = Array(logits.storage[n * classes ..< (n + 1) * classes])
            let top = row.max() ?? 0
            let exps = row.map { Foundation.exp($0 - top) }
            let total = exps.reduce(0, +)
            return exps.map { $0 / total }
        }
    }
}

private func jsonArray(_ items: [String]) -> String { "[" + items.joined(separator: ", ") + "]" }

private func jsonQuoted(_ s: String) -> String {
    guard let data = try? JSONSerialization.data(withJSONObject: [s]), let text = String(data: data, encoding: .utf8) else { return "\"\(s)\"" }
    return String(text.dropFirst().dropLast())
}
