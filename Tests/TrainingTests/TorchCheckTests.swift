import Foundation
import Kernels
import Testing
import Kernels
import Training

/// The repository root (three levels above this file).
private let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Runs `executable` with `arguments`; (exit status, standard output and error).
private func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [executable] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A Python that imports torch, safetensors and numpy: $TORCH_PYTHON, else the repository's
/// .venv (the set-up in Docs/TRAINING.md), else python3; nil when none does.
private let torchPython: String? = {
    let environment = ProcessInfo.processInfo.environment["TORCH_PYTHON"].map { [$0] } ?? []
    let candidates = environment + [repositoryRoot.appendingPathComponent(".venv/bin/python").path, "python3"]
    return candidates.first { candidate in
        (try? run(candidate, ["-c", "import torch, safetensors, numpy"]).status) == 0
    }
}()

/// torch_check.py against our own evaluation, for every kind of architecture train-cifar saves.
@Suite struct TorchCheckTests {
    @Test(.enabled(if: torchPython != nil, "needs a Python that imports torch, safetensors and numpy ($TORCH_PYTHON, .venv/bin/python or python3)"),
          arguments: ["seed", "vgg", "c8k3p1nb,bn,relu,res(c8k3p1,bn,gelu),mp2,c16k3s2p1,bn,relu,ap3s1,gap,fc10",
                      "c4k5,relu,mp3s2,flatten,fc16,relu,fc10"])
    func pytorchScoresTheSavedModelAsWeDo(architecture: String) throws {
        try check(architecture, trainedIn: .fp32)
    }

    /// A model trained with bf16 products keeps fp32 master weights, so it loads and scores the same.
    @Test(.enabled(if: torchPython != nil, "needs a Python that imports torch, safetensors and numpy ($TORCH_PYTHON, .venv/bin/python or python3)"),
          arguments: ["seed", "vgg"])
    func pytorchScoresABF16TrainedModelAsWeDo(architecture: String) throws {
        try check(architecture, trainedIn: .bf16)
    }

    /// Trains `architecture` briefly in `precision`, then requires torch_check.py to score its model
    /// file as the trainer did (accuracy and every per-class count).
    private func check(_ architecture: String, trainedIn precision: Precision) throws {
        let data = syntheticData(train: 160, test: 100)
        var o = TrainingOptions.preset(for: architecture)
        o.precision = precision
        o.epochs = 2
        o.batchSize = 16
        o.learningRate = 0.05
        o.threads = 1
        o.tta = false  // torch_check.py scores the plain forward pass
        let folder = try Fixture.temporaryFolder()
        let result = try Trainer(options: o, data: data, outputFolder: folder.path).run()
        // torch_check.py reads the test images from test_batch.bin: write ours in that format.
        var records = [UInt8]()
        for i in 0 ..< data.test.count { records.append(data.test.labels[i]); records.append(contentsOf: data.test.image(i)) }
        try Data(records).write(to: folder.appendingPathComponent(CIFAR10.testFile))

        let script = repositoryRoot.appendingPathComponent("Tests/TrainingTests/torch_check.py").path
        let (status, output) = try run(try #require(torchPython), [script, folder.appendingPathComponent("model.safetensors").path, folder.path,
                                                                   "--per-class", folder.appendingPathComponent("per-class.csv").path])
        #expect(status == 0, "\(output)")
        let expected = String(format: "%.4f on %d images", try #require(result.testAccuracy), data.test.count)
        #expect(output.contains("pytorch test accuracy (plain forward pass, no flip averaging): \(expected)"), "\(output)")
        #expect(output.contains("per-class correct counts equal"), "\(output)")
    }

