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
    /// The widest a layer's grid may be in pixels; wider layers are wrapped into blocks (see
    /// `FeatureMapGrid.maxWidth`).
    public var maxGridWidth: Int
    /// Classes of the prediction shown for a classifying network (see `FeatureMapNetwork.topClasses`).
    public var predictionCount = 3

    /// Options with the command line's defaults unless given.
    public init(outputRoot: String = "Output", saveMaps: Bool = false, maxPixels: Int = 100_000_000,
                threads: Int = ProcessInfoCores.active, jobs: Int? = nil,
                maxTileSide: Int = FeatureMapGrid.defaultTileSides.upperBound,
                maxGridWidth: Int = FeatureMapGrid.defaultMaxWidth) {
        self.outputRoot = outputRoot
        self.saveMaps = saveMaps
        self.maxPixels = maxPixels
        self.threads = max(1, threads)
        self.jobs = jobs.map { max(1, $0) }
        self.maxTileSide = max(1, maxTileSide)
        self.maxGridWidth = max(1, maxGridWidth)
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
    /// What each image that succeeded gave, in the order of the inputs; empty when the batch was run
    /// with `keepingImages: false` (a batch of any size: its reporter hears of each image as it
    /// finishes, and memory does not grow with the number of images).
    public var images: [ExploredImage]
    /// Wall time of the processing, in seconds.
    public var seconds: Double

    /// A summary, as `Explorer.run` makes one (also for reporters fed by other means).
    public init(total: Int, succeeded: Int, failures: [ExplorerFailure], images: [ExploredImage] = [], seconds: Double) {
        self.total = total
        self.succeeded = succeeded
        self.failures = failures
        self.images = images
        self.seconds = seconds
    }
}

/// A picture the explorer wrote for one image, with its pixel size.
public struct ExploredFile: Sendable, Equatable {
    /// The file name relative to the image's output folder (`in_img.png`, `L1.png`, ...).
    public var name: String
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// A downscaled copy for pages (`L1.thumb.png`), no larger than `Explorer.thumbnailBox`;
    /// the file itself when it is already that small.
    public var thumbnail: String
    /// The thumbnail's width in pixels.
    public var thumbnailWidth: Int
    /// The thumbnail's height in pixels.
    public var thumbnailHeight: Int
    /// What part of the picture the thumbnail shows when it is not the whole of it (a wrapped
    /// grid's first block: "first stage shown: L6 conv (128 maps)"); nil when it is the whole.
    public var thumbnailPart: String?

    /// A file and its thumbnail.
    public init(name: String, width: Int, height: Int, thumbnail: String, thumbnailWidth: Int, thumbnailHeight: Int,
                thumbnailPart: String? = nil) {
        self.name = name
        self.width = width
        self.height = height
        self.thumbnail = thumbnail
        self.thumbnailWidth = thumbnailWidth
        self.thumbnailHeight = thumbnailHeight
        self.thumbnailPart = thumbnailPart
    }
}

/// What the explorer made of one image.
public struct ExploredImage: Sendable {
    /// The image and its output folder (relative to the output root).
    public var input: ExplorerInput
    /// The input as the network saw it (`in_img.png`), then one grid per layer (`L1.png`, ...).
    public var pictures: [ExploredFile]
    /// Every path written, in writing order (pictures, thumbnails, .npy maps, the image's page).
    public var written: [String]
    /// Seconds from reading the image to its last figure or map written (its page comes after).
    public var seconds: Double
    /// The network's most probable classes for the image, most probable first (empty unless the
    /// network classifies).
    public var topClasses: [ClassProbability]

    /// A result.
    public init(input: ExplorerInput, pictures: [ExploredFile], written: [String], seconds: Double,
                topClasses: [ClassProbability]) {
        self.input = input
        self.pictures = pictures
        self.written = written
        self.seconds = seconds
        self.topClasses = topClasses
    }
}

/// Draws the feature maps of a network for images on disk: reads each image, runs the network,
/// renders one grid per layer and writes `in_img.png`, `L1.png`, ... (and .npy maps on request),
/// a thumbnail of each picture larger than `thumbnailBox` (`L1.thumb.png`) and the image's page
/// `index.html`.
public struct Explorer: Sendable {
    /// The network whose maps are drawn.
    public let network: any FeatureMapNetwork
    /// Output root and other settings.
    public let options: ExplorerOptions

    /// The largest thumbnail, width and height in pixels: pages show pictures at half this size,
    /// so they stay sharp on high-density screens while a page of 1,000 photos stays light.
    public static let thumbnailBox = (width: 480, height: 480)

    /// Bytes of memory an image takes per input pixel while its maps are drawn (see
    /// `estimatedBytes(width:height:)`).
    public let bytesPerPixel: Int

    /// An explorer of `network` with `options`.
    public init(network: any FeatureMapNetwork, options: ExplorerOptions) {
        self.network = network
        self.options = options
        bytesPerPixel = Self.bytesPerPixel(of: network)
    }

