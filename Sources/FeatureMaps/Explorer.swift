import Dispatch
import Kernels
import ImageIO

/// Settings of an explorer run that are not the network itself.
public struct ExplorerOptions: Sendable {
    /// The output root; each image gets `<root>/<outputFolder>/`.
    public var outputRoot: String
    /// Also write every tensor as .npy under `maps/`.
    public var saveMaps: Bool
    /// Images with more pixels than this are refused before decoding.
    public var maxPixels: Int
    /// Threads to use in all: `jobs` images at a time, each with `threads / jobs` kernel threads.
    public var threads: Int
    /// Images processed at a time (nil: as many as `threads`); never more than there are images.
    public var jobs: Int?
    /// The longest side of a grid tile; larger maps are averaged down in the figures (never in
    /// the .npy files).
    public var maxTileSide: Int

    /// Options with the command line's defaults unless given.
    public init(outputRoot: String = "Output", saveMaps: Bool = false, maxPixels: Int = 100_000_000,
                threads: Int = ProcessInfoCores.active, jobs: Int? = nil,
                maxTileSide: Int = FeatureMapGrid.defaultTileSides.upperBound) {
        self.outputRoot = outputRoot
        self.saveMaps = saveMaps
        self.maxPixels = maxPixels
        self.threads = max(1, threads)
        self.jobs = jobs.map { max(1, $0) }
        self.maxTileSide = max(1, maxTileSide)
    }

    /// How a batch of `images` images runs: images at a time, and the kernel threads each gets
    /// (the threads left over, at least 1; a lone image gets them all).
    public func split(images: Int) -> (jobs: Int, kernelThreads: Int) {
        let jobs = max(1, min(self.jobs ?? threads, images))
        return (jobs, max(1, threads / jobs))
    }

    /// The grid tile sides these options give: the default range, capped at `maxTileSide`.
    public var tileSides: ClosedRange<Int> {
        min(FeatureMapGrid.defaultTileSides.lowerBound, maxTileSide)...maxTileSide
    }
}

/// What a finished batch did.
public struct BatchSummary: Sendable {
    /// Images attempted (found inputs plus command-line paths that failed before decoding).
    public var total: Int
    /// Images whose every output file was written.
    public var succeeded: Int
    /// One entry per failed input, in the order they failed.
    public var failures: [ExplorerFailure]
    /// Wall time of the processing, in seconds.
    public var seconds: Double
}

/// Draws the feature maps of a network for images on disk: reads each image, runs the network,
/// renders one grid per layer and writes `in_img.png`, `L1.png`, ... (and .npy maps on request).
public struct Explorer: Sendable {
    /// The network whose maps are drawn.
    public let network: any FeatureMapNetwork
    /// Output root and other settings.
    public let options: ExplorerOptions

    /// An explorer of `network` with `options`.
    public init(network: any FeatureMapNetwork, options: ExplorerOptions) {
        self.network = network
        self.options = options
    }

    /// The folder an input's files go to: `<outputRoot>/<input.outputFolder>`.
    public func outputPath(for input: ExplorerInput) -> String {
        let root = options.outputRoot.hasSuffix("/") ? String(options.outputRoot.dropLast()) : options.outputRoot
        return root.isEmpty ? input.outputFolder : root + "/" + input.outputFolder
    }

    /// Creates the output root and proves it writable (a probe file written and removed), so an
    /// unusable output root is one error before any work rather than one per image.
    public func prepareOutputRoot() throws(FileWriteError) {
        try AtomicFile.createDirectories(options.outputRoot)
        let probe = outputPath(for: ExplorerInput(path: "", outputFolder: ".featuremaps-write-probe"))
        try AtomicFile.write([], toPath: probe)
        _ = unlinkFile(probe)
    }

    /// The file names one image produces, relative to its output folder, in writing order.
    public func outputFiles(layerCount: Int) -> [String] {
        var names = ["in_img.png"] + (1...max(1, layerCount)).map { "L\($0).png" }
        if options.saveMaps {
            names.append("maps/input.npy")
            for n in 1...max(1, layerCount) {
                names += ["filters", "conv", "relu", "pool"].map { "maps/L\(n)_\($0).npy" }
            }
        }
        return names
    }

