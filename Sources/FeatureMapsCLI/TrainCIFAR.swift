import ArgumentParser
import Benchmarking
import FeatureMaps
import Foundation
import Training

/// `featuremaps train-cifar`: trains a CIFAR-10 classifier and writes the model and reports.
public struct TrainCIFARCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "train-cifar",
        abstract: "Train a CNN on CIFAR-10 from scratch; writes model.safetensors and a report page (report.html) with curves, a confusion matrix and the weights.",
        discussion: """
        Each preset's defaults are the PyTorch reference recipe for that net, plus
        flip test-time augmentation (--tta), chosen on a validation split. Options
        given override them.

          seed      batch 64, SGD Nesterov 0.9, weight decay 5e-4, one-cycle to
                    lr 0.02 (15% warm-up), crop+flip, 20 epochs, --tta
          vgg       batch 128, the same optimiser, one-cycle to lr 0.1,
                    crop+flip, 15 epochs, --tta
          airbench  airbench94's network and recipe: batch 1024, summed loss
                    with label smoothing 0.2, Nesterov 0.85, lr 11.5 and weight
                    decay 0.0153 per 1,024 examples (decoupled), BN biases at
                    64x, triangle schedule (0.2 -> 1 at 23% -> 0.07), lookahead
                    every 5 steps, whitening from 5,000 images, alternating
                    flip + 2-pixel reflect translation, 9.9 epochs, --tta (6
                    views); with --validation it scores the first 2,000
                    held-out images every 10 steps (run.json: time to
                    90/93/94%)

        A custom network is a spec such as
        "c32k3p1,bn,relu,mp2,c64k3p1,bn,relu,mp2,fc10" (Docs/TRAINING.md).

        Ctrl-C saves a checkpoint; the same command with --resume continues to the
        same result.

        Writes model.safetensors, report.html (rewritten at each epoch while
        training; open it in a browser), metrics.csv, curves.svg, confusion.svg,
        per-class.csv and run.json in the output folder.

        Examples:
          featuremaps train-cifar --data cifar-10-batches-bin
          featuremaps train-cifar --arch airbench --validation 5000 -o Airbench
          featuremaps train-cifar --arch vgg -o VGG --resume   (after a Ctrl-C)
        """)

    @Option(help: ArgumentHelp("The network to train: seed (the default), vgg, airbench, or a layer spec.", valueName: "arch"))
    var arch: String?
    /// The old name of --arch, from before --model meant a model file in every subcommand.
    @Option(help: .hidden)
    var model: String?
    @OptionGroup var data: CIFARDataOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "Images per step.")
    var batchSize: Int?
    @Option(help: "Passes over the training images (a fraction ends part-way through the last).")
    var epochs: Double?
    @Option(help: "Peak learning rate.")
    var lr: Float?
    @Option(help: "SGD momentum.")
    var momentum: Float?
    @Flag(inversion: .prefixedNo, help: "Nesterov momentum.")
    var nesterov: Bool?
    @Option(help: "L2 weight decay.")
    var weightDecay: Float?
    @Option(help: "sgd or adam.")
    var optimizer: String?
    @Option(help: "constant, step, cosine or one-cycle.")
    var schedule: String?
    @Option(help: "Fraction of the steps spent warming up linearly.")
    var warmup: Float?
    @Flag(inversion: .prefixedNo, help: "Random crop (4-pixel padding) and horizontal flip.")
    var augment: Bool?
    @Flag(inversion: .prefixedNo, help: ttaHelp)
    var tta: Bool?
    @Option(help: "Label smoothing of the loss.")
    var labelSmoothing: Float?
    @Option(help: "Seed of initialisation, data order and augmentation.")
    var seed: UInt64 = 0
    @OptionGroup var threads: ThreadOptions
    @OptionGroup var precision: PrecisionOptions
    @Option(help: ArgumentHelp("Products of the run's evaluations (held-out images, test set) in fp32 or bf16 (default: --precision's).",
                               valueName: "fp32|bf16"))
    var evaluationPrecision: String?
    @Option(help: "Train on the first N training images only.")
    var limit: Int?
    @Option(help: "Hold out N training images for validation.")
    var validation = 0
    @Option(help: "Also score the held-out images every N steps (0: at epoch ends only).")
    var validationEvery: Int?
    @Option(help: "Score only the first N held-out images during training.")
    var validationLimit: Int?
    @Flag(name: .customLong("sync-bn"), help: "Under mpirun: batch norms use the statistics of the whole global batch, summed over the processes (default: each process's share).")
    var syncBN = false
    @Flag(inversion: .prefixedNo, help: "Under mpirun: sum each bucket of gradients over the processes as soon as the backward pass has finished it, while it goes on (the same result; default: on when the processes span hosts).")
    var overlapGradients: Bool?
    @Flag(help: "Continue the stopped run in --out (same arguments).")
    var resume = false

    public init() {}

    /// The architecture: --arch, else the deprecated --model, else the seed preset. A model file
    /// given to --model is refused: train-cifar trains a new network.
    public func architecture() throws -> String {
        switch (arch, model) {
        case (let arch?, nil): return arch
        case (nil, nil): return "seed"
        case (_?, _?): throw ValidationError("give the network with --arch only (--model is its old name)")
        case (nil, let name?):
            if name.hasSuffix(".safetensors") || FileManager.default.fileExists(atPath: name) {
                throw ValidationError("train-cifar trains a new network: give it with --arch (seed, vgg or a layer spec); \(name) looks like a model file")
            }
            return name
        }
    }

    public func validate() throws {
        _ = try options()
    }

    /// The run's settings: the preset of the architecture, then every flag given.
    public func options() throws -> TrainingOptions {
        let architecture = try architecture()
        if !ModelZoo.presets.contains(architecture) {
            do { _ = try ModelSpec.parse(architecture) } catch let error as TrainingError { throw ValidationError(error) }
        }
        var o = TrainingOptions.preset(for: architecture)
        if let batchSize { o.batchSize = batchSize }
        if let epochs { o.epochs = epochs }
        if let lr { o.learningRate = lr }
        if let momentum { o.momentum = momentum }
        if let nesterov { o.nesterov = nesterov }
        if let weightDecay { o.weightDecay = weightDecay }
        if let optimizer {
            guard let kind = OptimizerKind(rawValue: optimizer) else { throw ValidationError("--optimizer must be sgd or adam") }
            o.optimizer = kind
        }
        if let schedule {
            guard let s = LearningRateSchedule(rawValue: schedule) else {
                throw ValidationError("--schedule must be one of \(LearningRateSchedule.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            o.schedule = s
        }
        if let warmup { o.warmup = warmup }
        if let augment { o.augment = augment }
        if let labelSmoothing { o.labelSmoothing = labelSmoothing }
        if let tta { o.tta = tta }
        if let validationEvery { o.validationEvery = validationEvery }
        if let validationLimit { o.validationLimit = validationLimit }
        if let chosen = try precision.chosen { o.precision = chosen }
        if let evaluationPrecision {
            o.evaluationPrecision = try PrecisionOptions.parse(evaluationPrecision, flag: "--evaluation-precision")
        }
        // Under an MPI launcher, the processes on a host share its cores.
        o.threads = threads.threads ?? Processes.defaultThreads()
        o.limit = limit
        o.validation = validation
        o.seed = seed
        o.syncBatchNorm = syncBN
        do { try o.validate() } catch { throw ValidationError(error) }
        return o
    }

    public func run() throws {
        let options = try options()
        if arch == nil, let model {
            printToStandardError("featuremaps: note: train-cifar --model is deprecated (--model names a model file elsewhere); use --arch \(model)\n")
        }
        let processes = try Processes.join()
        try processes.run { try train(options, processes: processes) }
    }

    private func train(_ options: TrainingOptions, processes: Processes) throws {
        let cifar = try data.load()
        StopRequest.install()
        // Rank 0 speaks for the run; the others train quietly.
        let console = processes.isRoot ? ConsoleProgress() : nil
        let trainer = Trainer(options: options, data: cifar, outputFolder: output.out, observer: console)
        trainer.communicator = processes.communicator
        trainer.overlapsGradientSums = overlapGradients ?? Processes.defaultOverlap()
        trainer.command = reproducingCommand(dropping: ["--resume"])
        trainer.machine = Benchmarks.cpuDescription().model
        let result = try trainer.run(resume: resume)
        console?.finishLine()
        if result.interrupted {
            if processes.isRoot { print("continue with the same command and --resume") }
            throw ExitCode(130)
        }
        guard processes.isRoot else { return }
        print("wrote \(trainer.modelPath), report.html, metrics.csv, curves.svg, confusion.svg, per-class.csv, run.json in \(output.out)")
        if let r = result.report {
            print(String(format: "data loading %.1f s, whitening %.2f s, training %.1f s (%.0f img/s, %.1f effective GFLOP/s), validation during training %.1f s, test evaluation %.1f s, whole run %.1f s%@",
                         r.dataLoadingSeconds, r.whiteningSeconds, r.trainingSeconds, r.trainingImagesPerSecond, r.effectiveGFLOPS, r.validationSeconds, r.testSeconds,
                         r.wallSeconds, r.resumed ? " (last session)" : ""))
            let reached = [0.90, 0.93, 0.94].map { t in r.secondsTo(t).map { String(format: "%.0f%% at %.1f s", t * 100, $0) } ?? String(format: "%.0f%% not reached", t * 100) }
            if !r.trace.isEmpty { print("validation (\(r.trackedValidationImages) held-out images, training time): " + reached.joined(separator: ", ")) }
            if r.testTimeAugmentation != .none {
                print(String(format: "plain forward pass: %.4f on %d images", r.plainTestAccuracy, r.testImages))
            }
        }
        print(String(format: "test accuracy: %.4f on %d images", result.testAccuracy ?? 0, result.testCount))
    }
}

/// Prints training progress: a redrawn bar on a terminal, plain lines otherwise.
final class ConsoleProgress: TrainingObserver {
    private let isTerminal = isatty(STDOUT_FILENO) != 0
    private var lastDraw = ContinuousClock.now - .seconds(1)
    private var barShown = false

    func stepFinished(epoch: Int, epochs: Int, step: Int, steps: Int, imagesPerSecond: Double, loss: Double, accuracy: Double, secondsLeft: Double) {
        guard isTerminal else { return }
        let now = ContinuousClock.now
        guard now - lastDraw > .milliseconds(200) || step == steps else { return }
        lastDraw = now
        let width = 24
        let filled = width * step / max(steps, 1)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = String(format: "epoch %d/%d [%@] %d/%d  %.0f img/s  loss %.4f  acc %.3f  ETA %@",
                          epoch, epochs, bar, step, steps, imagesPerSecond, loss, accuracy, Self.clock(secondsLeft))
        FileHandle.standardOutput.write(Data(("\r" + line + "\u{1B}[K").utf8))
        barShown = true
    }

    func epochFinished(_ r: EpochRecord, epochs: Int) {
        finishLine()
        let val = r.validationAccuracy.map { String(format: "  val acc %.4f", $0) } ?? ""
        print(String(format: "epoch %d/%d  loss %.4f  train acc %.4f%@  lr %.4g  %.0f img/s  %.1f s",
                     r.epoch, epochs, r.loss, r.trainAccuracy, val, r.learningRate, r.imagesPerSecond, r.wallSeconds))
        fflush(nil)
    }

    func note(_ message: String) {
        finishLine()
        print(message)
        fflush(nil)
    }

    /// Ends a progress bar line so the next output starts on its own line.
    func finishLine() {
        if barShown { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)); barShown = false }
        fflush(nil)
    }

    private static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "--:--" }
        let s = Int(seconds.rounded())
        return String(format: "%d:%02d", s / 60, s % 60)
    }
}