    /// The memory a `width` x `height` image takes while its maps are drawn, estimated before it is
    /// decoded. Docs/FAULTS.md compares it with measured peaks (it is above them).
    public func estimatedBytes(width: Int, height: Int) -> Int {
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        let (bytes, overflow2) = pixels.multipliedReportingOverflow(by: bytesPerPixel)
        return overflow || overflow2 ? Int.max : bytes
    }

    /// Per input pixel: the file, the decoded RGB and the figures' PNG bytes (10 bytes in all), the
    /// network's input floats and their tensor (2 x 4 bytes a channel) and the picture of it (1 a
    /// channel), then twice the bytes of every layer's maps, measured on a 256x256 probe image (large
    /// enough that the convolutions' lost borders do not matter): once for the maps, once for the
    /// convolution's workspace and the figures drawn from them.
    static func bytesPerPixel(of network: any FeatureMapNetwork) -> Int {
        let side = max(256, 2 * network.minimumInputSide)
        let probe = Tensor(shape: [1, network.inputChannels, side, side],
                           storage: [Float](repeating: 0.5, count: network.inputChannels * side * side))
        let mapFloats = network.layerMaps(for: probe).reduce(0) { total, maps in
            total + maps.conv.count + maps.relu.count + maps.pool.count
        }
        let mapBytes = (4 * mapFloats + side * side - 1) / (side * side)
        return 10 + 9 * network.inputChannels + 2 * mapBytes
    }

