import ArgumentParser
import Foundation
import Kernels
import Training

/// `featuremaps train-cifar`: trains a CIFAR-10 classifier and writes the model and reports.
struct TrainCIFARCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-cifar",
        abstract: "Train a CNN on CIFAR-10 from scratch; writes model.safetensors, metrics, curves and a confusion matrix.",
        discussion: """
        Each preset's defaults are the PyTorch reference recipe for that net, plus
        flip test-time augmentation (--tta), chosen on a validation split. Options given override them.
          seed: batch 64, SGD Nesterov 0.9, weight decay 5e-4, one-cycle to lr 0.02 (15% warm-up), crop+flip, 20 epochs, --tta
          vgg:  batch 128, same optimiser, one-cycle to lr 0.1, crop+flip, 15 epochs, --tta
        A custom network is a spec such as "c32k3p1,bn,relu,mp2,c64k3p1,bn,relu,mp2,fc10" (Docs/TRAINING.md).
        Ctrl-C saves a checkpoint; the same command with --resume continues to the same result.
        """)

    @Option(help: "seed, vgg, or a layer spec.")
    var model = "seed"
    @Option(help: "CIFAR-10 binary folder or cifar-10-binary.tar.gz (default: $CIFAR10_DIR).")
    var data: String?
    @Option(help: "Output folder.")
    var out = "Output"
    @Option(help: "Images per step.")
    var batchSize: Int?
    @Option(help: "Passes over the training images.")
    var epochs: Int?
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
    @Flag(inversion: .prefixedNo, help: "Test-time augmentation: average each test image's logits with its mirror image's.")
    var tta: Bool?
    @Option(help: "Label smoothing of the loss.")
    var labelSmoothing: Float?
    @Option(help: "Seed of initialisation, data order and augmentation.")
    var seed: UInt64 = 0
    @Option(help: "Kernel threads (default: all cores); a run is reproducible for a seed and thread count.")
    var threads: Int?
    @Option(help: "Train on the first N training images only.")
    var limit: Int?
    @Option(help: "Hold out N training images for validation.")
    var validation = 0
    @Flag(help: "Continue the stopped run in --out (same arguments).")
    var resume = false

    func options() throws -> TrainingOptions {
        var o = TrainingOptions.preset(for: model)
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
        if let tta { o.flipTest = tta }
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            o.threads = threads
        }
        if let limit {
            guard limit >= 2 else { throw ValidationError("--limit must be at least 2") }
            o.limit = limit
        }
        guard validation >= 0 else { throw ValidationError("--validation must not be negative") }
        guard o.batchSize >= 1, o.epochs >= 1 else { throw ValidationError("--batch-size and --epochs must be at least 1") }
        guard (0 ... 1).contains(o.warmup), (0 ..< 1).contains(o.labelSmoothing) else {
            throw ValidationError("--warmup must be in [0, 1] and --label-smoothing in [0, 1)")
        }
        o.validation = validation
        o.seed = seed
        return o
    }

    func run() throws {
        let options = try options()
        let started = ContinuousClock.now
        let cifar = try CIFAR10.load(dataOption: data)
        StopRequest.install()
        let console = ConsoleProgress()
        let trainer = Trainer(options: options, data: cifar, outputFolder: out, observer: console)
        let result = try trainer.run(resume: resume)
        console.finishLine()
        if result.interrupted { throw ExitCode(130) }
        let wall = ContinuousClock.now - started
        print("wrote \(trainer.modelPath), metrics.csv, curves.svg, confusion.svg, per-class.csv in \(out)")
        print(String(format: "training time %.1f s, whole run %.1f s", result.trainingSeconds, Double(wall.components.seconds) + Double(wall.components.attoseconds) * 1e-18))
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
