import Foundation
import Kernels

/// Which optimiser a run uses.
public enum OptimizerKind: String, Sendable, Codable, CaseIterable {
    /// SGD with (Nesterov) momentum and weight decay.
    case sgd
    /// Adam with L2 weight decay.
    case adam
}

/// Every choice that shapes a run. A checkpoint records them, and resuming requires the
/// same ones, so a resumed run is the run that was stopped.
public struct TrainingOptions: Sendable, Equatable, Codable {
    /// "seed", "vgg", "airbench" or a layer spec.
    public var model = "seed"
    /// The recipe (reference or airbench's); the hyper-parameters below apply to either.
    public var recipe: Recipe = .reference
    /// Images per optimiser step.
    public var batchSize = 64
    /// Passes over the training images; a fraction ends the run part-way through the last
    /// epoch (after ceil(steps per epoch x epochs) steps).
    public var epochs: Double = 20
    /// Peak learning rate.
    public var learningRate: Float = 0.02
    /// SGD momentum.
    public var momentum: Float = 0.9
    /// Nesterov momentum (SGD).
    public var nesterov = true
    /// L2 weight decay on every parameter.
    public var weightDecay: Float = 5e-4
    /// SGD or Adam.
    public var optimizer: OptimizerKind = .sgd
    /// Learning-rate schedule (per step).
    public var schedule: LearningRateSchedule = .oneCycle
    /// Fraction of all steps spent in the linear warm-up.
    public var warmup: Float = 0.15
    /// Random crop (4-pixel zero padding) and horizontal flip.
    public var augment = true
    /// Seeds weight initialisation, data order and augmentation.
    public var seed: UInt64 = 0
    /// Train on the first N training images only (before the validation split).
    public var limit: Int?
    /// Training images held out for validation (0 = none).
    public var validation = 0
    /// Label smoothing of the cross-entropy loss.
    public var labelSmoothing: Float = 0
    /// Test-time augmentation for the reported test accuracy: the architecture's
    /// `TestTimeAugmentation.preset(for:)` (flip averaging, or airbench's 6 views). The plain
    /// forward pass's accuracy is reported beside it.
    public var tta = false
    /// Steps between evaluations of the validation images during training, besides each
    /// epoch's end (0: epoch ends only). Evaluation time is not training time.
    public var validationEvery = 0
    /// Evaluate only the first N held-out images during training (nil: all of them).
    public var validationLimit: Int?
    /// Threads for the kernels (results are reproducible for a given count).
    public var threads = ProcessInfoCores.active
    /// The precision of the training steps' convolution and linear products (bf16: rounded
    /// operands, fp32 sums; batch norm, loss, master weights and optimiser state stay fp32).
    /// fp32 until bf16's accuracy is shown equal on the presets.
    public var precision: Precision = .fp32
    /// The precision of the run's evaluations: the held-out images during training and the
    /// test set at the end; nil: `precision`'s. A run's reported accuracy is what `evaluate`
    /// scores on its model file in this precision. (On the airbench preset's and the VGG
    /// preset's 5,000-image validation splits, bf16 scored what fp32 did within a few images
    /// in about two thirds of the time: Docs/TRAINING.md.)
    public var evaluationPrecision: Precision?
    /// `evaluationPrecision`, else `precision`.
    public var evaluationPrecisionInEffect: Precision { evaluationPrecision ?? precision }
    /// Data-parallel runs only: batch norms normalise with the statistics of the whole global
    /// batch, summed over the processes, instead of each process's shard (synchronised batch
    /// norm). One process has the whole batch, so there it changes nothing.
    public var syncBatchNorm = false

    /// Options with every default of the seed preset.
    public init() {}

