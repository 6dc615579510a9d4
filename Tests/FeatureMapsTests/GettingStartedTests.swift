import FeatureMaps
import Foundation
import ImageIO
import Kernels
import Testing

/// The code of Sources/FeatureMaps/FeatureMaps.docc/GettingStarted.md, run as written
/// (`DocumentationExampleTests` checks that the article still shows this code).
@Suite struct FeatureMapsGettingStartedTests {
    /// The article's function: the first layer's feature-map grid of a photo.
    func writeFirstLayerGrid(of photoPath: String, to gridPath: String) throws -> Image {
        let photo = try readImage(atPath: photoPath)
        // The notebook's stack: two edge filters, then random 5x5 and 7x7 filters (seed 0).
        let stack = FeatureMapStack(spec: .notebook, inputChannels: 1, seed: 0)
        let input = Tensor(shape: [1, 1, photo.height, photo.width], storage: photo.grayscale())
        let layers = stack.layerMaps(for: input)   // conv, ReLU and pooled maps of each layer
        let grid = FeatureMapGrid(layer: 1, maps: layers[0]).render()
        try writePNG(grid, toPath: gridPath)
        return grid
    }

    @Test func theGridOfTheSamplePhotoIsWritten() throws {
        let folder = try TestSupport.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let gridPath = folder + "/L1.png"
        let grid = try writeFirstLayerGrid(of: TestSupport.chelseaPath, to: gridPath)
        // The file holds the grid's gray levels; readImage gives every image as RGB.
        let written = try readImage(atPath: gridPath)
        #expect((written.width, written.height) == (grid.width, grid.height))
        #expect(written.pixels == (grid.channels == 1 ? grid.pixels.flatMap { [$0, $0, $0] } : grid.pixels))
        // Layer 1's two edge filters make two columns of 449x298 maps (3x3 valid convolution of a
        // 451x300 photo), in three rows: conv, ReLU, pooled.
        #expect(grid.width >= 2 * 449 && grid.height >= 3 * 298, "\(grid.width)x\(grid.height)")
    }

    /// The article's second example: the explorer writes every figure and a page per photo.
    @Test func theExplorerWritesThePhotosFigures() throws {
        let folder = try TestSupport.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let (photoPath, outputFolder) = (TestSupport.chelseaPath, folder + "/Output")
        let explorer = Explorer(network: FeatureMapStack(spec: .notebook, inputChannels: 1, seed: 0),
                                options: ExplorerOptions(outputRoot: outputFolder))
        let summary = explorer.run([ExplorerInput(path: photoPath, outputFolder: "chelsea")])
        // summary.succeeded == 1; the grids are in outputFolder/chelsea/L1.png, L2.png, L3.png
        #expect(summary.succeeded == 1, "\(summary.failures)")
        #expect(FileManager.default.fileExists(atPath: outputFolder + "/chelsea/L1.png"))
        #expect(FileManager.default.fileExists(atPath: outputFolder + "/chelsea/L3.png"))
    }
}
