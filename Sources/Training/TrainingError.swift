/// What went wrong in reading data or models, or in a run, in the library's own terms: the file
/// and the reason, the setting and the reason. Front ends turn the cases into their own wording
/// (a command line names its flags); `description` is a complete one-line message without them.
public enum TrainingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A file that cannot be used: missing, unreadable, or not what it should be (a data set, a
    /// model, a checkpoint). A member of an archive is named `archive:member`.
    case file(path: String, reason: String)
    /// A model description (a preset name or a layer spec) that does not give a usable network.
    case modelSpec(spec: String, reason: String)
    /// A training setting whose value cannot be used.
    case setting(TrainingSetting, reason: String)
    /// A run asked to resume found no checkpoint at `path`.
    case noCheckpoint(path: String)
    /// The checkpoint at `path` was made with other settings.
    case checkpointMismatch(path: String, differences: [SettingDifference])
    /// Saved optimiser state that lacks a buffer (the file is named by the caller that read it).
    case optimizerState(reason: String)
    /// The loss became `loss` (not finite) at 1-based `step` of the run, step `stepInEpoch` of
    /// `stepsPerEpoch` in `epoch`; nothing was saved, and `lastCheckpoint` is the last good one.
    case lossNotFinite(loss: Float, step: Int, epoch: Int, stepInEpoch: Int, stepsPerEpoch: Int, lastCheckpoint: String)
    /// Another training run (process `pid`, nil when not yet known) holds the lock on `folder`.
    case outputInUse(folder: String, pid: Int32?)
    /// A layer name the network does not have among the modules that output maps (`available`).
    case unknownLayer(name: String, available: [String])

    /// The one-line message.
    public var description: String {
        switch self {
        case let .file(path, reason):
            "\(path): \(reason)"
        case let .modelSpec(spec, reason):
            "model spec \"\(spec)\": \(reason)"
        case let .setting(setting, reason):
            "\(setting.rawValue): \(reason)"
        case let .noCheckpoint(path):
            "no checkpoint at \(path) to resume from"
        case let .checkpointMismatch(path, differences):
            "\(path): the checkpoint was made with other settings (\(differences.map(\.description).joined(separator: "; "))); resuming needs the same ones"
        case let .optimizerState(reason):
            "optimiser state: \(reason)"
        case let .lossNotFinite(loss, step, epoch, stepInEpoch, stepsPerEpoch, lastCheckpoint):
            "the loss became \(loss) at step \(step) (epoch \(epoch), step \(stepInEpoch) of \(stepsPerEpoch)); "
                + "stopped without saving, the last good checkpoint is \(lastCheckpoint); a lower learning rate may help"
        case let .outputInUse(folder, pid):
            "\(folder) is in use by another training run (\(pid.map { "pid \($0)" } ?? "pid not known yet")); "
                + "give another output folder or wait for it to end"
        case let .unknownLayer(name, available):
            "the network has no layer \"\(name)\" with feature maps; its layers with maps: \(available.joined(separator: ", "))"
        }
    }
}

/// The training settings a `TrainingError.setting` can name (`TrainingOptions`' properties).
public enum TrainingSetting: String, Sendable, CaseIterable {
    /// `TrainingOptions.batchSize`: images per optimiser step.
    case batchSize
    /// `TrainingOptions.epochs`: passes over the training images.
    case epochs
    /// `TrainingOptions.learningRate`: the peak step size of the schedule.
    case learningRate
    /// `TrainingOptions.momentum`: SGD's momentum, or Adam's first-moment decay.
    case momentum
    /// `TrainingOptions.optimizer`: which optimiser updates the parameters.
    case optimizer
    /// `TrainingOptions.warmup`: the fraction of all steps spent in the linear learning-rate warm-up.
    case warmup
    /// `TrainingOptions.labelSmoothing`: the weight moved from the true class to all classes.
    case labelSmoothing
    /// `TrainingOptions.limit`: train on the first N training images only (nil: all).
    case limit
    /// `TrainingOptions.validation`: the images held out of training to validate on.
    case validation
    /// `TrainingOptions.validationEvery`: the steps between evaluations of the held-out images.
    case validationEvery
    /// `TrainingOptions.validationLimit`: how many validation images each measurement uses.
    case validationLimit
    /// `TrainingOptions.threads`: the thread count the kernels split work over.
    case threads
}

/// One `TrainingOptions` property whose value differs between a checkpoint and a resumed run.
public struct SettingDifference: Equatable, Sendable, CustomStringConvertible {
    /// The property's name (`TrainingOptions`' spelling, e.g. `batchSize`).
    public var name: String
    /// Its value when the checkpoint was made, and now.
    public var then: String, now: String

    /// A difference of `name` from `then` to `now`.
    public init(name: String, then: String, now: String) { self.name = name; self.then = then; self.now = now }

    /// "name: then then, now now".
    public var description: String { "\(name): \(then) then, \(now) now" }
}