    /// Throws `TrainingError.setting` for the first setting a run cannot use.
    public func validate() throws(TrainingError) {
        func check(_ ok: Bool, _ setting: TrainingSetting, _ reason: String) throws(TrainingError) {
            if !ok { throw .setting(setting, reason: reason) }
        }
        try check(batchSize >= 1, .batchSize, "must be at least 1")
        try check(epochs.isFinite && epochs > 0, .epochs, "must be a positive number")
        try check(learningRate.isFinite && learningRate >= 0, .learningRate, "must be a non-negative number")
        try check(recipe != .airbench || learningRate > 0, .learningRate, "must be positive (the airbench recipe's weight decay is divided by it)")
        try check(recipe != .airbench || (0 ..< 1).contains(momentum), .momentum, "must be in [0, 1) for the airbench recipe")
        try check(recipe != .airbench || optimizer == .sgd, .optimizer, "must be sgd for the airbench recipe (its rates are SGD's)")
        try check((0 ... 1).contains(warmup), .warmup, "must be in [0, 1]")
        try check((0 ..< 1).contains(labelSmoothing), .labelSmoothing, "must be in [0, 1)")
        try check(limit.map { $0 >= 2 } ?? true, .limit, "must be at least 2")
        try check(validation >= 0, .validation, "must not be negative")
        try check(validationEvery >= 0, .validationEvery, "must not be negative")
        try check(validationLimit.map { $0 >= 1 } ?? true, .validationLimit, "must be at least 1")
        try check(threads >= 1, .threads, "must be at least 1")
    }

    /// The default recipe of a preset (`seed`, `vgg`: PyTorch's reference; `airbench`:
    /// airbench94's), or the seed recipe for a custom spec.
    public static func preset(for model: String) -> TrainingOptions {
        var o = TrainingOptions()
        o.model = model
        switch model {
        case "airbench":
            // airbench94's hyp (lib_airbench94.py): the rate and decay per 1,024 examples
            // (AirbenchRecipe), Nesterov 0.85, label smoothing 0.2, the triangle peaking at 23%.
            o.recipe = .airbench
            o.batchSize = 1024
            o.epochs = 9.9
            o.learningRate = 11.5
            o.weightDecay = 0.0153
            o.momentum = 0.85
            o.labelSmoothing = 0.2
            o.schedule = .triangle
            o.warmup = 0.23
            o.tta = true
            // Time to 90/93/94% is read off the first 2,000 held-out images every 10 steps.
            o.validationEvery = 10
            o.validationLimit = 2_000
        case "vgg":
            o.batchSize = 128
            o.epochs = 15
            o.learningRate = 0.1
            // Flip test-time augmentation: chosen on a 5,000-image validation split, where it
            // scored 0.9046 against 0.8950 for the same trained model (Docs/TRAINING.md).
            o.tta = true
        default:
            // Flip test-time augmentation: chosen on a 5,000-image validation split, where it
            // scored 0.6930 against 0.6800 for the same trained model (Docs/TRAINING.md).
            o.tta = true
        }
        return o
    }
}

extension LearningRateSchedule: Codable {}

/// What the training loop reports as it runs.
public protocol TrainingObserver: AnyObject {
    /// After each optimiser step: `step` of `steps` in `epoch`, running figures of the epoch.
    func stepFinished(epoch: Int, epochs: Int, step: Int, steps: Int, imagesPerSecond: Double, loss: Double, accuracy: Double, secondsLeft: Double)
    /// After each epoch.
    func epochFinished(_ record: EpochRecord, epochs: Int)
    /// A line of information.
    func note(_ message: String)
}

/// The outcome of `Trainer.run`.
public struct TrainingResult: Sendable {
    /// Per-epoch figures.
    public var records: [EpochRecord]
    /// True when a stop was requested: a checkpoint was saved and resuming continues the run.
    public var interrupted: Bool
    /// Accuracy on the official test set, with the options' test-time augmentation (nil when interrupted).
    public var testAccuracy: Double?
    /// Accuracy on the official test set of the plain forward pass (nil when interrupted).
    public var plainTestAccuracy: Double?
    /// Test images evaluated.
    public var testCount: Int
    /// Training wall time in seconds (all sessions of a resumed run), without evaluations and
    /// without the whitening.
    public var trainingSeconds: Double
    /// The run's report (also written as run.json; nil when interrupted).
    public var report: RunReport?
    /// The test set's per-image predictions and probabilities behind `testAccuracy` (nil when
    /// interrupted).
    public var testEvaluation: Evaluation? = nil
}