    /// The airbench network (nets_torch.py's net A) on real images: whitened from 1,000 training
    /// images, six SGD steps (so weights and batch-norm statistics are off their initial values),
    /// saved; PyTorch must load it strict, give our logits on the first 300 test images, and our
    /// gradients of one training step on the first 64.
    @Test(.enabled(if: torchPython != nil, "needs a Python that imports torch, safetensors and numpy ($TORCH_PYTHON, .venv/bin/python or python3)"),
          .enabled(if: cifarDataGiven, "CIFAR10_DIR is not set: set it to the folder cifar-10-batches-bin of the official CIFAR-10 binary version to run this test"))
    func pytorchGivesTheAirbenchNetsLogits() throws {
        let data = try CIFAR10.load(from: ProcessInfo.processInfo.environment["CIFAR10_DIR"] ?? "")
        let train = data.train.prefix(2_000), test = data.test.prefix(300)
        let normalization = Normalization.statistics(of: train)
        let assembler = BatchAssembler(normalization: normalization)
        let classifier = try Classifier(architecture: "airbench", seed: 0, classNames: data.classNames, normalization: normalization)
        let net = try #require(classifier.network as? Sequential)
        var batch = Tensor(shape: [0]), labels = [Int]()
        assembler.fill(&batch, labels: &labels, from: train, indices: Array(0 ..< 1_000)[...])
        let whitening = try #require(net["0"] as? Conv2d)
        whitening.weight.value = whiteningWeights(images: batch)
        let sgd = SGD(parameters: net.namedParameters.map(\.parameter), momentum: 0.9, nesterov: true)
        let loss = SoftmaxCrossEntropy(labelSmoothing: 0.2)
        net.training = true
        for step in 0 ..< 6 {
            assembler.fill(&batch, labels: &labels, from: train, indices: Array(step * 128 ..< (step + 1) * 128)[...])
            _ = loss(net(batch), labels: labels)
            _ = net.backward(loss.backward())
            sgd.step(learningRate: 0.2)
        }

        let folder = try Fixture.temporaryFolder()
        try classifier.save(to: folder.appendingPathComponent("model.safetensors").path)
        let outcome = evaluate(classifier, on: test)
        let matrix = Reports.confusionMatrix(labels: test.labels.map(Int.init), predictions: outcome.predictions)
        try Reports.perClassCSV(matrix, classNames: data.classNames).write(to: folder.appendingPathComponent("per-class.csv"), atomically: true, encoding: .utf8)
        net.training = false
        assembler.fill(&batch, labels: &labels, from: test, indices: Array(0 ..< test.count)[...])
        try Safetensors.write(tensors: [("logits", net(batch))], metadata: [:], to: folder.appendingPathComponent("logits.safetensors").path)
        // One training-mode step on the first 64 test images: the gradients PyTorch must match.
        // torch_check.py sets requires_grad on every parameter for this step; unfrozen here too,
        // so the frozen ones (the whitening weight: Conv2d skips a frozen weight's gradient) are compared.
        net.training = true
        for (_, parameter) in net.namedParameters { parameter.isFrozen = false }
        assembler.fill(&batch, labels: &labels, from: test, indices: Array(0 ..< 64)[...])
        _ = loss(net(batch), labels: labels)
        _ = net.backward(loss.backward())
        try Safetensors.write(tensors: net.namedParameters.map { ("grad.\($0.name)", $0.parameter.grad) },
                              metadata: ["images": "64", "label_smoothing": "0.2"],
                              to: folder.appendingPathComponent("gradients.safetensors").path)
        var records = [UInt8]()
        for i in 0 ..< test.count { records.append(test.labels[i]); records.append(contentsOf: test.image(i)) }
        try Data(records).write(to: folder.appendingPathComponent(CIFAR10.testFile))

        let script = repositoryRoot.appendingPathComponent("Tests/TrainingTests/torch_check.py").path
        let (status, output) = try run(try #require(torchPython), [script, folder.appendingPathComponent("model.safetensors").path, folder.path,
                                                                   "--per-class", folder.appendingPathComponent("per-class.csv").path,
                                                                   "--logits", folder.appendingPathComponent("logits.safetensors").path,
                                                                   "--gradients", folder.appendingPathComponent("gradients.safetensors").path,
                                                                   // Max pooling makes this step discontinuous: in float64, PyTorch's
                                                                   // own gradient jumps by 0.7% or 3.7% (of a tensor's largest
                                                                   // entry) when the input moves by 1e-7 relative, as a near-tie
                                                                   // flips, and our float32 forward differs from it by more than that.
                                                                   // A wrong gradient is off by far more than 5%; the ops' own
                                                                   // gradient checks (KernelsTests) are the fine-grained test.
                                                                   "--gradients-tolerance", "0.05"])
        print("airbench cross-check: \(output)")
        #expect(status == 0, "\(output)")
        let expected = String(format: "%.4f on %d images", outcome.accuracy, test.count)
        #expect(output.contains("pytorch test accuracy (plain forward pass, no flip averaging): \(expected)"), "\(output)")
        #expect(output.contains("predictions equal on 300 of 300"), "\(output)")
        #expect(output.contains("gradients: largest relative difference"), "\(output)")
    }
}
