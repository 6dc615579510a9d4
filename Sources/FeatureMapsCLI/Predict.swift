import ArgumentParser
import FeatureMaps
import Foundation
import ImageIO
import Training

/// `featuremaps predict`: the top-3 classes of each photo under a trained model.
public struct PredictCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify photos (PNG or JPEG, resized to 32x32 by area averaging) with a trained model: top-3 classes.")

    @OptionGroup var model: ModelFileOptions

    @OptionGroup var threads: ThreadOptions

    @OptionGroup var precision: PrecisionOptions

    @Argument(help: "Photos to classify.")
    var photos: [String] = []

    public init() {}

    public func validate() throws {
        guard !photos.isEmpty else { throw ValidationError("give at least one photo") }
    }

    public func run() throws {
        try threads.scoped { try precision.scoped(classify) }
    }

    private func classify() throws {
        let classifier = try Classifier.load(path: model.model)
        var failed = false
        for path in photos {
            // One unreadable photo is reported and the others are still classified.
            do {
                let image = try readImage(atPath: path)
                let top = classifier.topClasses(of: [image])[0]
                print(Self.line(path: path, top: top))
            } catch {
                printToStandardError("featuremaps: \(Messages.line(for: error))\n")
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }

    /// "PATH: cat 0.734, dog 0.100, frog 0.050": the line predict prints per photo (explain too).
    static func line(path: String, top: [(name: String, probability: Float)]) -> String {
        "\(path): " + top.map { "\($0.name) \(String(format: "%.3f", $0.probability))" }.joined(separator: ", ")
    }
}
