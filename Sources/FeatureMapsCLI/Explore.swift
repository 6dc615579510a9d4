import ArgumentParser
import FeatureMaps
import Kernels
import TrainedMaps

/// `featuremaps [explore] PATH...`: the feature maps of the notebook's conv/ReLU/pool stack (or
/// another one) for every photo given, as labelled PNG grids.
public struct ExploreCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "explore",
        abstract: "Draw the feature maps of a conv -> ReLU -> max-pool stack for photos (the default command).",
        discussion: """
        For each image, writes OUT/<stem>/in_img.png (the input as the stack saw it) and one grid per layer, L1.png, L2.png, ...: rows conv, ReLU, pooled; one column per filter. A layer wider than --max-grid-width is wrapped: one near-square block per row, under a heading. Pictures larger than 480x480 get a thumbnail (L1.thumb.png); OUT/<stem>/index.html shows every picture at full size, and OUT/index.html lists the run's failures and photos (thumbnails, sizes, seconds, top-3 classes with --model), 100 inputs a page (index-2.html, ...). Images found in a folder keep their sub-folders: photos/trip/cat.jpg given as 'photos' -> OUT/trip/cat/. With --save-maps, also OUT/<stem>/maps/input.npy and Ln_filters.npy, Ln_conv.npy, Ln_relu.npy, Ln_pool.npy (float32, NumPy's .npy).

        Parts: --shard I/N processes every N-th input found, from the I-th (I from 1, as SLURM numbers array tasks), so N runs with the same paths and --out (on one machine or many) write exactly the files of one run; OUT/index.html is the page of the part that finished last.

        Threads: --jobs images are processed at a time (default: as many as --threads, at most one per image), each with --threads / --jobs kernel threads (at least 1), so a lone image gets every thread.

        Layer spec (--layers): comma-separated layers, each 'edges' (the two 3x3 edge filters) or COUNTxSIZE (COUNT random SIZExSIZE filters, uniform in [0, 1), as deep as the layer's input). Every layer is conv (valid, no bias) -> ReLU -> 2x2 max pool with stride 2. The default, edges,3x5,1x7, is the original notebook's stack and needs images of at least 42x42 pixels.

        Examples:
          featuremaps SampleImages/chelsea.png
          featuremaps photos/ -o Maps --seed 7 --color
          featuremaps cat.jpg --layers edges,8x3,4x5,2x7 --save-maps

        Exit status: 0 all done, 1 some inputs failed (or the output folder is not writable), 2 usage error. Details: Docs/EXPLORER.md.
        """
    )

    @Argument(help: ArgumentHelp("PNG or JPEG files, and folders searched recursively for *.png, *.jpg, *.jpeg.",
                                 valueName: "path"))
    var paths: [String] = []

    @OptionGroup var output: OutputOptions

    @Option(help: "Seed of the random filters (the same seed gives the same filters).")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("Layer stack, for example edges,3x5,1x7 (see below).", valueName: "spec"))
    var layers: String = StackSpec.notebook.description

    @Flag(help: "Run on the RGB image with 3-deep first-layer filters instead of grayscale.")
    var color = false

    @Flag(help: "Also write every map and filter as float32 .npy files in OUT/<stem>/maps/.")
    var saveMaps = false

    @Flag(name: [.short, .long], help: "Print only errors.")
    var quiet = false

    @Option(help: ArgumentHelp("Refuse images with more pixels than this.", valueName: "pixels"))
    var maxPixels: Int = 100_000_000

    @OptionGroup var threads: ThreadOptions

    @OptionGroup var shard: ShardOptions

    @Option(help: ArgumentHelp("Images processed at a time (default: as many as --threads).", valueName: "n"))
    var jobs: Int?

    @Option(help: ArgumentHelp("Longest side of a grid tile in pixels; larger maps are averaged down in the figures (not in the .npy files).",
                               valueName: "pixels"))
    var maxTile: Int = FeatureMapGrid.defaultTileSides.upperBound

    @Option(help: ArgumentHelp("Widest a layer's grid may be in pixels; wider layers are wrapped into one block of tiles per row (conv, ReLU, pooled).",
                               valueName: "pixels"))
    var maxGridWidth: Int = FeatureMapGrid.defaultMaxWidth

    @Option(help: ArgumentHelp("Draw the maps of this trained model file (train-cifar's model.safetensors) instead of --layers.",
                               valueName: "file"))
    var model: String?

    public init() {}

    /// The parsed --layers.
    func stackSpec() throws -> StackSpec {
        do {
            return try StackSpec(parsing: layers)
        } catch {
            throw ValidationError("invalid --layers '\(error.spec)': \(error.reason)")
        }
    }

    public func validate() throws {
        if paths.isEmpty { throw ValidationError("give at least one image file or folder") }
        _ = try stackSpec()
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if maxPixels < 1 { throw ValidationError("--max-pixels must be at least 1") }
        if maxTile < 16 { throw ValidationError("--max-tile must be at least 16") }
        if maxGridWidth < 256 { throw ValidationError("--max-grid-width must be at least 256") }
    }

    /// The explorer's settings from these flags.
    public var explorerOptions: ExplorerOptions {
        ExplorerOptions(outputRoot: output.out, saveMaps: saveMaps, maxPixels: maxPixels, threads: threads.count,
                        jobs: jobs, maxTileSide: maxTile, maxGridWidth: maxGridWidth)
    }

    public func run() throws {
        let network: any FeatureMapNetwork = try model.map { try TrainedFeatureMaps(path: $0) }
            ?? FeatureMapStack(spec: stackSpec(), inputChannels: color ? 3 : 1, seed: seed)
        try runBatch(Explorer(network: network, options: explorerOptions), paths: paths, quiet: quiet, shard: shard.chosen)
    }
}