    /// Why a `width` x `height` image is refused before decoding, or nil: when its estimated
    /// memory (`estimatedBytes`) is above the memory available now (`availableMemory()`).
    func memoryRefusal(width: Int, height: Int) -> String? {
        guard let (available, source) = availableMemory() else { return nil }
        let needed = estimatedBytes(width: width, height: height)
        guard needed > available else { return nil }
        return "the image is \(width)x\(height) pixels (\(megapixels(width * height)) MP); drawing its maps needs about "
            + "\(gigabytes(needed)) GB (\(bytesPerPixel) bytes a pixel), more than the \(gigabytes(available)) GB of memory available (\(source))"
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

    /// Processes one image and returns what it gave. Everything is computed and encoded in memory
    /// first, and every file is written to a temporary name and renamed, so a failure leaves no
    /// partial file.
    public func explore(_ input: ExplorerInput) throws(ExplorerFailure) -> ExploredImage {
        let start = monotonicSeconds()
        let image: Image
        do {
            var readOptions = ImageReadOptions()
            readOptions.maxPixels = options.maxPixels
            let explorer = self
            readOptions.admitSize = { width, height in explorer.memoryRefusal(width: width, height: height) }
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
        let topClasses = network.topClasses(of: image, count: options.predictionCount)

        var files: [(name: String, write: (String) throws -> Void)] = []
        var pictures: [ExploredFile] = []
        /// Adds `picture` and its thumbnail, made from `part` of it when given (rows from the top).
        func addPicture(_ picture: Image, name: String, part: (rows: Int, description: String)? = nil) {
            files.append((name, { path in try writePNG(picture, toPath: path, compression: .fastest) }))
            let shown = part.map { part in
                Image(width: picture.width, height: part.rows, channels: picture.channels,
                      pixels: Array(picture.pixels.prefix(picture.width * part.rows * picture.channels)))
            } ?? picture
            let (width, height) = Self.thumbnailSize(width: shown.width, height: shown.height)
            var thumbnail = name
            if part != nil || (width, height) != (picture.width, picture.height) {
                thumbnail = String(name.dropLast(4)) + ".thumb.png"
                let small = shown.resizedByAreaAveraging(width: width, height: height)
                files.append((thumbnail, { path in try writePNG(small, toPath: path, compression: .fastest) }))
            }
            pictures.append(ExploredFile(name: name, width: picture.width, height: picture.height, thumbnail: thumbnail,
                                         thumbnailWidth: width, thumbnailHeight: height, thumbnailPart: part?.description))
        }
        addPicture(seen, name: "in_img.png")
        for (index, maps) in layers.enumerated() {
            let grid = FeatureMapGrid(layer: index + 1, maps: maps, tileSides: options.tileSides,
                                      maxWidth: options.maxGridWidth)
            addPicture(grid.render(), name: "L\(index + 1).png", part: Self.thumbnailPart(of: grid))
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
            var result = ExploredImage(input: input, pictures: pictures, written: written, seconds: 0, topClasses: topClasses)
            result.seconds = monotonicSeconds() - start
            let page = folder + "/" + Gallery.photoPageName
            try Gallery.photoPage(result, network: network.summary).write(toPath: page)
            result.written.append(page)
            return result
        } catch {
            // Each file is whole (written under a temporary name and renamed), but a folder with
            // this attempt's L1.png and no L2.png or page is a half-drawn photo: take back what this
            // attempt wrote, and the folders if that leaves them empty (rmdir refuses otherwise).
            for path in written { _ = unlinkFile(path) }
            if options.saveMaps { _ = removeEmptyFolder(folder + "/maps") }
            _ = removeEmptyFolder(folder)
            throw ExplorerFailure(path: input.path, reason: "cannot write output: \(error)")
        }
    }

    /// The part of a layer's figure its thumbnail shows: all of it, unless the grid is wrapped
    /// into stacked blocks (a wide layer), whose whole figure would shrink to a narrow strip in a
    /// 480-pixel box; then the first block (the conv maps, with its heading and the margin) and
    /// the words saying so.
    static func thumbnailPart(of grid: FeatureMapGrid) -> (rows: Int, description: String)? {
        let blocks = grid.blockFrames()
        guard blocks.count > 1, let first = blocks.first else { return nil }
        let title = grid.rowTitles.first.map { $0.isEmpty ? "" : ": " + $0 } ?? ""
        return (min(grid.imageSize.height, 2 * first.y + first.height), "first stage shown" + title)
    }

    /// The size of a `width` x `height` picture's thumbnail: scaled down to fit `thumbnailBox`
    /// (aspect kept, at least 1 pixel), or its own size when it fits.
    public static func thumbnailSize(width: Int, height: Int) -> (width: Int, height: Int) {
        let box = thumbnailBox
        guard width > box.width || height > box.height else { return (width, height) }
        // Scale by the tighter side: width/box.width vs height/box.height.
        if width * box.height >= height * box.width {
            return (box.width, max(1, (height * box.width + width / 2) / width))
        }
        return (max(1, (width * box.height + height / 2) / height), box.height)
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

    /// Runs `inputs` `options.split(images:)` at a time, telling `reporter` as each finishes, and
    /// returns every image that succeeded in `BatchSummary.images`. One bad image never stops the others.
    ///
    /// - Parameters:
    ///   - inputs: The images and the folder under the output root each one's files go to.
    ///   - reporter: Told as the batch starts and as each image succeeds or fails.
    /// - Returns: The counts, the images that succeeded in the order given, and each failure.
    public func run(_ inputs: [ExplorerInput], reporter: (any BatchReporter)? = nil) -> BatchSummary {
        run(inputs, reporter: reporter, keepingImages: true)
    }

    /// Runs `inputs` as `run(_:reporter:)` does; with `keepingImages: false` the summary keeps the
    /// counts and failures only, so a batch of any length holds one record per image in flight
    /// (the command line's way: its reporters write each image's part of the pages as it finishes).
    public func run(_ inputs: [ExplorerInput], reporter: (any BatchReporter)?, keepingImages: Bool) -> BatchSummary {
        // Images are the parallel unit here; each image's kernels get the threads left over.
        let (workers, kernelThreads) = options.split(images: inputs.count)
        let start = monotonicSeconds()
        let state = BatchState(keepingImages: keepingImages)
        reporter?.started(total: inputs.count)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            // A task-local thread count does not reach Dispatch's threads: each worker opens its own scope.
            Parallelism.withThreadCount(kernelThreads) {
                while let index = state.claim(below: inputs.count) {
                    let input = inputs[index]
                    do throws(ExplorerFailure) {
                        let result = try explore(input)
                        state.recordSuccess(result, at: index)
                        reporter?.finished(result, outputFolder: outputPath(for: input))
                    } catch {
                        state.recordFailure(error)
                        reporter?.failed(error, input: input)
                    }
                }
            }
        }
        let (succeeded, images, failures) = state.results()
        return BatchSummary(total: inputs.count, succeeded: succeeded, failures: failures, images: images,
                            seconds: monotonicSeconds() - start)
    }
}

/// The shared counters of a running batch.
private final class BatchState: @unchecked Sendable {
    private let lock = Lock()
    private let keepingImages: Bool
    private var next = 0
    private var succeeded = 0
    private var images: [(index: Int, image: ExploredImage)] = []
    private var failures: [ExplorerFailure] = []

    init(keepingImages: Bool) { self.keepingImages = keepingImages }

    func claim(below count: Int) -> Int? {
        lock.withLock {
            guard next < count else { return nil }
            defer { next += 1 }
            return next
        }
    }

    func recordSuccess(_ image: ExploredImage, at index: Int) {
        lock.withLock {
            succeeded += 1
            if keepingImages { images.append((index, image)) }
        }
    }

    func recordFailure(_ failure: ExplorerFailure) { lock.withLock { failures.append(failure) } }

    /// The count of images that succeeded, those kept in input order, and the failures in the
    /// order they happened.
    func results() -> (Int, [ExploredImage], [ExplorerFailure]) {
        lock.withLock { (succeeded, images.sorted { $0.index < $1.index }.map(\.image), failures) }
    }
}

/// `pixels` in millions, one decimal ("900.0").
private func megapixels(_ pixels: Int) -> String { decimal(Double(pixels) / 1e6) }

/// `bytes` in units of 10^9, one decimal ("59.4").
private func gigabytes(_ bytes: Int) -> String { decimal(Double(bytes) / 1e9) }

/// `value` with one decimal, without Foundation's formatter.
private func decimal(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}
