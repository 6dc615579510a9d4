import ArgumentParser
import FeatureMaps
import TrainedMaps
import Training

/// `featuremaps explain`: where a trained model looked in each photo (Grad-CAM and saliency).
public struct ExplainCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show where a trained model looked in photos: Grad-CAM maps of its top classes and a saliency map.",
        discussion: """
        For each photo (resized to 32x32 by area averaging, as 'predict' classifies it), prints predict's line and writes OUT/<stem>/: photo.png, input_32x32.png (what the network saw), gradcam_1_<class>.png ... (Grad-CAM of each of the --top classes, laid over the photo), saliency.png (|d score / d input| of the top class). OUT/explain.html shows them all. Folders are searched for PNG and JPEG files as the explorer does.

        --layer names a top-level module of the network as in its state dict (seed: conv1, 1, conv2, 3, 4; vgg: 0 ... 20; airbench: 0 ... 5); the default is the last convolution's output after the batch norm and activation that follow it (seed: 3, vgg: 19, airbench: 4).

        Exit status: 0 all done, 1 some photos failed (one line each) or the model or --layer is unusable, 2 usage error. Details: Docs/TRAINING.md.
        """)

    @OptionGroup var model: ModelFileOptions

    @OptionGroup var output: OutputOptions

    @Option(help: ArgumentHelp("Classes to explain, most probable first.", valueName: "k"))
    var top = 3

    @Option(help: ArgumentHelp("The module whose output Grad-CAM weighs (default: after the last convolution).", valueName: "name"))
    var layer: String?

    @OptionGroup var threads: ThreadOptions

    @OptionGroup var precision: PrecisionOptions

    @Argument(help: ArgumentHelp("PNG or JPEG files, and folders searched recursively for them.", valueName: "photo"))
    var photos: [String] = []

    public init() {}

    public func validate() throws {
        guard !photos.isEmpty else { throw ValidationError("give at least one photo") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
    }

    public func run() throws {
        try threads.scoped { try precision.scoped(explainAll) }
    }

    private func explainAll() throws {
        let writer = try ExplanationWriter(classifier: Classifier.load(path: model.model), modelPath: model.model,
                                           layer: layer, top: top, outputRoot: output.out)
        let (inputs, earlyFailures) = InputDiscovery.collect(photos, excluding: output.out)
        var failures = earlyFailures.map(\.description)
        var explanations = [PhotoExplanation]()
        for failure in failures { printToStandardError("featuremaps: \(failure)\n") }
        for input in inputs {
            // One unreadable photo is reported and the others are still explained.
            do {
                let explanation = try writer.explain(input)
                print(PredictCommand.line(path: input.path, top: explanation.predictions.map { ($0.name, $0.probability) }))
                explanations.append(explanation)
            } catch {
                let line = Messages.line(for: error)
                printToStandardError("featuremaps: \(line)\n")
                failures.append(line)
            }
        }
        if inputs.isEmpty && failures.isEmpty {
            throw CommandFailure("no PNG or JPEG files in \(photos.joined(separator: " "))")
        }
        print("wrote \(try writer.writePage(explanations, failures: failures))")
        if !failures.isEmpty { throw ExitCode(1) }
    }
}
