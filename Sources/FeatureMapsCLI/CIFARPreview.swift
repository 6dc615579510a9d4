import ArgumentParser
import Foundation
import ImageIO
import Training

/// `featuremaps cifar-preview`: the notebook's first cell, a labelled grid of the first
/// training images, plus the shapes and per-class counts of both splits.
public struct CIFARPreviewCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cifar-preview",
        abstract: "Draw the first CIFAR-10 training images with their class names, and print the splits' shapes and class counts.")

    @OptionGroup var data: CIFARDataOptions

    @OptionGroup var output: OutputOptions

    @Option(help: "Grid size: images per row and per column.")
    var grid = 3

    @Option(help: "Upscaling factor of each 32x32 image.")
    var scale = 4

    public init() {}

    public func validate() throws {
        guard (1 ... 20).contains(grid), (1 ... 16).contains(scale) else {
            throw ValidationError("--grid must be 1-20 and --scale 1-16")
        }
    }

    public func run() throws {
        let cifar = try data.load()
        for (name, split) in [("train", cifar.train), ("test", cifar.test)] {
            print("\(name): images \(split.shape) (uint8, CHW), labels [\(split.count)]")
        }
        let trainCounts = cifar.train.classCounts(), testCounts = cifar.test.classCounts()
        print("class".padding(toLength: 12, withPad: " ", startingAt: 0) + "  train   test")
        for (i, name) in cifar.classNames.enumerated() {
            print(name.padding(toLength: 12, withPad: " ", startingAt: 0) + String(format: " %6d %6d", trainCounts[i], testCounts[i]))
        }
        let canvas = CIFARPreview.grid(cifar.train, classNames: cifar.classNames, columns: grid, rows: grid, scale: scale)
        try FileManager.default.createDirectory(atPath: output.out, withIntermediateDirectories: true)
        let path = output.path("cifar-preview.png")
        try writePNG(canvas, toPath: path)
        print("wrote \(path) (\(grid)x\(grid) grid of the first training images)")
    }
}
