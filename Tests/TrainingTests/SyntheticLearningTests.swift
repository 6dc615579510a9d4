import Foundation
import Testing
import Kernels
import Training

/// Learning without a download: the seed network, trained by `Trainer` with its preset recipe on
/// `SyntheticShapes`, must classify held-out images far better than chance or a linear model.
/// Runs on every clone; the real-data check is EndToEndTests (CIFAR10_DIR).
@Suite struct SyntheticLearningTests {
    static let data = SyntheticShapes.data(train: 5_000, test: 1_000, seed: 1)

    /// The seed preset (augmentation, one-cycle SGD, flip-averaged evaluation), 3 epochs, 2 threads.
    static func options(model: String) -> TrainingOptions {
        var o = TrainingOptions.preset(for: "seed")
        o.model = model
        o.epochs = 3
        o.threads = 2
        o.seed = 1
        return o
    }

    /// Held-out accuracy at least 75%, and every class at least 30%.
    ///
    /// Measured at 87bb1c0 (AMD EPYC Zen 4), release build, 2 threads: with data and training
    /// seed s = 1, 2, 3, 6, 7, 8 the accuracy was 0.874, 0.891, 0.862, 0.848, 0.850, 0.890 (this
    /// test uses s = 1), in 2.4-7.2 s of training on a loaded 2-core machine; the weakest class
    /// (disc or square, which differ only at the corners) scored 0.51-0.85. Chance is 0.10; the
    /// nearest class-mean image scored 0.09-0.11 on the same splits and a linear model (below)
    /// 0.15-0.18, since colour and position carry no class information. 0.75 leaves ten points for
    /// other CPUs, whose kernels sum in another order and so train along another path.
    @Test func seedNetLearnsSyntheticShapes() throws {
        let folder = try Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try Trainer(options: Self.options(model: "seed"), data: Self.data, outputFolder: folder.path).run()
        let accuracy = try #require(result.testAccuracy)
        print("synthetic shapes: seed net, 3 epochs on 5,000 images: held-out accuracy \(accuracy), \(String(format: "%.1f", result.trainingSeconds)) s training")
        #expect(result.testCount == 1_000)
        #expect(accuracy >= 0.75)

        // Every class is learnt, not only the easy stripes: recall per class on the held-out split.
        let model = try Classifier.load(path: folder.appendingPathComponent("model.safetensors").path)
        let outcome = evaluate(model, on: Self.data.test, tta: .flip)
        #expect(outcome.accuracy == accuracy)
        Self.expectEveryClassLearnt(outcome.predictions)
    }

    /// The same run with bf16 products clears the same bar (held-out accuracy 0.75, every class
    /// 0.30); its model file, evaluated in bf16 as the run evaluates (its evaluation precision
    /// follows its training precision), scores what the run reported. Measured: see
    /// Docs/TRAINING.md ("Learning test without a download").
    @Test func seedNetLearnsSyntheticShapesInBF16() throws {
        let folder = try Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        var options = Self.options(model: "seed")
        options.precision = .bf16
        let result = try Trainer(options: options, data: Self.data, outputFolder: folder.path).run()
        let accuracy = try #require(result.testAccuracy)
        print("synthetic shapes: seed net in bf16, 3 epochs on 5,000 images: held-out accuracy \(accuracy), \(String(format: "%.1f", result.trainingSeconds)) s training")
        #expect(accuracy >= 0.75)
        let model = try Classifier.load(path: folder.appendingPathComponent("model.safetensors").path)
        #expect(model.trainingPrecision == .bf16)
        let outcome = Precision.with(.bf16) { evaluate(model, on: Self.data.test, tta: .flip) }
        #expect(outcome.accuracy == accuracy)
        Self.expectEveryClassLearnt(outcome.predictions)
    }

    /// Recall of at least 0.30 on every class of the held-out split.
    static func expectEveryClassLearnt(_ predictions: [Int]) {
        for (k, name) in SyntheticShapes.classNames.enumerated() {
            let indices = data.test.labels.indices.filter { data.test.labels[$0] == k }
            let recall = Double(indices.filter { predictions[$0] == k }.count) / Double(indices.count)
            #expect(recall >= 0.30, "\(name): recall \(recall)")
        }
    }

    /// The set is not linearly separable: `fc10` (one linear layer on the pixels) with the same
    /// recipe stays near chance (0.15-0.18 measured over the seeds above), so the seed net's score
    /// is the work of its convolutions.
    @Test func linearModelStaysNearChance() throws {
        let folder = try Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try Trainer(options: Self.options(model: "fc10"), data: Self.data, outputFolder: folder.path).run()
        let accuracy = try #require(result.testAccuracy)
        #expect(accuracy < 0.30)
    }

    @Test func generatorIsDeterministicAndBalanced() {
        let a = SyntheticShapes.split(count: 50, seed: 7)
        #expect(a.pixels == SyntheticShapes.split(count: 50, seed: 7).pixels)
        #expect(a.pixels != SyntheticShapes.split(count: 50, seed: 8).pixels)
        #expect(a.pixels.count == 50 * CIFAR10.pixelsPerImage)
        #expect(a.classCounts() == [Int](repeating: 5, count: 10))
        // The held-out split is drawn from its own stream, not a copy of the training images.
        #expect(Array(Self.data.train.pixels.prefix(Self.data.test.pixels.count)) != Self.data.test.pixels)
    }
}