/// The training loop: shuffled mini-batches, optional augmentation, a schedule per step,
/// a checkpoint each epoch and on a stop request, reports in the output folder.
public final class Trainer {
    /// The run's options.
    public let options: TrainingOptions
    private let data: CIFAR10Data
    private let outputFolder: String
    private let observer: (any TrainingObserver)?
    /// Test images to evaluate at the end (nil: all); the end-to-end test uses a prefix.
    public var testLimit: Int?
    /// Asked after every step whether to stop (save and return). The CLI's default reads the
    /// SIGINT/SIGTERM flag; tests give each trainer its own, so parallel tests do not interfere.
    public var shouldStop: () -> Bool = { StopRequest.isRequested }
    /// The command line that reproduces the run, shown on report.html (nil: the page says nothing).
    public var command: String?
    /// The CPU's model name, shown on report.html (nil: not known).
    public var machine: String?
    /// The processes training together (data-parallel: each trains on its shard of every global
    /// batch and the gradients are summed before each step). Alone by default; only rank 0
    /// writes into the output folder and scores the test set.
    package var communicator: any Communicator = SingleProcess()
    /// Whether the gradient sums over the processes run during the backward pass (where the
    /// communicator allows it) rather than after it. The same bits either way, so it is not a
    /// training option and the checkpoint does not record it.
    package var overlapsGradientSums = false
    private var isRoot: Bool { communicator.rank == 0 }

    /// The checkpoint file in `outputFolder`.
    public var checkpointPath: String { (outputFolder as NSString).appendingPathComponent("checkpoint.safetensors") }
    /// The model file in `outputFolder`.
    public var modelPath: String { (outputFolder as NSString).appendingPathComponent("model.safetensors") }

    /// A trainer for `options` on `data`, writing into `outputFolder`.
    ///
    /// - Parameters:
    ///   - options: The run's settings, checked when it starts (`TrainingOptions.validate()`).
    ///   - data: The training and test images (`options.validation` training images are held out).
    ///   - outputFolder: Where the model, the checkpoint and the reports are written (created if needed).
    ///   - observer: Told of every step and epoch (progress lines, a stop request).
    public init(options: TrainingOptions, data: CIFAR10Data, outputFolder: String, observer: (any TrainingObserver)? = nil) {
        self.options = options
        self.data = data
        self.outputFolder = outputFolder
        self.observer = observer
    }

    /// Trains (continuing from the checkpoint when `resume` is true), writes the outputs and
    /// evaluates on the test set, with `options.threads` kernel threads. Returns early, with a
    /// checkpoint saved, when a stop is requested.
    ///
    /// - Parameter resume: Continue the run whose checkpoint is in the output folder; its options
    ///   must equal this trainer's.
    /// - Returns: Each epoch's figures, the test accuracy and the run's report (`interrupted` when
    ///   a stop was requested).
    /// - Throws: `TrainingError`: `.setting` for invalid options, `.noCheckpoint` or
    ///   `.checkpointMismatch` when resuming, `.lossNotFinite` when training diverges, `.file` for
    ///   a file that cannot be read or written.
    public func run(resume: Bool = false) throws -> TrainingResult {
        try options.validate()
        return try Parallelism.withThreadCount(options.threads) {
            try Precision.with(options.precision) { try train(resume: resume) }
        }
    }

