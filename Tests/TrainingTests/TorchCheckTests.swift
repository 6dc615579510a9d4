import Foundation
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
        o.flipTest = false  // torch_check.py scores the plain forward pass
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
}
