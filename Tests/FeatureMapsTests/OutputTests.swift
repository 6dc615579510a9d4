import Foundation
import Testing
import FeatureMaps
import ImageIO
import Kernels

/// Writes a w x h RGB PNG with a pattern, for batch tests.
func writeTestPhoto(_ path: String, width: Int, height: Int) throws {
    var planes = [Float](repeating: 0, count: 3 * width * height)
    for c in 0..<3 {
        for y in 0..<height {
            for x in 0..<width {
                planes[(c * height + y) * width + x] = Float((x * (c + 1) + y * 3) % 17) / 16
            }
        }
    }
    try writePNG(Image(planarFloats: planes, width: width, height: height, channels: 3), toPath: path)
}

@Suite(".npy files, output folders and batches")
struct OutputTests {
    @Test func npyHeaderAndDataReadBack() throws {
        let tensor = Tensor(shape: [2, 3, 4], storage: (0..<24).map { Float($0) * 0.5 - 3 })
        let npy = try NpyContents(Data(NpyFile.encode(tensor)))
        #expect(npy.descr == "<f4")
        #expect(npy.fortranOrder == false)
        #expect(npy.shape == [2, 3, 4])
        #expect(npy.values == tensor.storage)
        #expect((10 + npy.headerLength) % 64 == 0, "data starts 64-byte aligned")

        let vector = try NpyContents(Data(NpyFile.encode(Tensor(shape: [5], storage: [1, 2, 3, 4, -0.25]))))
        #expect(vector.shape == [5])
        #expect(vector.values == [1, 2, 3, 4, -0.25])
    }

