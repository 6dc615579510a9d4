import ArgumentParser
import Foundation
import ImageIO
import Training

/// Writes one line to standard error.
private func reportError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// `featuremaps predict`: the top-3 classes of each photo under a trained model.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Classify photos (PNG or JPEG, resized to 32x32 by area averaging) with a trained model: top-3 classes.")

    @Option(help: "A model.safetensors written by train-cifar.")
    var model = "Output/model.safetensors"

    @Argument(help: "Photos to classify.")
    var photos: [String]

    func run() throws {
        guard !photos.isEmpty else { throw ValidationError("give at least one photo") }
        let classifier = try Classifier.load(path: model)
        var failed = false
        for path in photos {
            // One unreadable photo is reported and the others are still classified.
            do {
                let image = try readImage(atPath: path)
                let top = classifier.topClasses(of: [image])[0]
                print("\(path): " + top.map { "\($0.name) \(String(format: "%.3f", $0.probability))" }.joined(separator: ", "))
            } catch {
                reportError("Error: \(error)")
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}
