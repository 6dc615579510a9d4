import Testing
import FeatureMaps
import ImageIO
import Kernels

@Suite("grids")
struct GridTests {
    /// matplotlib's gray imshow, worked by hand: level = floor(256 (x - min) / (max - min)), max -> 255.
    @Test func grayLevelsFollowMatplotlib() {
        #expect(FeatureMapTile(label: "", width: 4, height: 1, values: [0, 1, 2, 3]).grayLevels() == [0, 85, 170, 255])
        #expect(FeatureMapTile(label: "", width: 3, height: 1, values: [-1, 0, 1]).grayLevels() == [0, 128, 255])
        #expect(FeatureMapTile(label: "", width: 2, height: 1, values: [-7, -3]).grayLevels() == [0, 255])
        // A constant map is black, as imshow draws vmin == vmax.
        #expect(FeatureMapTile(label: "", width: 2, height: 2, values: [5, 5, 5, 5]).grayLevels() == [0, 0, 0, 0])
        // Exact integer levels (t = 16 v) on the 8-lane path: floor must not round them down.
        #expect(FeatureMapTile(label: "", width: 17, height: 1, values: (0...16).map(Float.init)).grayLevels()
                == (0..<16).map { UInt8($0 * 16) } + [255])
        // Non-finite values stay out of the range: +inf white, -inf and NaN black.
        #expect(FeatureMapTile(label: "", width: 5, height: 1, values: [0, 2, .infinity, -.infinity, .nan]).grayLevels()
                == [0, 255, 255, 0, 0])
    }

    /// Layer grid of known maps: frames share one size, labels sit above their tiles, and every
    /// tile pixel is the nearest-neighbour enlargement of the matplotlib levels computed here.
    @Test func layerGridPlacesScaledTiles() {
        var rng = SeededGenerator(seed: 5)
        let conv = Tensor.uniform(shape: [1, 2, 20, 30], in: -1..<1, using: &rng)
        let relu = relu(conv)
        let pool = maxPool2d(relu, kernelSize: 2, stride: 2)
        let grid = FeatureMapGrid(layer: 2, conv: conv, relu: relu, pool: pool)
        #expect(grid.rows.map { $0.map(\.label) } == [["L2-Map1", "L2-Map2"], ["L2-Map1ReLU", "L2-Map2ReLU"],
                                                      ["L2-Map1ReLUPool", "L2-Map2ReLUPool"]])
        let image = grid.render()
        #expect(image.channels == 1)
        #expect((image.width, image.height) == grid.imageSize)
        let frames = grid.tileFrames()
        let labels = grid.labelFrames()
        let size = (frames[0][0].width, frames[0][0].height)
        #expect(size.0 >= 200 && size.0 % 30 == 0 && size.1 == size.0 * 20 / 30)  // 30x20 enlarged by a whole factor
        for (r, row) in frames.enumerated() {
            for (c, frame) in row.enumerated() {
                #expect((frame.width, frame.height) == size)
                #expect(frame.x >= 0 && frame.y >= 0 && frame.x + frame.width <= image.width && frame.y + frame.height <= image.height)
                let label = labels[r][c]
                #expect(label.y + label.height <= frame.y, "label above its tile")
                let labelPixels = (label.y..<(label.y + label.height)).flatMap { y in
                    (label.x..<(label.x + label.width)).map { x in image.pixels[y * image.width + x] }
                }
                #expect(labelPixels.contains(0) && labelPixels.contains(255), "label drawn")

                let tile = grid.rows[r][c]
                var low = Float.infinity, high = -Float.infinity
                for v in tile.values { low = min(low, v); high = max(high, v) }
                var mismatches = 0
                for y in 0..<frame.height {
                    for x in 0..<frame.width {
                        let v = tile.values[(y * tile.height / frame.height) * tile.width + x * tile.width / frame.width]
                        // matplotlib on float32: Normalize ((v - vmin) / (vmax - vmin)), then * 256, then int.
                        let normalized: Float = (v - low) / (high - low)
                        let level = high > low ? min(255, Int(normalized * 256)) : 0
                        if Int(image.pixels[(frame.y + y) * image.width + frame.x + x]) != level { mismatches += 1 }
                    }
                }
                #expect(mismatches == 0, "tile \(tile.label)")
            }
        }
        // Between tiles: background.
        #expect(image.pixels[0] == 255)
    }

    /// A map longer than the largest tile side is box-averaged down: columns alternating 0 and 1
    /// (levels 0 and 255) halved in width average to (0 + 255 + 0 + 255) / 4 = 127.5 -> 128.
    @Test func largeMapsAreAveragedDown() {
        let values = (0..<(8 * 1024)).map { Float($0 % 2) }
        let grid = FeatureMapGrid(rows: [[FeatureMapTile(label: "big", width: 1024, height: 8, values: values)]])
        let frame = grid.tileFrames()[0][0]
        #expect(frame.width == 512 && frame.height == 4)
        let image = grid.render()
        for y in frame.y..<(frame.y + frame.height) {
            for x in frame.x..<(frame.x + frame.width) {
                #expect(image.pixels[y * image.width + x] == 128)
            }
        }
        let small = FeatureMapGrid(rows: [[FeatureMapTile(label: "s", width: 1024, height: 8, values: values)]], tileSides: 1...2048)
        #expect(small.tileFrames()[0][0].width == 1024)
    }
}