    /// Processes one image and returns the paths written. Everything is computed and encoded in
    /// memory first, and every file is written to a temporary name and renamed, so a failure leaves
    /// no partial file.
    public func explore(_ input: ExplorerInput) throws(ExplorerFailure) -> [String] {
        let image: Image
        do {
            var readOptions = ImageReadOptions()
            readOptions.maxPixels = options.maxPixels
            image = try readImage(atPath: input.path, options: readOptions)
        } catch {
            throw ExplorerFailure(path: input.path, reason: error.reason)
        }
        let side = network.minimumInputSide
        guard image.width >= side && image.height >= side else {
            throw ExplorerFailure(path: input.path, reason: "the image is \(image.width)x\(image.height) pixels; "
                + "the layer stack \(network.summary) needs at least \(side)x\(side)")
        }

        let (tensor, seen) = Self.networkInput(image, channels: network.inputChannels)
        let layers = network.layerMaps(for: tensor)

        var files: [(name: String, write: (String) throws -> Void)] = []
        files.append(("in_img.png", { path in try writePNG(seen, toPath: path, compression: .fastest) }))
        for (index, maps) in layers.enumerated() {
            let grid = FeatureMapGrid(layer: index + 1, maps: maps, tileSides: options.tileSides).render()
            files.append(("L\(index + 1).png", { path in try writePNG(grid, toPath: path, compression: .fastest) }))
        }
        if options.saveMaps {
            let channels = tensor.shape[1]
            let plane = tensor.reshaped(to: [channels, tensor.shape[2], tensor.shape[3]])
            files.append(("maps/input.npy", { path in try NpyFile.write(plane, toPath: path) }))
            for (index, maps) in layers.enumerated() {
                let n = index + 1
                for (name, map) in [("filters", maps.filters), ("conv", maps.conv), ("relu", maps.relu), ("pool", maps.pool)] {
                    let squeezed = name == "filters" ? map : map.reshaped(to: Array(map.shape.suffix(3)))
                    files.append(("maps/L\(n)_\(name).npy", { path in try NpyFile.write(squeezed, toPath: path) }))
                }
            }
        }

        let folder = outputPath(for: input)
        var written: [String] = []
        do {
            try AtomicFile.createDirectories(options.saveMaps ? folder + "/maps" : folder)
            for file in files {
                let path = folder + "/" + file.name
                try file.write(path)
                written.append(path)
            }
        } catch {
            throw ExplorerFailure(path: input.path, reason: "cannot write output: \(error)")
        }
        return written
    }

    /// The network's input tensor [1, C, H, W] in [0, 1] and the image as the network sees it
    /// (grayscale or RGB) for `in_img.png`.
    static func networkInput(_ image: Image, channels: Int) -> (Tensor, Image) {
        if channels == 1 {
            let gray = image.grayscale()
            let tensor = Tensor(shape: [1, 1, image.height, image.width], storage: gray)
            return (tensor, Image(planarFloats: gray, width: image.width, height: image.height, channels: 1))
        }
        let planes = image.planarFloats()
        return (Tensor(shape: [1, 3, image.height, image.width], storage: planes), image)
    }

    /// Runs `inputs` `options.split(images:)` at a time, telling `reporter` as each finishes.
    /// One bad image never stops the others.
    public func run(_ inputs: [ExplorerInput], reporter: (any BatchReporter)? = nil) -> BatchSummary {
        // Images are the parallel unit here; each image's kernels get the threads left over.
        let (workers, kernelThreads) = options.split(images: inputs.count)
        let start = monotonicSeconds()
        let state = BatchState()
        reporter?.started(total: inputs.count)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            // A task-local thread count does not reach Dispatch's threads: each worker opens its own scope.
            Parallelism.withThreadCount(kernelThreads) {
                while let index = state.claim(below: inputs.count) {
                    let input = inputs[index]
                    do throws(ExplorerFailure) {
                        let written = try explore(input)
                        state.recordSuccess()
                        reporter?.finished(input, outputFolder: outputPath(for: input), files: written)
                    } catch {
                        state.recordFailure(error)
                        reporter?.failed(error)
                    }
                }
            }
        }
        let (succeeded, failures) = state.results()
        return BatchSummary(total: inputs.count, succeeded: succeeded, failures: failures,
                            seconds: monotonicSeconds() - start)
    }
}

/// The shared counters of a running batch.
private final class BatchState: @unchecked Sendable {
    private let lock = Lock()
    private var next = 0
    private var succeeded = 0
    private var failures: [ExplorerFailure] = []

    func claim(below count: Int) -> Int? {
        lock.withLock {
            guard next < count else { return nil }
            defer { next += 1 }
            return next
        }
    }

    func recordSuccess() { lock.withLock { succeeded += 1 } }

    func recordFailure(_ failure: ExplorerFailure) { lock.withLock { failures.append(failure) } }

    func results() -> (Int, [ExplorerFailure]) { lock.withLock { (succeeded, failures) } }
}
