import ArgumentParser
import Training

/// A failure a command reports as one line (`featuremaps: MESSAGE`, exit status 1).
public struct CommandFailure: Error, CustomStringConvertible {
    /// The line, without the program name.
    public let description: String
    /// A failure reading `description`.
    public init(_ description: String) { self.description = description }
}

/// The one place library errors become command-line wording: the libraries name files,
/// settings and reasons; these lines name the flags.
public enum Messages {
    /// The flag that sets each training setting.
    static func flag(_ setting: TrainingSetting) -> String {
        switch setting {
        case .batchSize: "--batch-size"
        case .epochs: "--epochs"
        case .learningRate: "--lr"
        case .momentum: "--momentum"
        case .optimizer: "--optimizer"
        case .warmup: "--warmup"
        case .labelSmoothing: "--label-smoothing"
        case .limit: "--limit"
        case .validation: "--validation"
        case .validationEvery: "--validation-every"
        case .validationLimit: "--validation-limit"
        case .threads: "--threads"
        }
    }

    /// The flag of a `TrainingOptions` property, as a checkpoint's differences name them.
    static func flag(property name: String) -> String {
        if let setting = TrainingSetting(rawValue: name) { return flag(setting) }
        switch name {
        case "model": return "--arch"
        case "recipe": return "--arch"
        // The number of data-parallel processes (a checkpoint records it): the launcher's count.
        case "ranks": return "mpirun -np"
        case "syncBatchNorm": return "--sync-bn"
        default:
            // camelCase -> --kebab-case, the argument parser's own naming.
            return "--" + name.reduce(into: "") { out, c in
                if c.isUppercase { out += "-" + c.lowercased() } else { out.append(c) }
            }
        }
    }

    /// The one-line message for `error`, in the command line's terms.
    public static func line(for error: any Error) -> String {
        let text: String
        switch error {
        case let error as TrainingError: text = line(for: error)
        default: text = "\(error)"
        }
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// The one-line message for a training error, naming the flags that set what it names.
    public static func line(for error: TrainingError) -> String {
        switch error {
        case let .setting(setting, reason):
            return "\(flag(setting)) \(reason)"
        case let .modelSpec(spec, reason):
            return "invalid --arch \"\(spec)\": \(reason)"
        case let .noCheckpoint(path):
            return "--resume: no checkpoint at \(path) (is --out the folder of the stopped run?)"
        case let .checkpointMismatch(path, differences):
            let named = differences.map { "\(flag(property: $0.name)) (\($0.name)): \($0.then) then, \($0.now) now" }
            return "\(path): the checkpoint was made with other arguments (\(named.joined(separator: "; "))); --resume needs the same ones"
        case let .lossNotFinite(loss, step, epoch, stepInEpoch, stepsPerEpoch, checkpoint):
            return "the loss became \(loss) at step \(step) (epoch \(epoch), step \(stepInEpoch) of \(stepsPerEpoch)); "
                + "stopped without saving, the last good checkpoint is \(checkpoint). Try a lower --lr."
        case let .unknownLayer(name, available):
            if available.isEmpty { return "the model has no module with feature maps (no convolution), so no Grad-CAM layer" }
            return "--layer \(name): the model has no module of that name with feature maps; choose one of \(available.joined(separator: ", "))"
        case let .outputInUse(folder, pid):
            return "--out \(folder) is in use by another train-cifar run (\(pid.map { "pid \($0)" } ?? "pid not known yet")); "
                + "give another --out or wait for it to end"
        case .file, .optimizerState:
            return error.description
        }
    }
}

extension ValidationError {
    /// A usage error (exit status 2) worded by `Messages`.
    init(_ error: TrainingError) { self.init(Messages.line(for: error)) }
}
