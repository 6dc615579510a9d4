import Foundation
import Kernels
import Testing
import Training

/// The code of Sources/Training/Training.docc/GettingStarted.md, run as written
/// (`DocumentationExampleTests` checks that the article still shows this code).
@Suite struct TrainingGettingStartedTests {
    /// The article's data: 32x32 RGB images stored as CIFAR-10 stores them (3,072 bytes each,
    /// channel-planar), class 0 dark and class 1 bright.
    func generatedImages(_ count: Int, seed: UInt64) -> CIFARSplit {
        var rng = TrainingRandom(seed: seed)
        let labels = (0 ..< count).map { _ in UInt8(rng.below(2)) }
        let pixels = labels.flatMap { label in
            (0 ..< CIFAR10.pixelsPerImage).map { _ in UInt8(100 * Int(label) + rng.below(100)) }
        }
        return CIFARSplit(pixels: pixels, labels: labels)
    }

    @Test func anOptimiserStepByStepLowersTheLoss() throws {
        let folder = try Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let modelPath = folder.appendingPathComponent("net.safetensors").path

        let split = generatedImages(128, seed: 1)
        let images = Tensor(shape: split.shape, storage: split.pixels.map { Float($0) / 255 })
        let labels = split.labels.map(Int.init)

        var rng = SeededGenerator(seed: 0)
        let net = Sequential(rng: &rng) {
            Conv2d(inChannels: 3, outChannels: 16, kernelSize: 3, padding: 1)
            BatchNorm2d(numFeatures: 16)
            ReLU()
            GlobalAvgPool2d()
            Linear(inFeatures: 16, outFeatures: 2)
        }
        let optimizer = SGD(parameters: net.namedParameters.map(\.parameter), momentum: 0.9, weightDecay: 5e-4, nesterov: true)
        let loss = SoftmaxCrossEntropy(labelSmoothing: 0.1)
        var losses: [Float] = []
        for _ in 0 ..< 10 {
            losses.append(loss(net(images), labels: labels))
            _ = net.backward(loss.backward())
            optimizer.step(learningRate: 0.05)
        }
        try Safetensors.write(tensors: net.namedParameters.map { ($0.name, $0.parameter.value) } + net.namedBuffers,
                              metadata: [:], to: modelPath)

        #expect(losses.last! < losses.first!, "loss \(losses.first!) -> \(losses.last!)")
        let saved = try Safetensors.read(path: modelPath).tensors
        #expect(saved.first { $0.name == "0.weight" }?.tensor.shape == [16, 3, 3, 3])
    }

    @Test func theTrainerRunsAPresetOnGeneratedImages() throws {
        let folder = try Fixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let outputFolder = folder.path

        var options = TrainingOptions.preset(for: "seed")   // the seed CNN and its recipe
        options.epochs = 2
        options.batchSize = 32
        let data = CIFAR10Data(train: generatedImages(256, seed: 1), test: generatedImages(64, seed: 2), source: "generated")
        let trainer = Trainer(options: options, data: data, outputFolder: outputFolder)
        let result = try trainer.run()                      // writes model.safetensors, report.html, run.json
        let classifier = try Classifier.load(path: trainer.modelPath)

        #expect(result.testAccuracy != nil && result.records.count == 2)
        #expect(classifier.architecture == "seed")
        #expect(FileManager.default.fileExists(atPath: outputFolder + "/report.html"))
    }
}