    private func train(resume: Bool) throws -> TrainingResult {
        // The whole run's clock: the data's reading (already done, `data.loadingSeconds`) plus
        // everything from here to the test accuracy.
        let started = ContinuousClock.now
        let o = options
        let airbench = o.recipe == .airbench
        let ranks = communicator.size
        guard o.batchSize >= ranks else {
            throw TrainingError.setting(.batchSize, reason: "must be at least the number of processes (\(ranks)): each trains on its share of every batch")
        }
        // Held until this function returns (or the process dies): one run per output folder.
        // Only rank 0 writes there, so only it creates and locks the folder.
        let lock: OutputLock?
        if isRoot {
            try FileManager.default.createDirectory(atPath: outputFolder, withIntermediateDirectories: true)
            lock = try OutputLock(folder: outputFolder)
        } else {
            lock = nil
        }
        defer { withExtendedLifetime(lock) {} }

        let (split, train, validation) = try ValidationSplit.draw(count: o.validation, pool: o.limit ?? data.train.count, from: data.train)
        guard train.count >= 2 else {
            throw TrainingError.setting(.validation, reason: "holding out \(validation.count) of \(split.pool) images leaves \(train.count) to train on; at least 2 are needed")
        }
        let normalization = airbench ? AirbenchRecipe.normalization : Normalization.statistics(of: train)
        let assembler = airbench
            ? BatchAssembler(normalization: normalization, padding: AlternatingFlipTranslate.padding, paddingMode: .reflect)
            : BatchAssembler(normalization: normalization)
        let tracked = o.validationLimit.map { validation.prefix($0) } ?? validation

        let classifier = try Classifier(architecture: o.model, seed: o.seed, classNames: data.classNames, normalization: normalization)
        // Recorded in the model file, so an evaluation of the held-out images scores these ones.
        classifier.validationSplit = validation.count > 0 ? split : nil
        classifier.trainingPrecision = o.precision
        let network = classifier.network
        let parameters = network.namedParameters.map(\.parameter)
        let reducer = GradientReducer(network: network, communicator: communicator, synchronizingBatchNorm: o.syncBatchNorm,
                                      overlapping: overlapsGradientSums)
        let optimizer: any Optimizer = switch (o.recipe, o.optimizer) {
        case (.airbench, _): AirbenchRecipe.optimizer(for: network, options: o)
        case (.reference, .sgd): SGD(parameters: parameters, momentum: o.momentum, weightDecay: o.weightDecay, nesterov: o.nesterov)
        case (.reference, .adam): Adam(parameters: parameters, weightDecay: o.weightDecay)
        }
        // Begun before the whitening, as airbench's LookaheadState is.
        let lookahead = airbench ? Lookahead(network) : nil
        let learningRate = airbench ? AirbenchRecipe.rates(o).learningRate : o.learningRate
        let loss = SoftmaxCrossEntropy(labelSmoothing: o.labelSmoothing, reduction: airbench ? .sum : .mean)
        let flips = airbench ? AlternatingFlipTranslate(count: train.count, seed: o.seed &+ 0xF11B) : nil

        let n = train.count
        // airbench takes full batches only. Otherwise a last batch of one image (per process)
        // would make batch-norm statistics degenerate; it is dropped.
        let stepsPerEpoch = airbench ? n / o.batchSize : n / o.batchSize + (n % o.batchSize >= 2 * ranks ? 1 : 0)
        guard stepsPerEpoch >= 1 else {
            throw TrainingError.setting(.batchSize, reason: "the airbench recipe takes full batches only; \(n) training images do not fill one of \(o.batchSize)")
        }
        let totalSteps = Int((Double(stepsPerEpoch) * o.epochs).rounded(.up))
        let epochs = (totalSteps + stepsPerEpoch - 1) / stepsPerEpoch

        var state = RunState(rng: TrainingRandom(seed: o.seed &+ 0x0DA7_A0DE_5EED))
        if resume {
            state = try restoreCheckpoint(options: o, classifier: classifier, optimizer: optimizer, lookahead: lookahead)
            observer?.note("resuming from \(checkpointPath): epoch \(state.epoch + 1), step \(state.step) of \(stepsPerEpoch)")
        } else if airbench {
            let clock = ContinuousClock.now
            AirbenchRecipe.whiten(network, from: train, assembler: BatchAssembler(normalization: normalization))
            state.whiteningSeconds = seconds(ContinuousClock.now - clock)
            observer?.note(String(format: "whitening weights from the first %d training images: %.2f s", min(AirbenchRecipe.whiteningImages, n), state.whiteningSeconds))
        }
        reducer.broadcastParameters()
        let epochText = o.epochs == o.epochs.rounded() ? "\(Int(o.epochs))" : "\(o.epochs)"
        let processes = ranks > 1
            ? "\(ranks) processes x \(Parallelism.threadCount) threads, gradient sums \(reducer.overlaps ? "during" : "after") the backward pass"
            : "\(Parallelism.threadCount) threads"
        observer?.note("training \(o.model) on \(n) images (\(validation.count) held out for validation), \(stepsPerEpoch) steps of \(o.batchSize) per epoch, \(epochText) epochs (\(totalSteps) steps), \(processes), \(o.precision.rawValue) products, \(o.evaluationPrecisionInEffect.rawValue) evaluations")

        /// Scores the tracked validation images (plain forward pass) and records the point.
        func trackValidation() -> Double? {
            // Only rank 0 reports; the others go on to the next step and wait for it there.
            guard tracked.count > 0, isRoot else { return nil }
            let clock = ContinuousClock.now
            let accuracy = Precision.with(o.evaluationPrecisionInEffect) {
                evaluate(classifier, on: tracked, normalization: normalization).accuracy
            }
            network.training = true
            state.evaluationSeconds += seconds(ContinuousClock.now - clock)
            state.trace.append(ValidationPoint(step: state.globalStep, trainingSeconds: state.trainingSeconds, accuracy: accuracy))
            return accuracy
        }

        let axis = EpochAxis(stepsPerEpoch: stepsPerEpoch, totalSteps: totalSteps)
        let inspected = data.test.prefix(TrainingReportPage.inspectedImages)
        /// report.html as the run stands: curves, weights and activations, settings (once per
        /// epoch and at the end, never per step).
        func reportPage(_ status: TrainingReportPage.Status) -> TrainingReportPage {
            var page = TrainingReportPage(title: "Training report: \(o.model)", classNames: data.classNames)
            page.status = status
            page.curves = .init(records: state.records, trace: state.trace, axis: axis)
            page.curvesNote = "Loss and training accuracy are each epoch's running figures while it trained (augmented images); "
                + (validation.count > 0 ? "validation accuracy is the plain forward pass on \(tracked.count) held-out images"
                    + (o.validationEvery > 0 ? ", every \(o.validationEvery == 1 ? "step" : "\(o.validationEvery) steps") and at each epoch's end." : ", at each epoch's end.")
                    : "no images were held out for validation.")
            page.inspection = ModelInspection.inspect(classifier, images: inspected)
            page.configuration = TrainingReportPage.settings(o) + [
                ("data", data.source), ("training images", "\(n)"), ("held-out validation images", "\(validation.count)"),
                ("steps per epoch", "\(stepsPerEpoch)"), ("steps", "\(totalSteps)"),
            ]
            page.environment = TrainingReportPage.environment(machine: machine, training: o.precision, evaluation: o.evaluationPrecisionInEffect)
            page.command = command
            page.files = TrainingReportPage.runFiles
            page.summary = [("epochs finished", "\(state.records.count) of \(epochs)"),
                            ("training time", String(format: "%.1f s", state.trainingSeconds))]
            return page
        }

        var batch = Tensor(shape: [0])
        var labels = [Int]()
        network.training = true
        func writePage(_ status: TrainingReportPage.Status) throws {
            if isRoot { try reportPage(status).write(toFolder: outputFolder) }
        }
        func saveCheckpoint() throws {
            if isRoot {
                try Checkpoint.save(state, to: checkpointPath, options: o, ranks: ranks, classifier: classifier, optimizer: optimizer, lookahead: lookahead)
            }
        }
        try writePage(.running(epochsDone: state.epoch, epochs: epochs))
        while state.epoch < epochs {
            let epoch = state.epoch
            let epochStart = state.rng
            var rng = state.rng
            let order = rng.permutation(n)
            let crops: [CropFlip]? = switch (o.augment, flips) {
            case (false, _): nil
            case (true, let flips?): flips.crops(epoch: epoch, using: &rng)
            case (true, nil): (0 ..< n).map { _ in CropFlip.random(using: &rng) }
            }
            if airbench, let whitening = AirbenchRecipe.whiteningLayer(of: network) {
                whitening.bias?.isFrozen = epoch >= AirbenchRecipe.whiteningBiasEpochs
            }
            let steps = min(stepsPerEpoch, totalSteps - epoch * stepsPerEpoch)
            var clock = ContinuousClock.now
            var sessionSeconds = 0.0
            var sessionImages = 0
            for step in state.step ..< steps {
                // The global batch, and this process's shard of it (all of it when alone).
                let range = (step * o.batchSize) ..< min((step + 1) * o.batchSize, n)
                let shard = BatchShard.range(of: range, rank: communicator.rank, size: ranks)
                assembler.fill(&batch, labels: &labels, from: train, indices: order[shard], crops: crops?[shard])
                // The one place the processes meet: each steps with the global batch's gradient.
                let figures = reducer.globalGradient(of: network, loss: loss, shard: batch, labels: labels, batchCount: range.count)
                let globalStep = epoch * stepsPerEpoch + step
                // Checked before the step, so a loss that is not finite changes no weight.
                guard figures.lossSum.isFinite else {
                    let value = Float(loss.reduction == .sum ? figures.lossSum : figures.lossSum / Double(range.count))
                    throw TrainingError.lossNotFinite(loss: value, step: globalStep + 1, epoch: epoch + 1, stepInEpoch: step + 1,
                                                      stepsPerEpoch: stepsPerEpoch, lastCheckpoint: checkpointPath)
                }
                state.lossSum += figures.lossSum
                state.correct += figures.correct
                state.seen += range.count
                let lr = o.schedule.learningRate(peak: learningRate, step: globalStep, totalSteps: totalSteps, stepsPerEpoch: stepsPerEpoch, warmup: o.warmup)
                optimizer.step(learningRate: lr)
                state.lastLearningRate = Double(lr)
                state.step = step + 1
                state.globalStep = globalStep + 1
                if let lookahead {
                    if Lookahead.updates(afterStep: state.globalStep) {
                        lookahead.update(network, decay: Lookahead.decay(afterStep: state.globalStep, of: totalSteps))
                    }
                    if state.globalStep == totalSteps { lookahead.finish(network) }
                }

                let now = ContinuousClock.now
                let elapsed = seconds(now - clock)
                sessionSeconds += elapsed
                sessionImages += range.count
                state.epochSeconds += elapsed
                state.trainingSeconds += elapsed
                if o.validationEvery > 0 && state.globalStep % o.validationEvery == 0 && state.step < steps {
                    _ = trackValidation()
                }
                clock = ContinuousClock.now
                let rate = Double(sessionImages) / max(sessionSeconds, 1e-9)
                let remainingImages = Double(totalSteps - state.globalStep) * Double(o.batchSize)
                observer?.stepFinished(epoch: epoch + 1, epochs: epochs, step: step + 1, steps: steps,
                                       imagesPerSecond: rate, loss: state.lossSum / Double(state.seen),
                                       accuracy: Double(state.correct) / Double(state.seen), secondsLeft: remainingImages / rate)
                if reducer.anyRank(shouldStop()) && step + 1 < steps {
                    // Mid-epoch: save the epoch's starting generator, so the resumed run redraws
                    // the same order and crops and continues at the next step.
                    state.rng = epochStart
                    try saveCheckpoint()
                    try writePage(.stopped(epochsDone: state.epoch, epochs: epochs))
                    observer?.note("stopped at epoch \(epoch + 1), step \(step + 1) of \(steps); checkpoint saved to \(checkpointPath)")
                    return TrainingResult(records: state.records, interrupted: true, testAccuracy: nil, plainTestAccuracy: nil, testCount: 0, trainingSeconds: state.trainingSeconds)
                }
            }
            let validationAccuracy = trackValidation()
            let record = EpochRecord(epoch: epoch + 1, loss: state.lossSum / Double(max(state.seen, 1)),
                                     trainAccuracy: Double(state.correct) / Double(max(state.seen, 1)),
                                     validationAccuracy: validationAccuracy, learningRate: state.lastLearningRate,
                                     imagesPerSecond: Double(state.seen) / max(state.epochSeconds, 1e-9),
                                     wallSeconds: state.trainingSeconds)
            state.records.append(record)
            state.epoch += 1
            state.step = 0
            state.rng = rng
            state.lossSum = 0; state.correct = 0; state.seen = 0; state.epochSeconds = 0
            try saveCheckpoint()
            if isRoot {
                try writeAtomically(Reports.metricsCSV(state.records), to: path("metrics.csv"))
                try writeAtomically(Reports.curvesSVG(state.records, trace: state.trace, axis: axis), to: path("curves.svg"))
            }
            let stopping = reducer.anyRank(shouldStop()) && state.epoch < epochs
            try writePage(stopping ? .stopped(epochsDone: state.epoch, epochs: epochs) : .running(epochsDone: state.epoch, epochs: epochs))
            observer?.epochFinished(record, epochs: epochs)
            if stopping {
                observer?.note("stopped after epoch \(state.epoch); checkpoint saved to \(checkpointPath)")
                return TrainingResult(records: state.records, interrupted: true, testAccuracy: nil, plainTestAccuracy: nil, testCount: 0, trainingSeconds: state.trainingSeconds)
            }
        }

        // The other processes hold the same weights; rank 0 alone writes and scores them.
        guard isRoot else {
            return TrainingResult(records: state.records, interrupted: false, testAccuracy: nil, plainTestAccuracy: nil, testCount: 0,
                                  trainingSeconds: state.trainingSeconds)
        }
        try classifier.save(to: modelPath)
        let test = testLimit.map { data.test.prefix($0) } ?? data.test
        let tta = o.tta ? TestTimeAugmentation.preset(for: o.model) : .none
        let clock = ContinuousClock.now
        let outcome = Precision.with(o.evaluationPrecisionInEffect) { score(classifier, on: test, normalization: normalization, tta: tta) }
        let testSeconds = seconds(ContinuousClock.now - clock)
        let matrix = Reports.confusionMatrix(labels: test.labels.map(Int.init), predictions: outcome.predictions)
        try writeAtomically(Reports.confusionSVG(matrix, classNames: data.classNames, title: "test set confusion matrix (\(test.count) images, accuracy \(String(format: "%.4f", outcome.accuracy)))"), to: path("confusion.svg"))
        try writeAtomically(Reports.perClassCSV(matrix, classNames: data.classNames), to: path("per-class.csv"))
        // airbench's steps are full batches; the reference recipe's epochs see every image once.
        let imagesTrained = airbench ? Double(totalSteps * o.batchSize) : Double(n) * o.epochs
        let report = RunReport(architecture: o.model, recipe: o.recipe, trainingImages: n, validationImages: validation.count,
                               trackedValidationImages: tracked.count, steps: totalSteps, batchSize: o.batchSize, epochs: o.epochs,
                               whiteningSeconds: state.whiteningSeconds, trainingSeconds: state.trainingSeconds,
                               validationSeconds: state.evaluationSeconds, testSeconds: testSeconds,
                               dataLoadingSeconds: data.loadingSeconds, wallSeconds: data.loadingSeconds + seconds(ContinuousClock.now - started),
                               resumed: resume,
                               trainingImagesPerSecond: imagesTrained / max(state.trainingSeconds, 1e-9),
                               forwardFLOPsPerImage: forwardFLOPs(of: network),
                               testTimeAugmentation: tta, testImages: test.count,
                               testAccuracy: outcome.accuracy, plainTestAccuracy: outcome.plainAccuracy,
                               trainingPrecision: o.precision, evaluationPrecision: o.evaluationPrecisionInEffect, trace: state.trace)
        try writeAtomically(report.json, to: path("run.json"))
        var page = reportPage(.finished)
        page.summary = TrainingReportPage.summary(of: report)
        page.confusion = matrix
        page.examples = ReportExample.select(from: test, evaluation: outcome)
        page.probabilityNote = TrainingReportPage.probabilityNote(tta)
        try page.write(toFolder: outputFolder)
        return TrainingResult(records: state.records, interrupted: false, testAccuracy: outcome.accuracy, plainTestAccuracy: outcome.plainAccuracy,
                              testCount: test.count, trainingSeconds: state.trainingSeconds, report: report, testEvaluation: outcome)
    }