/// Finds the inputs (with `shard`, its part of them), runs them with progress and a summary, and
/// exits 1 if anything failed. Shared by every front end that draws feature maps of a network.
func runBatch(_ explorer: Explorer, paths: [String], quiet: Bool, shard: Shard? = nil) throws {
    let reporter = ConsoleReporter.automatic(quiet: quiet)
    let root = explorer.options.outputRoot
    // The part is cut after discovery has named every output folder (cat, cat-png, ...), so a
    // photo goes to the same folder whichever part draws it.
    let (found, earlyFailures) = InputDiscovery.collect(paths, excluding: root)
    let inputs = shard.map { $0.select(found) } ?? found
    for failure in earlyFailures { reporter.failedBeforeStart(failure) }
    if inputs.isEmpty {
        if earlyFailures.isEmpty && found.isEmpty {
            reporter.error("no PNG or JPEG files in \(paths.joined(separator: " "))")
        } else if earlyFailures.isEmpty, let shard {
            // More parts than inputs: this part has nothing to do, which is not a failure.
            if !quiet { printToStandardError("featuremaps: --shard \(shard): no inputs in this part (\(found.count) found in all)\n") }
            return
        }
        throw ExitCode(1)
    }
    do {
        try explorer.prepareOutputRoot()
    } catch {
        reporter.error("cannot write to the output folder \(root): \(error)")
        throw ExitCode(1)
    }
    let gallery = GalleryWriter(outputRoot: root, network: explorer.network.summary, inputs: inputs,
                                earlierFailures: earlyFailures, forwardingTo: reporter)
    let summary = explorer.run(inputs, reporter: gallery, keepingImages: false)
    var pageWritten = true
    do {
        try gallery.finish(summary)
    } catch {
        reporter.error("cannot write the page \(error)")
        pageWritten = false
    }
    reporter.finish(summary, earlierFailures: earlyFailures.count, outputRoot: root, page: pageWritten ? gallery.path : nil)
    if !summary.failures.isEmpty || !earlyFailures.isEmpty || !pageWritten { throw ExitCode(1) }
}
