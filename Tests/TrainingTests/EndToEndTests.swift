import Foundation
import Testing
import Training

/// The CIFAR-10 folder: $CIFAR10_DIR when set (CI sets it: a missing folder must fail the
/// test, not skip it), else ../shared/data/cifar-10-batches-bin beside the repository.
func cifarFolder() -> String {
    if let dir = ProcessInfo.processInfo.environment["CIFAR10_DIR"], !dir.isEmpty { return dir }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.deletingLastPathComponent().appendingPathComponent("shared/data/cifar-10-batches-bin").path
}

@Suite struct EndToEndTests {
    /// The seed net with its preset recipe, one epoch on the first 10,000 training images, must
    /// reach 35% on the first 2,000 test images (PyTorch with the same recipe: 44.5%).
    @Test func seedNetLearnsInOneEpoch() throws {
        let folder = cifarFolder()
        let data = try CIFAR10.load(from: folder)
        var options = TrainingOptions.preset(for: "seed")
        options.epochs = 1
        options.limit = 10_000
        let out = try Fixture.temporaryFolder().path
        let trainer = Trainer(options: options, data: data, outputFolder: out)
        trainer.testLimit = 2_000
        let result = try trainer.run()
        let accuracy = try #require(result.testAccuracy)
        print("end-to-end: seed net, 1 epoch on 10,000 images: test accuracy \(accuracy) on \(result.testCount) images, \(result.trainingSeconds) s training")
        #expect(result.testCount == 2_000)
        #expect(accuracy >= 0.35)
    }
}