    private func path(_ name: String) -> String { (outputFolder as NSString).appendingPathComponent(name) }

    /// The checkpoint's run state, restored into `classifier`, `optimizer` and `lookahead` on
    /// every process: rank 0 reads the file (the output folder need not be shared) and sends
    /// its bytes to the others. When rank 0 cannot restore, it reports why and the others stop
    /// with `PeerFailed`.
    private func restoreCheckpoint(options o: TrainingOptions, classifier: Classifier, optimizer: any Optimizer, lookahead: Lookahead?) throws -> RunState {
        let ranks = communicator.size
        guard ranks > 1 else {
            return try Checkpoint.restore(from: checkpointPath, options: o, ranks: ranks, classifier: classifier, optimizer: optimizer, lookahead: lookahead)
        }
        if isRoot {
            do {
                let bytes = try Checkpoint.bytes(at: checkpointPath)
                let state = try Checkpoint.restore(Safetensors.decode(bytes, named: checkpointPath), source: checkpointPath, options: o, ranks: ranks,
                                                   classifier: classifier, optimizer: optimizer, lookahead: lookahead)
                _ = communicator.broadcast(bytes: bytes, from: 0)
                return state
            } catch {
                _ = communicator.broadcast(bytes: nil, from: 0)
                throw error
            }
        }
        guard let bytes = communicator.broadcast(bytes: nil, from: 0) else { throw PeerFailed() }
        return try Checkpoint.restore(Safetensors.decode(bytes, named: checkpointPath), source: checkpointPath, options: o, ranks: ranks,
                                      classifier: classifier, optimizer: optimizer, lookahead: lookahead)
    }
}

