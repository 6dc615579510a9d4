import Foundation
import Testing
import Kernels
import Training

/// A small learnable synthetic set: class k images are noise around a class-specific colour.
func syntheticData(train: Int, test: Int) -> CIFAR10Data {
    var rng = TrainingRandom(seed: 99)
    func split(_ n: Int) -> CIFARSplit {
        var pixels = [UInt8](), labels = [UInt8]()
        for i in 0 ..< n {
            let label = i % 10
            labels.append(UInt8(label))
            for c in 0 ..< 3 {
                let base = 40 + 20 * ((label + c * 3) % 10)
                for _ in 0 ..< 1024 { pixels.append(UInt8(min(255, base + rng.below(40)))) }
            }
        }
        return CIFARSplit(pixels: pixels, labels: labels)
    }
    return CIFAR10Data(train: split(train), test: split(test), source: "synthetic")
}

/// Requests a stop after chosen (epoch, step) pairs, as Ctrl-C would.
final class StopAt: TrainingObserver {
    var points: Set<[Int]>
    var requested = false
    init(_ points: Set<[Int]>) { self.points = points }
    func stepFinished(epoch: Int, epochs: Int, step: Int, steps: Int, imagesPerSecond: Double, loss: Double, accuracy: Double, secondsLeft: Double) {
        if points.remove([epoch, step]) != nil { requested = true }
    }

    /// A trainer that stops when this observer says so.
    func trainer(_ options: TrainingOptions, _ data: CIFAR10Data, _ folder: String) -> Trainer {
        let trainer = Trainer(options: options, data: data, outputFolder: folder, observer: self)
        trainer.shouldStop = { [unowned self] in requested }
        return trainer
    }
    func epochFinished(_ record: EpochRecord, epochs: Int) {}
    func note(_ message: String) {}

    /// Runs, stopping at each of `points` and resuming, to the end: the result and the sessions.
    func runResuming(_ options: TrainingOptions, _ data: CIFAR10Data, _ folder: String) throws -> (TrainingResult, Int) {
        var result = try trainer(options, data, folder).run()
        var sessions = 1
        while result.interrupted {
            requested = false
            result = try trainer(options, data, folder).run(resume: true)
            sessions += 1
        }
        return (result, sessions)
    }
}

/// A two-epoch run of `architecture` on 64 synthetic images (batches of 16, one thread) stopped
/// at epoch 1, step 2, as Ctrl-C would: its options, data and folder (holding the checkpoint).
func stoppedTinyRun(_ architecture: String) throws -> (options: TrainingOptions, data: CIFAR10Data, folder: String) {
    let data = syntheticData(train: 64, test: 10)
    var o = TrainingOptions.preset(for: architecture)
    o.batchSize = 16
    o.epochs = 2
    o.threads = 1
    let folder = try Fixture.temporaryFolder().path
    let stopped = try StopAt([[1, 2]]).trainer(o, data, folder).run()
    #expect(stopped.interrupted)
    return (o, data, folder)
}

@Suite struct TrainingRunTests {
    func options(_ model: String) -> TrainingOptions {
        var o = TrainingOptions.preset(for: model)
        o.batchSize = 16
        o.epochs = 3
        o.learningRate = 0.05
        o.threads = 2
        o.validation = 32
        o.seed = 5
        return o
    }

