import ArgumentParser
import Benchmarking
import Foundation
import Kernels
import Training

/// `featuremaps evaluate`: a trained model's accuracy on the official test set.
public struct EvaluateCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Accuracy of a trained model on the CIFAR-10 test set, per class, with a confusion matrix.",
        discussion: """
            Writes report.html (accuracy, confusion matrix, test images with their predictions, \
            weights and activations; the training curves when the model's folder holds its \
            metrics.csv), confusion.svg and per-class.csv in the output folder. With --validation N it scores \
            the N training images that `train-cifar --validation N` held out instead (the model file \
            records which ones, --limit included), so that choices such as --tta are made without \
            looking at the test set.
            """)

    @OptionGroup var model: ModelFileOptions
    @OptionGroup var data: CIFARDataOptions
    @OptionGroup var output: OutputOptions
    @Flag(inversion: .prefixedNo, help: ttaHelp)
    var tta = false
    @Option(help: "Score the N held-out training images of `train-cifar --validation N` instead of the test set.")
    var validation: Int?
    @OptionGroup var threads: ThreadOptions
    @OptionGroup var precision: PrecisionOptions

    public init() {}

    public func validate() throws {
        if let validation, validation < 1 { throw ValidationError("--validation must be at least 1") }
    }

    public func run() throws {
        try threads.scoped { try precision.scoped(score) }
    }

    private func score() throws {
        let classifier = try Classifier.load(path: model.model)
        let cifar = try data.load()
        let split = try validation.map { try classifier.heldOutImages(from: cifar.train, count: $0, source: model.model) } ?? cifar.test
        let splitName = validation == nil ? "test" : "validation"
        let augmentation: TestTimeAugmentation = tta ? .preset(for: classifier.architecture) : .none
        let clock = ContinuousClock.now
        let outcome = Training.score(classifier, on: split, tta: augmentation)
        let elapsed = (ContinuousClock.now - clock).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
        let matrix = Reports.confusionMatrix(labels: split.labels.map(Int.init), predictions: outcome.predictions)
        for (name, accuracy) in zip(classifier.classNames, Reports.perClassAccuracy(matrix)) {
            print(name.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: "%.4f", accuracy))
        }
        let title = "\(model.model): \(splitName) set confusion matrix (\(split.count) images, accuracy \(String(format: "%.4f", outcome.accuracy)))"
        try writeAtomically(Reports.confusionSVG(matrix, classNames: classifier.classNames, title: title), to: output.path("confusion.svg"))
        try writeAtomically(Reports.perClassCSV(matrix, classNames: classifier.classNames), to: output.path("per-class.csv"))
        let page = TrainingReportPage.evaluation(of: classifier, modelPath: model.model, split: split, splitName: splitName, outcome: outcome,
                                                 tta: augmentation, seconds: seconds, machine: Benchmarks.cpuDescription().model,
                                                 evaluationPrecision: Precision.current, command: reproducingCommand())
        try page.write(toFolder: output.out)
        print("\(splitName) accuracy: " + String(format: "%.4f on %d images", outcome.accuracy, split.count)
              + (tta ? String(format: " (plain forward pass: %.4f)", outcome.plainAccuracy) : ""))
    }
}