    @Test func npyWriteIsAtomicAndLeavesNoTemporaryFile() throws {
        let folder = try TestSupport.temporaryFolder()
        let path = folder + "/x.npy"
        try NpyFile.write(Tensor(shape: [1, 2], storage: [7, 8]), toPath: path)
        try NpyFile.write(Tensor(shape: [1, 3], storage: [7, 8, 9]), toPath: path)  // replaces
        #expect(try NpyContents(path: path).values == [7, 8, 9])
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["x.npy"])
        #expect(throws: FileWriteError.self) { try NpyFile.write(Tensor(shape: [1], storage: [1]), toPath: folder + "/missing/x.npy") }
    }

    @Test func folderInputsKeepSubPathsAndSaveMaps() throws {
        let source = try TestSupport.temporaryFolder()
        let out = try TestSupport.temporaryFolder() + "/out"
        try FileManager.default.createDirectory(atPath: source + "/trip/day1", withIntermediateDirectories: true)
        try writeTestPhoto(source + "/top.png", width: 50, height: 44)
        try writeTestPhoto(source + "/trip/day1/cat.PNG", width: 61, height: 47)
        try "not an image".write(toFile: source + "/trip/notes.txt", atomically: true, encoding: .utf8)
        try writeTestPhoto(source + "/.hidden.png", width: 50, height: 50)

        let (inputs, failures) = InputDiscovery.collect([source])
        #expect(failures.isEmpty)
        #expect(inputs.map(\.outputFolder) == ["top", "trip/day1/cat"])

        let stack = FeatureMapStack(spec: .notebook, inputChannels: 1, seed: 3)
        let explorer = Explorer(network: stack, options: ExplorerOptions(outputRoot: out, saveMaps: true, threads: 2))
        try explorer.prepareOutputRoot()
        let summary = explorer.run(inputs)
        #expect(summary.succeeded == 2 && summary.failures.isEmpty)

        // Grids wider or taller than 480 pixels get a thumbnail (not L3's one map); every image gets its page.
        let perImage = ["in_img.png", "L1.png", "L1.thumb.png", "L2.png", "L2.thumb.png", "L3.png",
                        "index.html", "maps/input.npy"]
            + (1...3).flatMap { n in ["conv", "filters", "pool", "relu"].map { "maps/L\(n)_\($0).npy" } }
        let expected = (perImage.map { "top/" + $0 } + perImage.map { "trip/day1/cat/" + $0 }).sorted()
        #expect(TestSupport.files(under: out) == expected)

        // The .npy maps are the pipeline's maps, squeezed to [filters, H, W].
        let image = try readImage(atPath: source + "/trip/day1/cat.PNG", options: ImageReadOptions())
        let input = Tensor(shape: [1, 1, 47, 61], storage: image.grayscale())
        let maps = stack.layerMaps(for: input)
        let folder = out + "/trip/day1/cat/maps/"
        let saved = try NpyContents(path: folder + "input.npy")
        #expect(saved.shape == [1, 47, 61] && saved.values == input.storage)
        for (n, layer) in maps.enumerated() {
            for (name, tensor) in [("conv", layer.conv), ("relu", layer.relu), ("pool", layer.pool)] {
                let npy = try NpyContents(path: folder + "L\(n + 1)_\(name).npy")
                #expect(npy.shape == Array(tensor.shape.dropFirst()))
                #expect(npy.values == tensor.storage)
            }
            let filters = try NpyContents(path: folder + "L\(n + 1)_filters.npy")
            #expect(filters.shape == layer.filters.shape && filters.values == layer.filters.storage)
        }
        #expect(try NpyContents(path: folder + "L2_filters.npy").shape == [3, 2, 5, 5])

        // The figures are real PNGs of the expected kind.
        let inImage = try readImage(atPath: out + "/top/in_img.png", options: ImageReadOptions())
        #expect(inImage.width == 50 && inImage.height == 44)
    }

    @Test func collidingOutputFoldersAreToldApart() throws {
        let source = try TestSupport.temporaryFolder()
        try writeTestPhoto(source + "/cat.png", width: 50, height: 50)
        let (inputs, _) = InputDiscovery.collect([source, source + "/cat.png", source + "/cat.png"])
        #expect(inputs.map(\.outputFolder) == ["cat", "cat-png", "cat-png-2"])
    }

    @Test func badFilesFailAloneAndTheBatchGoesOn() throws {
        let source = try TestSupport.temporaryFolder()
        let out = try TestSupport.temporaryFolder() + "/out"
        try writeTestPhoto(source + "/good.png", width: 64, height: 48)
        try writeTestPhoto(source + "/tiny.png", width: 41, height: 80)
        #expect(FileManager.default.createFile(atPath: source + "/empty.png", contents: Data()))
        try "hello".write(toFile: source + "/text.jpg", atomically: true, encoding: .utf8)

        let (inputs, early) = InputDiscovery.collect([source, source + "/missing.png"])
        #expect(early.count == 1)
        #expect(early.first?.path == source + "/missing.png")
        #expect(early.first?.reason == "No such file or directory")

        let reporter = RecordingReporter()
        let explorer = Explorer(network: FeatureMapStack(spec: .notebook, inputChannels: 1, seed: 1),
                                options: ExplorerOptions(outputRoot: out, threads: 2))
        try explorer.prepareOutputRoot()
        let summary = explorer.run(inputs, reporter: reporter)
        #expect(summary.total == 4)
        #expect(summary.succeeded == 1)
        #expect(Set(summary.failures.map(\.path)) == Set(["empty.png", "text.jpg", "tiny.png"].map { source + "/" + $0 }))
        #expect(reporter.finishedPaths == [source + "/good.png"])
        #expect(reporter.failures.count == 3)
        let tiny = summary.failures.first { $0.path.hasSuffix("tiny.png") }
        #expect(tiny?.reason == "the image is 41x80 pixels; the layer stack edges,3x5,1x7 needs at least 42x42")
        for failure in summary.failures { #expect(!failure.reason.isEmpty && !failure.description.contains("\n")) }
        // Nothing at all for the failed inputs; everything for the good one.
        #expect(TestSupport.files(under: out) == ["good/L1.png", "good/L1.thumb.png", "good/L2.png", "good/L2.thumb.png",
                                                  "good/L3.png", "good/in_img.png", "good/index.html"])
    }

    @Test func unwritableOutputIsOneClearError() throws {
        let folder = try TestSupport.temporaryFolder()
        #expect(FileManager.default.createFile(atPath: folder + "/file", contents: Data([1])))
        let explorer = Explorer(network: FeatureMapStack(spec: .notebook, inputChannels: 1, seed: 1),
                                options: ExplorerOptions(outputRoot: folder + "/file/out"))
        #expect {
            try explorer.prepareOutputRoot()
        } throws: { error in
            guard let error = error as? FileWriteError else { return false }
            return error.path.hasPrefix(folder + "/file") && !error.reason.isEmpty
        }
    }
}

/// Collects what a batch reports.
final class RecordingReporter: BatchReporter, @unchecked Sendable {
    private let lock = NSLock()
    private var finished: [String] = []
    private var failed: [ExplorerFailure] = []
    var finishedPaths: [String] { lock.withLock { finished } }
    var failures: [ExplorerFailure] { lock.withLock { failed } }
    func started(total: Int) {}
    func finished(_ image: ExploredImage, outputFolder: String) { lock.withLock { finished.append(image.input.path) } }
    func failed(_ failure: ExplorerFailure) { lock.withLock { failed.append(failure) } }
}
