import Foundation
import Testing
import Training

/// True when `CIFAR10_DIR` names a data set: the only place the end-to-end test looks. A clone
/// without the 162 MB download sees the test skipped with where to get it; CI sets the variable
/// (.ci/run stops before the tests when the files are not there), so there it always runs. Set
/// but wrong, the variable fails the test with the loader's own error.
let cifarDataGiven = !(ProcessInfo.processInfo.environment["CIFAR10_DIR"] ?? "").isEmpty

/// Why the CIFAR-10 tests are skipped without `CIFAR10_DIR`.
let cifarSkipReason: Comment = """
    CIFAR10_DIR is not set: set it to the folder cifar-10-batches-bin of the official CIFAR-10 binary \
    version (https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, 162 MB) to run this test
    """

@Suite struct EndToEndTests {
    /// `architecture`'s preset for one epoch on the first 10,000 training images of
    /// `$CIFAR10_DIR`, scored on the first 2,000 test images.
    func oneEpochOn10000Images(_ architecture: String) throws -> (data: CIFAR10Data, result: TrainingResult, accuracy: Double) {
        let data = try CIFAR10.load(from: ProcessInfo.processInfo.environment["CIFAR10_DIR"] ?? "")
        var options = TrainingOptions.preset(for: architecture)
        options.epochs = 1
        options.limit = 10_000
        let out = try Fixture.temporaryFolder().path
        let trainer = Trainer(options: options, data: data, outputFolder: out)
        trainer.testLimit = 2_000
        let result = try trainer.run()
        return (data, result, try #require(result.testAccuracy))
    }

    /// The seed net with its preset recipe, one epoch on the first 10,000 training images, must
    /// reach 35% on the first 2,000 test images (PyTorch with the same recipe: 44.5%).
    @Test(.enabled(if: cifarDataGiven, cifarSkipReason))
    func seedNetLearnsInOneEpoch() throws {
        let (data, result, accuracy) = try oneEpochOn10000Images("seed")
        print("end-to-end: seed net, 1 epoch on 10,000 images: test accuracy \(accuracy) on \(result.testCount) images, \(result.trainingSeconds) s training")
        #expect(data.train.count == 50_000 && data.test.count == 10_000)
        #expect(result.testCount == 2_000)
        #expect(accuracy >= 0.35)
    }
}

extension EndToEndTests {
    /// The airbench preset (its recipe, batch 1,024, TTA) for one epoch on the first 10,000
    /// training images (9 steps: the whole triangle schedule and lookahead squeezed into them),
    /// scored on the first 2,000 test images, must reach 25%. Seeds 0, 1, 2 scored 0.342,
    /// 0.337, 0.316 (Docs/TRAINING.md); a model that learnt nothing scores about 10%.
    @Test(.enabled(if: cifarDataGiven, cifarSkipReason))
    func airbenchLearnsInOneEpoch() throws {
        let (_, result, accuracy) = try oneEpochOn10000Images("airbench")
        let report = try #require(result.report)
        print("end-to-end: airbench, 1 epoch on 10,000 images: test accuracy \(accuracy) with TTA, \(report.plainTestAccuracy) plain, on \(result.testCount) images; whitening \(report.whiteningSeconds) s, training \(report.trainingSeconds) s, test \(report.testSeconds) s")
        #expect(report.steps == 9 && result.testCount == 2_000)
        #expect(accuracy >= 0.25)
    }
}