/// The part of a run a checkpoint must hold besides weights and optimiser state.
struct RunState {
    /// The generator at the start of epoch `epoch` (or, between epochs, of the next epoch).
    var rng: TrainingRandom
    /// Completed epochs.
    var epoch = 0
    /// Completed steps of the current epoch.
    var step = 0
    /// Completed steps of the run.
    var globalStep = 0
    var lossSum = 0.0
    var correct = 0
    var seen = 0
    var epochSeconds = 0.0
    var trainingSeconds = 0.0
    var whiteningSeconds = 0.0
    var evaluationSeconds = 0.0
    var lastLearningRate = 0.0
    var records = [EpochRecord]()
    var trace = [ValidationPoint]()
}

/// The outcome of scoring a classifier on a split (`score`).
public struct Evaluation: Sendable {
    /// Accuracy with the test-time augmentation asked for.
    public var accuracy: Double
    /// Accuracy of the plain forward pass (the first view), computed in the same pass.
    public var plainAccuracy: Double
    /// The predicted label of each image.
    public var predictions: [Int]
    /// The softmax of each image's evaluation logits (with test-time augmentation, of the views'
    /// weighted sum), `classes` values per image.
    public var probabilities: [Float]
    /// Classes per image in `probabilities`.
    public var classes: Int

