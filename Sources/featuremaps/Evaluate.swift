import ArgumentParser
import Foundation
import Kernels
import Training

/// `featuremaps evaluate`: a trained model's accuracy on the official test set.
struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Accuracy of a trained model on the CIFAR-10 test set, per class, with a confusion matrix.",
        discussion: """
            With --validation N it scores the N training images that `train-cifar --validation N` \
            held out instead (the model file records which ones, --limit included), so that choices \
            such as --tta are made without looking at the test set.
            """)

    @Option(help: "A model.safetensors written by train-cifar.")
    var model = "Output/model.safetensors"
    @Option(help: "CIFAR-10 binary folder or cifar-10-binary.tar.gz (default: $CIFAR10_DIR).")
    var data: String?
    @Option(help: "Output folder for confusion.svg and per-class.csv.")
    var out = "Output"
    @Flag(help: "Test-time augmentation: average each test image's logits with its mirror image's.")
    var tta = false
    @Option(help: "Score the N held-out training images of `train-cifar --validation N` instead of the test set.")
    var validation: Int?
    @Option(help: "Kernel threads (default: all cores).")
    var threads: Int?

    func run() throws {
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            Parallelism.threadCount = threads
        }
        if let validation, validation < 1 { throw ValidationError("--validation must be at least 1") }
        let classifier = try Classifier.load(path: model)
        let cifar = try CIFAR10.load(dataOption: data)
        let split = try validation.map { try classifier.heldOutImages(from: cifar.train, count: $0, source: model) } ?? cifar.test
        let splitName = validation == nil ? "test" : "validation"
        let outcome = evaluate(classifier, on: split, flipAveraging: tta)
        let matrix = Reports.confusionMatrix(labels: split.labels.map(Int.init), predictions: outcome.predictions)
        for (name, accuracy) in zip(classifier.classNames, Reports.perClassAccuracy(matrix)) {
            print(name.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: "%.4f", accuracy))
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let title = "\(model): \(splitName) set confusion matrix (\(split.count) images, accuracy \(String(format: "%.4f", outcome.accuracy)))"
        try writeAtomically(Reports.confusionSVG(matrix, classNames: classifier.classNames, title: title), to: (out as NSString).appendingPathComponent("confusion.svg"))
        try writeAtomically(Reports.perClassCSV(matrix, classNames: classifier.classNames), to: (out as NSString).appendingPathComponent("per-class.csv"))
        print("\(splitName) accuracy: " + String(format: "%.4f on %d images", outcome.accuracy, split.count))
    }
}
