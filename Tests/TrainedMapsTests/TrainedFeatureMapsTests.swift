import Foundation
import Testing
import FeatureMaps
import ImageIO
import Kernels
import TrainedMaps
import Training

/// A new empty temporary folder.
func temporaryFolder() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("trainedmaps-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
}

/// A model file of `architecture` with a chosen normalisation, written to a temporary folder.
private func modelFile(_ architecture: String, normalization: Normalization) throws -> String {
    let classifier = try Classifier(architecture: architecture, seed: 3, normalization: normalization)
    let path = try temporaryFolder() + "/model.safetensors"
    try classifier.save(to: path)
    return path
}

@Suite struct TrainedFeatureMapsTests {
    let normalization = Normalization(mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.5])

    @Test func oneStagePerConvolutionWithTheNetworksRows() throws {
        // conv 3x3 (pad 1), ReLU, 2x2 pool; then conv 3x3 (valid) and ReLU with no pool after it.
        let path = try modelFile("c4k3p1,relu,mp2,c6k3,relu,fc10", normalization: normalization)
        let maps = try TrainedFeatureMaps(path: path)
        #expect(maps.inputChannels == 3 && maps.minimumInputSide == 32)
        #expect(maps.summary.contains(path))
        var rng = SeededGenerator(seed: 11)
        let input = Tensor(shape: [1, 3, 36, 40], storage: (0 ..< 3 * 36 * 40).map { _ in Float.random(in: 0 ..< 1, using: &rng) })
        let stages = maps.layerMaps(for: input)
        try #require(stages.count == 2)
        #expect(stages[0].filters.shape == [4, 3, 3, 3])
        #expect(stages[0].conv.shape == [1, 4, 36, 40])
        #expect(stages[0].pool.shape == [1, 4, 18, 20])
        #expect(stages[1].filters.shape == [6, 4, 3, 3])
        #expect(stages[1].conv.shape == [1, 6, 16, 18])
        #expect(stages[1].pool.storage == stages[1].relu.storage)  // no pooling after the last conv
        #expect(stages[0].relu.storage == stages[0].conv.storage.map { max(0, $0) })

        // The first conv, by hand, on the normalised photo: the model's own mean and std apply.
        let model = try Safetensors.read(path: path)
        let weight = try #require(model["0.weight"]), bias = try #require(model["0.bias"])
        #expect(stages[0].filters.storage == weight.storage)
        for (o, y, x) in [(0, 0, 0), (3, 17, 21), (2, 35, 39)] {
            var sum = Double(bias.storage[o])
            for c in 0 ..< 3 {
                for i in 0 ..< 3 {
                    for j in 0 ..< 3 {
                        let yy = y + i - 1, xx = x + j - 1
                        guard (0 ..< 36).contains(yy), (0 ..< 40).contains(xx) else { continue }
                        let v = (input.storage[(c * 36 + yy) * 40 + xx] - normalization.mean[c]) / normalization.std[c]
                        sum += Double(v) * Double(weight.storage[((o * 3 + c) * 3 + i) * 3 + j])
                    }
                }
            }
            let got = stages[0].conv.storage[(o * 36 + y) * 40 + x]
            #expect(abs(Double(got) - sum) < 1e-4 * max(1, abs(sum)), "conv[\(o), \(y), \(x)]")
        }
    }

    @Test func batchNormalisationFoldsIntoTheConvolutionRow() throws {
        let path = try modelFile("c4k3p1,bn,relu,mp2,fc10", normalization: normalization)
        let stages = try TrainedFeatureMaps(path: path).layerMaps(for: Tensor(shape: [1, 3, 32, 32], repeating: 0.5))
        try #require(stages.count == 1)
        // A fresh BN in evaluation mode divides by sqrt(1 + eps): the row is the BN output, not the conv's.
        #expect(stages[0].relu.storage == stages[0].conv.storage.map { max(0, $0) })
        #expect(stages[0].pool.shape == [1, 4, 16, 16])
    }

    @Test func airbenchsGroupsAreOpenedUp() throws {
        let path = try modelFile("airbench", normalization: normalization)
        let stages = try TrainedFeatureMaps(path: path).layerMaps(for: Tensor(shape: [1, 3, 32, 32], repeating: 0.5))
        // The whitening conv, then two convolutions per group.
        #expect(stages.map(\.filters.shape) == [[24, 3, 2, 2], [64, 24, 3, 3], [64, 64, 3, 3], [256, 64, 3, 3],
                                                [256, 256, 3, 3], [256, 256, 3, 3], [256, 256, 3, 3]])
        #expect(stages.map(\.conv.shape) == [[1, 24, 31, 31], [1, 64, 31, 31], [1, 64, 15, 15], [1, 256, 15, 15],
                                             [1, 256, 7, 7], [1, 256, 7, 7], [1, 256, 3, 3]])
        // Each group's first stage: conv 31x31, then pool, norm and GELU on the 15x15 map.
        #expect(stages[1].relu.shape == [1, 64, 15, 15] && stages[1].pool.storage == stages[1].relu.storage)
        #expect(stages[0].relu.storage == gelu(stages[0].conv).storage)
    }

    @Test func aMissingOrForeignFileIsAnErrorNamingIt() throws {
        #expect(throws: TrainingError.self) { _ = try TrainedFeatureMaps(path: "/no/such/model.safetensors") }
        do {
            _ = try TrainedFeatureMaps(path: "/no/such/model.safetensors")
        } catch let TrainingError.file(path, reason) {
            #expect(path == "/no/such/model.safetensors" && !reason.isEmpty)
        }
        let folder = try temporaryFolder()
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: folder + "/x.safetensors"))
        #expect(throws: TrainingError.self) { _ = try TrainedFeatureMaps(path: folder + "/x.safetensors") }
    }

    @Test func theExplorerDrawsATrainedNetwork() throws {
        let path = try modelFile("seed", normalization: normalization)
        let folder = try temporaryFolder()
        var planes = [Float](repeating: 0, count: 3 * 40 * 48)
        for i in planes.indices { planes[i] = Float(i % 23) / 22 }
        try writePNG(Image(planarFloats: planes, width: 48, height: 40, channels: 3), toPath: folder + "/photo.png")
        let network = try TrainedFeatureMaps(path: path)
        let explorer = Explorer(network: network, options: ExplorerOptions(outputRoot: folder + "/out", threads: 2))
        let inputs = [ExplorerInput(path: folder + "/photo.png", outputFolder: "photo")]
        let writer = GalleryWriter(outputRoot: folder + "/out", network: network.summary, inputs: inputs, earlierFailures: [])
        let summary = explorer.run(inputs, reporter: writer)
        try writer.finish(summary)
        #expect(summary.succeeded == 1 && summary.failures.isEmpty)
        // The seed net has two convolutions: two figures besides the input, and the photo's page.
        let written = try FileManager.default.contentsOfDirectory(atPath: folder + "/out/photo").sorted()
        #expect(written.filter { !$0.contains(".thumb.") } == ["L1.png", "L2.png", "in_img.png", "index.html"])

        // The prediction is the classifier's own top 3 for the photo, shown on both pages.
        let top = summary.images[0].topClasses
        let expected = try Classifier.load(path: path).topClasses(of: [readImage(atPath: folder + "/photo.png")])[0]
        #expect(top.map(\.name) == expected.map(\.name) && top.map(\.probability) == expected.map(\.probability))
        #expect(top.count == 3 && top[0].probability >= top[1].probability && top[1].probability >= top[2].probability)
        for page in [folder + "/out/index.html", folder + "/out/photo/index.html"] {
            let html = try String(contentsOfFile: page, encoding: .utf8)
            #expect(html.contains("Top 3: <b>\(top[0].name)</b> "), "\(page)")
            for entry in top { #expect(html.contains("<b>\(entry.name)</b>")) }
        }
        // A network that only draws maps has no prediction and no "Top" line.
        let plain = FeatureMapStack(spec: .notebook, inputChannels: 1, seed: 1)
        #expect(plain.topClasses(of: try readImage(atPath: folder + "/photo.png"), count: 3).isEmpty)
    }
}
