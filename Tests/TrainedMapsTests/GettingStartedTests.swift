import FeatureMaps
import Foundation
import Testing
import TrainedMaps
import Training

/// The code of Sources/TrainedMaps/TrainedMaps.docc/GettingStarted.md, run as written
/// (`DocumentationExampleTests` checks that the article still shows this code).
@Suite struct TrainedMapsGettingStartedTests {
    /// The sample photo of the repository.
    static let chelseaPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("SampleImages/chelsea.png").path

    /// The article's function: a trained model's feature maps of a photo, written by the explorer.
    func exploreWithModel(at modelPath: String, photo photoPath: String, into outputFolder: String) throws -> BatchSummary {
        let network = try TrainedFeatureMaps(path: modelPath)   // a model.safetensors from Trainer
        let explorer = Explorer(network: network, options: ExplorerOptions(outputRoot: outputFolder))
        return explorer.run([ExplorerInput(path: photoPath, outputFolder: "photo")])
    }

    @Test func anUntrainedSeedModelDrawsItsMaps() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // A freshly initialised model stands in for a trained one: the same file format.
        let modelPath = folder + "/model.safetensors"
        try Classifier(architecture: "seed", seed: 0).save(to: modelPath)
        let photo = Self.chelseaPath

        let summary = try exploreWithModel(at: modelPath, photo: photo, into: folder + "/Output")
        #expect(summary.succeeded == 1, "\(summary.failures)")
        #expect(summary.images.first?.topClasses.count == 3)
        #expect(FileManager.default.fileExists(atPath: folder + "/Output/photo/L1.png"))
    }

    @Test func theExplanationWriterWritesItsPage() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (modelPath, outputFolder) = (folder + "/model.safetensors", folder + "/Output")
        try Classifier(architecture: "seed", seed: 0).save(to: modelPath)
        let photoPath = Self.chelseaPath

        let writer = try ExplanationWriter(classifier: try Classifier.load(path: modelPath), modelPath: modelPath,
                                           layer: nil, top: 3, outputRoot: outputFolder)
        let explanation = try writer.explain(ExplorerInput(path: photoPath, outputFolder: "photo"))
        let page = try writer.writePage([explanation], failures: [])

        #expect(explanation.predictions.count == 3)
        #expect(page == outputFolder + "/explain.html")
        #expect(FileManager.default.fileExists(atPath: folder + "/Output/" + explanation.predictions[0].gradCAMFile))
    }
}