    @Test func resumedRunEqualsUninterruptedRun() throws {
        for model in ["seed", "c8k3p1,bn,relu,mp4,fc10"] {
            let data = syntheticData(train: 192, test: 50)
            let o = options(model)
            let straight = try Fixture.temporaryFolder().path
            let a = try Trainer(options: o, data: data, outputFolder: straight).run()
            #expect(!a.interrupted)

            let stopped = try Fixture.temporaryFolder().path
            // Stop mid-epoch 1, then at the last step of epoch 2 (an epoch-end checkpoint).
            let (result, sessions) = try StopAt([[1, 3], [2, 10]]).runResuming(o, data, stopped)
            #expect(sessions == 3)
            let modelA = try Safetensors.read(path: straight + "/model.safetensors")
            let modelB = try Safetensors.read(path: stopped + "/model.safetensors")
            #expect(modelA.tensors.map(\.name) == modelB.tensors.map(\.name))
            for ((_, x), (_, y)) in zip(modelA.tensors, modelB.tensors) { #expect(x == y) }
            #expect(a.testAccuracy == result.testAccuracy)
            #expect(a.records.map(\.loss) == result.records.map(\.loss))
            #expect(a.records.map(\.validationAccuracy) == result.records.map(\.validationAccuracy))
            #expect(a.records.count == 3)
        }
    }

    @Test(arguments: [nil, 120])
    func savedModelScoresTheReportedValidationAccuracyOnTheHeldOutImages(limit: Int?) throws {
        // `evaluate --validation N` draws the held-out images the model file records, also
        // when the run trained on only the first `limit` images.
        let data = syntheticData(train: 192, test: 50)
        var o = options("seed")
        o.limit = limit
        o.tta = false
        let folder = try Fixture.temporaryFolder().path
        let result = try Trainer(options: o, data: data, outputFolder: folder).run()
        let path = folder + "/model.safetensors"
        let loaded = try Classifier.load(path: path)
        let pool = limit ?? data.train.count
        let expected = try data.train.prefix(pool).splittingValidation(o.validation)
        #expect(loaded.validationSplit?.pool == pool && loaded.validationSplit?.count == o.validation)
        let held = try loaded.heldOutImages(from: data.train, count: o.validation, source: path)
        #expect(held.pixels == expected.validation.pixels && held.labels == expected.validation.labels)
        #expect(evaluate(loaded, on: held).accuracy == result.records.last?.validationAccuracy)
        // No held-out image is one the run trained on (the limited pool minus the held-out ones).
        let trained = Set((0 ..< expected.train.count).map { expected.train.image($0) })
        #expect((0 ..< held.count).allSatisfy { !trained.contains(held.image($0)) })
        if limit != nil {
            // The old way, N alone on all the training images, gives other images: the bug this guards.
            #expect(try data.train.splittingValidation(o.validation).validation.pixels != held.pixels)
        }
    }

    @Test func heldOutImagesRefuseAnotherCountOtherDataAndModelsWithoutASplit() throws {
        let data = syntheticData(train: 160, test: 20)
        var o = options("seed")
        o.epochs = 1
        o.limit = 100
        let folder = try Fixture.temporaryFolder().path
        _ = try Trainer(options: o, data: data, outputFolder: folder).run()
        let path = folder + "/model.safetensors"
        let loaded = try Classifier.load(path: path)
        let another = Fixture.message { _ = try loaded.heldOutImages(from: data.train, count: 50, source: path) }
        #expect(another.hasPrefix(path) && another.contains("held out 32 of its first 100 training images, not 50"))
        let fewer = Fixture.message { _ = try loaded.heldOutImages(from: data.train.prefix(64), source: path) }
        #expect(fewer.contains("first 100 training images; this data has only 64"))
        let other = syntheticData(train: 160, test: 20).train.selecting(Array((0 ..< 160).reversed()))
        let differ = Fixture.message { _ = try loaded.heldOutImages(from: other, source: path) }
        #expect(differ.contains("differ from those the run held out"))

        o.validation = 0
        let plain = try Fixture.temporaryFolder().path
        _ = try Trainer(options: o, data: data, outputFolder: plain).run()
        let none = try Classifier.load(path: plain + "/model.safetensors")
        #expect(none.validationSplit == nil)
        let message = Fixture.message { _ = try none.heldOutImages(from: data.train, count: 32, source: "m.safetensors") }
        #expect(message.hasPrefix("m.safetensors: the model records no validation split"))
    }

    @Test func resumeRefusesOtherArguments() throws {
        let data = syntheticData(train: 64, test: 10)
        var o = options("seed")
        o.validation = 0
        let folder = try Fixture.temporaryFolder().path
        let first = try StopAt([[1, 1]]).trainer(o, data, folder).run()
        #expect(first.interrupted)
        o.learningRate = 0.1
        let message = Fixture.message { _ = try Trainer(options: o, data: data, outputFolder: folder).run(resume: true) }
        #expect(message.contains("learningRate"))
    }

    /// A run stopped in one precision does not resume in another (it would not be the same run);
    /// the refusal names the setting, then and now.
    @Test func resumeRefusesAnotherPrecision() throws {
        let data = syntheticData(train: 64, test: 10)
        var o = options("seed")
        o.validation = 0
        o.precision = .bf16
        let folder = try Fixture.temporaryFolder().path
        #expect(try StopAt([[1, 1]]).trainer(o, data, folder).run().interrupted)
        o.precision = .fp32
        do {
            _ = try Trainer(options: o, data: data, outputFolder: folder).run(resume: true)
            Issue.record("resumed a bf16 run in fp32")
        } catch let TrainingError.checkpointMismatch(_, differences) {
            #expect(differences == [SettingDifference(name: "precision", then: "bf16", now: "fp32")])
        }
        // In its own precision it resumes, and the model file records that precision.
        o.precision = .bf16
        #expect(try Trainer(options: o, data: data, outputFolder: folder).run(resume: true).testAccuracy != nil)
        let model = try Safetensors.read(path: folder + "/model.safetensors")
        #expect(model.metadata["training_precision"] == "bf16")
        #expect(try Classifier.load(path: folder + "/model.safetensors").trainingPrecision == .bf16)
    }

    /// A run evaluates (held-out images during training, the test set at the end) in its
    /// evaluation precision, by default its training precision: what it reports is what the
    /// saved model scores in that precision, and run.json says which. The fixture is one where
    /// the two precisions' scores differ, so the check tells them apart.
    @Test(arguments: [(Precision.bf16, Precision?.none), (.bf16, .fp32), (.fp32, .bf16)])
    func runEvaluatesInItsEvaluationPrecision(training: Precision, evaluation: Precision?) throws {
        let data = syntheticData(train: 192, test: 200)
        var o = options("c16k3p1,bn,relu,mp2,c32k3p1,bn,relu,gap,fc10")
        o.epochs = 2
        o.precision = training
        o.evaluationPrecision = evaluation
        o.tta = true
        let folder = try Fixture.temporaryFolder().path
        let result = try Trainer(options: o, data: data, outputFolder: folder).run()
        let loaded = try Classifier.load(path: folder + "/model.safetensors")
        let held = try loaded.heldOutImages(from: data.train, count: o.validation, source: folder)
        func scored(_ p: Precision) -> (test: Evaluation, validation: Double) {
            Precision.with(p) { (score(loaded, on: data.test, tta: .flip), evaluate(loaded, on: held).accuracy) }
        }
        let expected = evaluation ?? training
        let (mine, other) = (scored(expected), scored(expected == .bf16 ? .fp32 : .bf16))
        // Bools, not the arrays: a failure would print 2,000 probabilities.
        let apart = mine.test.probabilities != other.test.probabilities
        #expect(apart, "the fixture must tell the precisions apart")
        let same = try #require(result.testEvaluation).probabilities == mine.test.probabilities
        #expect(same, "the run's test probabilities are the saved model's in \(expected)")
        #expect(result.testAccuracy == mine.test.accuracy && result.plainTestAccuracy == mine.test.plainAccuracy)
        #expect(result.records.last?.validationAccuracy == mine.validation)
        let report = try String(contentsOfFile: folder + "/run.json", encoding: .utf8)
        #expect(report.contains("\"evaluation_precision\": \"\(expected.rawValue)\""))
        #expect(report.contains("\"training_precision\": \"\(training.rawValue)\""))
    }

    /// A checkpoint written before the precision was recorded (its options lack the key) trained
    /// in fp32, and resumes as fp32.
    @Test func checkpointWithoutPrecisionReadsAsFP32() throws {
        let data = syntheticData(train: 64, test: 10)
        var o = options("seed")
        o.validation = 0
        let folder = try Fixture.temporaryFolder().path
        #expect(try StopAt([[1, 1]]).trainer(o, data, folder).run().interrupted)
        let path = folder + "/checkpoint.safetensors"
        var contents = try Safetensors.read(path: path)
        var saved = try #require(try JSONSerialization.jsonObject(with: Data(contents.metadata["options"]!.utf8)) as? [String: Any])
        #expect(saved.removeValue(forKey: "precision") as? String == "fp32")
        contents.metadata["options"] = String(decoding: try JSONSerialization.data(withJSONObject: saved), as: UTF8.self)
        try Safetensors.write(tensors: contents.tensors, metadata: contents.metadata, to: path)
        #expect(try Trainer(options: o, data: data, outputFolder: folder).run(resume: true).testAccuracy != nil)
    }

    @Test func divergingLossStopsAndNamesTheStep() throws {
        let data = syntheticData(train: 64, test: 10)
        var o = options("seed")
        o.validation = 0
        o.learningRate = 1e30
        o.schedule = .constant
        o.warmup = 0
        let folder = try Fixture.temporaryFolder().path
        let message = Fixture.message { _ = try Trainer(options: o, data: data, outputFolder: folder).run() }
        #expect(message.contains("at step"))
        #expect(message.contains("checkpoint"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/model.safetensors"))
    }

    @Test func outputsAndModelFileFollowTheSpec() throws {
        let data = syntheticData(train: 96, test: 40)
        var o = options("seed")
        o.epochs = 2
        let folder = try Fixture.temporaryFolder().path
        let result = try Trainer(options: o, data: data, outputFolder: folder).run()
        for name in ["model.safetensors", "metrics.csv", "curves.svg", "confusion.svg", "per-class.csv", "checkpoint.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: folder + "/" + name), "\(name)")
        }
        let csv = try String(contentsOfFile: folder + "/metrics.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 3)
        #expect(csv[0] == "epoch,loss,train_accuracy,validation_accuracy,learning_rate,images_per_second,wall_seconds")
        let model = try Safetensors.read(path: folder + "/model.safetensors")
        #expect(model.tensors.map(\.name) == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias"])
        #expect(model["conv1.weight"]?.shape == [16, 3, 5, 5])
        #expect(model["fc.weight"]?.shape == [10, 2304])
        #expect(model.metadata["architecture"] == "seed")
        let mean = try JSONSerialization.jsonObject(with: Data(model.metadata["mean"]!.utf8)) as? [Double]
        #expect(mean?.count == 3)
        let classes = try JSONSerialization.jsonObject(with: Data(model.metadata["classes"]!.utf8)) as? [String]
        #expect(classes == CIFAR10.classNames)
        // The saved model evaluates to the reported accuracy.
        let loaded = try Classifier.load(path: folder + "/model.safetensors")
        #expect(evaluate(loaded, on: data.test).accuracy == result.testAccuracy)
    }

    @Test func vggPresetHasPyTorchNetMNames() throws {
        let names = ModelZoo.vgg().namedParameters.map(\.name) + ModelZoo.vgg().namedBuffers.map(\.name)
        // nn.Sequential indices of nets_torch.py's net_m: convs at 0,3,7,10,14,17; BNs at 1,4,8,11,15,18; linear 22.
        for i in [0, 3, 7, 10, 14, 17] { #expect(names.contains("\(i).weight") && names.contains("\(i).bias")) }
        for i in [1, 4, 8, 11, 15, 18] { #expect(names.contains("\(i).running_mean") && names.contains("\(i).running_var") && names.contains("\(i).weight")) }
        #expect(names.contains("22.weight"))
        #expect(ModelZoo.vgg().namedParameters.reduce(0) { $0 + $1.parameter.value.count } == 308_394)
    }

    @Test func badModelFilesGiveClearErrors() throws {
        let folder = try Fixture.temporaryFolder()
        let seedModel = try Classifier(architecture: "seed", seed: 1)
        let path = folder.appendingPathComponent("seed.safetensors").path
        try seedModel.save(to: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let cut = folder.appendingPathComponent("cut.safetensors").path
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: cut))
        #expect(Fixture.message { _ = try Classifier.load(path: cut) }.contains("truncated"))
        #expect(Fixture.message { _ = try Classifier.load(path: Fixture.path("cifar-tiny.tar.gz")) }.contains("not a safetensors file"))
        // Seed weights under a vgg label: another architecture.
        var contents = try Safetensors.read(path: path)
        contents.metadata["architecture"] = "vgg"
        let other = folder.appendingPathComponent("other.safetensors").path
        try Safetensors.write(tensors: contents.tensors, metadata: contents.metadata, to: other)
        #expect(Fixture.message { _ = try Classifier.load(path: other) }.contains("another architecture"))
        #expect(Fixture.message { _ = try Classifier.load(path: Fixture.path("tiny.safetensors")) }.contains("tiny.safetensors: metadata"))
    }
}