    /// The probability image `index` has for class `label`.
    public func probability(of label: Int, image index: Int) -> Float { probabilities[index * classes + label] }
}

/// The accuracy and the predicted labels of `classifier` on `split` (see `score`).
public func evaluate(_ classifier: Classifier, on split: CIFARSplit, normalization: Normalization? = nil,
                     tta: TestTimeAugmentation = .none) -> (accuracy: Double, plainAccuracy: Double, predictions: [Int]) {
    let outcome = score(classifier, on: split, normalization: normalization, tta: tta)
    return (outcome.accuracy, outcome.plainAccuracy, outcome.predictions)
}

/// `classifier` scored on `split` (evaluation mode, batches of 500, products in
/// `Precision.current`), with the test-time augmentation `tta`: each image's logits are the
/// weighted sum of its views' logits. `plainAccuracy` is the first view's, the image alone (the
/// plain forward pass), computed in the same pass. Inputs are normalised by `normalization`
/// (default: the classifier's).
public func score(_ classifier: Classifier, on split: CIFARSplit, normalization: Normalization? = nil,
                  tta: TestTimeAugmentation = .none) -> Evaluation {
    let assembler = BatchAssembler(normalization: normalization ?? classifier.normalization, padding: tta.padding, paddingMode: .reflect)
    let views = tta.views
    let network = classifier.network
    let wasTraining = network.training
    network.training = false
    defer { network.training = wasTraining }
    var predictions = [Int]()
    predictions.reserveCapacity(split.count)
    var probabilities = [Float]()
    var classes = 0
    var batch = Tensor(shape: [0])
    var labels = [Int]()
    var logits = Tensor(shape: [0])
    var (correct, plainCorrect) = (0, 0)
    let size = 500
    var start = 0
    while start < split.count {
        let end = min(start + size, split.count)
        let indices = Array(start ..< end)[...]
        for (v, view) in views.enumerated() {
            let crops = [CropFlip](repeating: view.crop, count: end - start)[...]
            assembler.fill(&batch, labels: &labels, from: split, indices: indices, crops: crops)
            let out = network(batch)
            if v == 0 {
                logits.resize(to: out.shape)
                out.withUnsafeBufferPointer { p in
                    for i in 0 ..< (end - start) where argmax(p, offset: i * out.shape[1], count: out.shape[1]) == labels[i] { plainCorrect += 1 }
                }
                for i in 0 ..< out.count { logits.storage[i] = view.weight * out.storage[i] }
            } else {
                for i in 0 ..< out.count { logits.storage[i] += view.weight * out.storage[i] }
            }
        }
        classes = logits.shape.last ?? 1
        if probabilities.isEmpty { probabilities.reserveCapacity(split.count * classes) }
        logits.withUnsafeBufferPointer { p in
            for i in 0 ..< (end - start) {
                let guess = argmax(p, offset: i * classes, count: classes)
                predictions.append(guess)
                if guess == labels[i] { correct += 1 }
                // Softmax, shifted by the largest logit so exp cannot overflow.
                let top = p[i * classes + guess]
                var total: Float = 0
                for j in 0 ..< classes { total += Foundation.exp(p[i * classes + j] - top) }
                for j in 0 ..< classes { probabilities.append(Foundation.exp(p[i * classes + j] - top) / total) }
            }
        }
        start = end
    }
    let count = Double(max(split.count, 1))
    return Evaluation(accuracy: Double(correct) / count, plainAccuracy: Double(plainCorrect) / count,
                      predictions: predictions, probabilities: probabilities, classes: classes)
}

private func argmax(_ p: UnsafeBufferPointer<Float>, offset: Int, count: Int) -> Int {
    var best = 0
    for j in 1 ..< count where p[offset + j] > p[offset + best] { best = j }
    return best
}

private func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
