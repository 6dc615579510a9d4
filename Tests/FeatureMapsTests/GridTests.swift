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

/// Layers too wide for one line per row: near-square blocks under headings, never wider than the maximum.
@Suite("wrapped grids")
struct WrappedGridTests {
    /// A layer of `count` maps of `height` x `width` in which map k is dark but for one bright
    /// value at offset k mod (height * width), so a drawn tile tells which map it is.
    static func layer(_ count: Int, height: Int, width: Int, tileSides: ClosedRange<Int> = FeatureMapGrid.defaultTileSides,
                      maxWidth: Int = FeatureMapGrid.defaultMaxWidth) -> FeatureMapGrid {
        let plane = height * width
        var values = [Float](repeating: 0, count: count * plane)
        for k in 0..<count { values[k * plane + k % plane] = 1 }
        let maps = Tensor(shape: [1, count, height, width], storage: values)
        return FeatureMapGrid(layer: 6, conv: maps, relu: maps, pool: maps, tileSides: tileSides, maxWidth: maxWidth)
    }

    /// Frames inside the image and pairwise disjoint.
    static func checkDisjoint(_ frames: [FeatureMapGrid.Frame], width: Int, height: Int) {
        #expect(frames.allSatisfy { $0.x >= 0 && $0.y >= 0 && $0.x + $0.width <= width && $0.y + $0.height <= height })
        let sorted = frames.sorted { ($0.y, $0.x) < ($1.y, $1.x) }
        var overlaps = 0
        for (i, a) in sorted.enumerated() {
            for b in sorted[(i + 1)...] {
                if b.y >= a.y + a.height { break }  // sorted by top: nothing later reaches up into a
                if a.x < b.x + b.width && b.x < a.x + a.width { overlaps += 1 }
            }
        }
        #expect(overlaps == 0)
    }

    @Test(arguments: [8, 64, 128, 512])
    func widthNeverExceedsTheMaximum(count: Int) {
        // 30x20 maps drawn at 210x140 (the explorer's default tile sides), as a trained net's late layers.
        for maxWidth in [FeatureMapGrid.defaultMaxWidth, 1500] {
            let grid = Self.layer(count, height: 20, width: 30, maxWidth: maxWidth)
            let (width, height) = grid.imageSize
            #expect(width <= maxWidth, "\(count) maps under \(maxWidth)")
            let tiles = grid.tileFrames(), labels = grid.labelFrames()
            #expect(tiles.map(\.count) == [count, count, count])
            Self.checkDisjoint(tiles.flatMap { $0 }, width: width, height: height)
            Self.checkDisjoint(labels.flatMap { $0 }, width: width, height: height)
            let oneLine = tiles.allSatisfy { row in row.allSatisfy { $0.y == row[0].y } }
            #expect(grid.isWrapped == !oneLine)
            if grid.isWrapped {
                // Blocks stacked in row order, each under its heading, all headings present.
                let headings = grid.headingFrames()
                #expect(headings.allSatisfy { $0 != nil })
                for r in 0..<3 {
                    let top = tiles[r].map(\.y).min()!, bottom = tiles[r].map { $0.y + $0.height }.max()!
                    #expect(headings[r]!.y + headings[r]!.height <= labels[r].map(\.y).min()!)
                    if r > 0 { #expect(tiles[r - 1].map { $0.y + $0.height }.max()! < headings[r]!.y) }
                    // Near-square unless the width cap forces a taller block.
                    let left = tiles[r].map(\.x).min()!, right = tiles[r].map { $0.x + $0.width }.max()!
                    let aspect = Double(right - left) / Double(bottom - top)
                    if maxWidth == FeatureMapGrid.defaultMaxWidth && count <= 128 {
                        #expect(aspect > 0.6 && aspect < 1.7, "\(count) maps: block \(right - left) x \(bottom - top)")
                    }
                }
            } else {
                #expect(grid.headingFrames().allSatisfy { $0 == nil })
            }
        }
    }

    /// Layers that fit keep the notebook's layout: one line per row, rows in order, no headings.
    @Test func smallLayersKeepOneRowPerStage() {
        for count in [1, 2, 3, 16] {
            let grid = Self.layer(count, height: 20, width: 30)
            #expect(!grid.isWrapped, "\(count) maps")
            let tiles = grid.tileFrames()
            for row in tiles {
                #expect(row.allSatisfy { $0.y == row[0].y })
                #expect(zip(row, row.dropFirst()).allSatisfy { $0.x + $0.width < $1.x })
            }
            #expect(tiles[0][0].y < tiles[1][0].y && tiles[1][0].y < tiles[2][0].y)
            #expect(tiles[0].map(\.x) == tiles[2].map(\.x), "columns line up")
        }
        // The notebook's layer 1 on chelsea (2 maps of 449x298) stays one line per stage.
        let chelsea = Self.layer(2, height: 298, width: 449)
        #expect(!chelsea.isWrapped && chelsea.imageSize.width < 1000)
    }

    /// Every map is drawn once, in its own frame: each tile shows exactly its map's bright pixel,
    /// and every heading and label has ink.
    @Test func everyMapAppearsExactlyOnceWithItsLabel() {
        let side = 24, count = 512
        let grid = Self.layer(count, height: side, width: side, tileSides: side...side, maxWidth: 1200)
        #expect(grid.isWrapped)
        let image = grid.render()
        #expect(image.width <= 1200 && (image.width, image.height) == grid.imageSize)
        let tiles = grid.tileFrames()
        Self.checkDisjoint(tiles.flatMap { $0 }, width: image.width, height: image.height)
        var wrong = 0
        for row in tiles {
            for (k, frame) in row.enumerated() {
                #expect(frame.width == side && frame.height == side)
                var bright: [Int] = []
                for y in 0..<side {
                    for x in 0..<side where image.pixels[(frame.y + y) * image.width + frame.x + x] != 0 {
                        bright.append(y * side + x)
                    }
                }
                if bright != [k % (side * side)] { wrong += 1 }
            }
        }
        #expect(wrong == 0)
        func hasInk(_ frame: FeatureMapGrid.Frame) -> Bool {
            (frame.y..<(frame.y + frame.height)).contains { y in
                (frame.x..<(frame.x + frame.width)).contains { x in image.pixels[y * image.width + x] == 0 }
            }
        }
        #expect(grid.rowTitles == ["L6 conv (512 maps)", "L6 ReLU", "L6 ReLU + pool"])
        #expect(grid.headingFrames().allSatisfy { $0.map(hasInk) == true })
        #expect(grid.labelFrames().joined().allSatisfy(hasInk))
        #expect(grid.rows[2][511].label == "L6-Map512ReLUPool")
    }
}
