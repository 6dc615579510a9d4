import Kernels
import ImageIO

/// One labelled map of a grid: a single-channel plane of floats.
public struct FeatureMapTile: Sendable {
    /// Drawn above the tile with `BitmapFont`.
    public var label: String
    /// Width of the map in values.
    public var width: Int
    /// Height of the map in values.
    public var height: Int
    /// The map, row-major, `width * height` values.
    public var values: [Float]

    /// A tile of explicit values.
    public init(label: String, width: Int, height: Int, values: [Float]) {
        precondition(width >= 1 && height >= 1 && values.count == width * height,
                     "\(values.count) values do not make a \(width)x\(height) tile")
        self.label = label
        self.width = width
        self.height = height
        self.values = values
    }

    /// Map `index` of `maps`, a tensor [1, maps, H, W] or [maps, H, W].
    public init(label: String, maps: Tensor, index: Int) {
        precondition(maps.rank == 3 || (maps.rank == 4 && maps.shape[0] == 1),
                     "maps \(maps.shape) are not [1, C, H, W] or [C, H, W]")
        let shape = Array(maps.shape.suffix(3))
        precondition(index >= 0 && index < shape[0], "map \(index) of \(shape[0])")
        let plane = shape[1] * shape[2]
        self.init(label: label, width: shape[2], height: shape[1],
                  values: Array(maps.storage[(index * plane)..<((index + 1) * plane)]))
    }

    /// The tile's gray levels as matplotlib's `imshow(map, cmap="gray")` draws them: min maps to
    /// 0, max to 255, level = floor(256 * (x - min) / (max - min)) clipped to 255; a constant map
    /// (min == max) is all 0, as matplotlib draws it.
    public func grayLevels() -> [UInt8] {
        var low = Float.infinity
        var high = -Float.infinity
        for v in values where v.isFinite {
            low = min(low, v)
            high = max(high, v)
        }
        guard low < high else { return [UInt8](repeating: 0, count: values.count) }
        let scale = 256.0 / (Double(high) - Double(low))
        return values.map { v in
            guard v.isFinite else { return v == .infinity ? 255 : 0 }
            return UInt8(min(255, max(0, Int((Double(v) - Double(low)) * scale))))
        }
    }
}

/// A figure of labelled feature maps in rows and columns, like the notebook's matplotlib subplots:
/// white background, each tile scaled min-to-max to gray, a label above each tile, all tiles of
/// the grid drawn at one size (smaller maps are enlarged by nearest neighbour).
///
/// The explorer draws one per layer (rows conv / ReLU / pooled, one column per filter); other
/// tools can lay out any tiles.
public struct FeatureMapGrid: Sendable {
    /// Tiles by row; rows may have different lengths.
    public var rows: [[FeatureMapTile]]
    /// Tiles whose longer side is shorter than this are enlarged by a whole factor until it is
    /// not, so small maps stay visible.
    public var minimumTileSide: Int

    /// A grid of explicit tiles.
    public init(rows: [[FeatureMapTile]], minimumTileSide: Int = 200) {
        self.rows = rows
        self.minimumTileSide = minimumTileSide
    }

    /// The explorer's figure for layer `number` (1-based): row 1 the conv maps `Ln-MapK`, row 2
    /// the ReLU maps `Ln-MapKReLU`, row 3 the pooled maps `Ln-MapKReLUPool`, one column per filter.
    public init(layer number: Int, conv: Tensor, relu: Tensor, pool: Tensor, minimumTileSide: Int = 200) {
        let filterCount = conv.shape[conv.rank - 3]
        func row(_ maps: Tensor, _ suffix: String) -> [FeatureMapTile] {
            (0..<filterCount).map { FeatureMapTile(label: "L\(number)-Map\($0 + 1)\(suffix)", maps: maps, index: $0) }
        }
        self.init(rows: [row(conv, ""), row(relu, "ReLU"), row(pool, "ReLUPool")], minimumTileSide: minimumTileSide)
    }

    /// The explorer's figure for layer `number` of `maps`.
    public init(layer number: Int, maps: LayerMaps, minimumTileSide: Int = 200) {
        self.init(layer: number, conv: maps.conv, relu: maps.relu, pool: maps.pool, minimumTileSide: minimumTileSide)
    }

    /// The pixel geometry of a rendered grid.
    struct Layout {
        var tileWidth: Int
        var tileHeight: Int
        var fontScale: Int
        var margin: Int
        var cellWidth: Int
        var labelBand: Int
        var rowHeight: Int
        var columnGap: Int
        var width: Int
        var height: Int
    }

    func layout() -> Layout {
        let allTiles = rows.joined()
        let mapWidth = allTiles.map(\.width).max() ?? 1
        let mapHeight = allTiles.map(\.height).max() ?? 1
        let longer = max(mapWidth, mapHeight)
        let enlarge = longer >= minimumTileSide ? 1 : (minimumTileSide + longer - 1) / longer
        let tileWidth = mapWidth * enlarge
        let tileHeight = mapHeight * enlarge
        let fontScale = tileWidth >= 600 ? 3 : (tileWidth >= 100 ? 2 : 1)
        let labelWidth = allTiles.map { BitmapFont.width(of: $0.label, scale: fontScale) }.max() ?? 0
        let margin = 6 * fontScale
        let columnGap = 6 * fontScale
        let cellWidth = max(tileWidth, labelWidth)
        let labelBand = BitmapFont.height(scale: fontScale) + 4 * fontScale
        let rowHeight = labelBand + tileHeight + 4 * fontScale
        let columns = rows.map(\.count).max() ?? 0
        let width = 2 * margin + columns * cellWidth + max(0, columns - 1) * columnGap
        let height = 2 * margin + rows.count * rowHeight
        return Layout(tileWidth: tileWidth, tileHeight: tileHeight, fontScale: fontScale, margin: margin,
                      cellWidth: cellWidth, labelBand: labelBand, rowHeight: rowHeight, columnGap: columnGap,
                      width: max(1, width), height: max(1, height))
    }

    /// Where a tile (or its label) lands in the rendered image, in pixels.
    public struct Frame: Sendable, Equatable {
        /// Left edge.
        public var x: Int
        /// Top edge.
        public var y: Int
        /// Width.
        public var width: Int
        /// Height.
        public var height: Int
    }

    /// The size of the rendered image.
    public var imageSize: (width: Int, height: Int) {
        let layout = layout()
        return (layout.width, layout.height)
    }

    /// Each tile's frame in the rendered image, by row and column like `rows`; every frame of a
    /// grid has the same size.
    public func tileFrames() -> [[Frame]] {
        let layout = layout()
        return rows.enumerated().map { r, row in
            row.indices.map { c in
                let left = layout.margin + c * (layout.cellWidth + layout.columnGap)
                return Frame(x: left + (layout.cellWidth - layout.tileWidth) / 2,
                             y: layout.margin + r * layout.rowHeight + layout.labelBand,
                             width: layout.tileWidth, height: layout.tileHeight)
            }
        }
    }

    /// Each label's frame (the text's bounding box), centred above its tile.
    public func labelFrames() -> [[Frame]] {
        let layout = layout()
        return rows.enumerated().map { r, row in
            row.enumerated().map { c, tile in
                let left = layout.margin + c * (layout.cellWidth + layout.columnGap)
                let width = BitmapFont.width(of: tile.label, scale: layout.fontScale)
                return Frame(x: left + (layout.cellWidth - width) / 2,
                             y: layout.margin + r * layout.rowHeight + 2 * layout.fontScale,
                             width: width, height: BitmapFont.height(scale: layout.fontScale))
            }
        }
    }

    /// The grid as an 8-bit grayscale image: white background, black labels.
    public func render() -> Image {
        let layout = layout()
        var pixels = [UInt8](repeating: 255, count: layout.width * layout.height)
        for (r, (tileRow, labelRow)) in zip(tileFrames(), labelFrames()).enumerated() {
            for (c, (tileFrame, labelFrame)) in zip(tileRow, labelRow).enumerated() {
                let tile = rows[r][c]
                BitmapFont.draw(tile.label, into: &pixels, width: layout.width, height: layout.height,
                                x: labelFrame.x, y: labelFrame.y, scale: layout.fontScale, color: [0])
                Self.blit(tile, into: &pixels, canvasWidth: layout.width, frame: tileFrame)
            }
        }
        return Image(width: layout.width, height: layout.height, channels: 1, pixels: pixels)
    }

    /// Draws `tile` scaled (nearest neighbour) into `frame`.
    private static func blit(_ tile: FeatureMapTile, into pixels: inout [UInt8], canvasWidth: Int, frame: Frame) {
        let (x, y, width, height) = (frame.x, frame.y, frame.width, frame.height)
        let levels = tile.grayLevels()
        let sourceColumn = (0..<width).map { $0 * tile.width / width }
        pixels.withUnsafeMutableBufferPointer { canvas in
            levels.withUnsafeBufferPointer { source in
                for dy in 0..<height {
                    let sourceRow = (dy * tile.height / height) * tile.width
                    let destinationRow = (y + dy) * canvasWidth + x
                    for dx in 0..<width {
                        canvas[destinationRow + dx] = source[sourceRow + sourceColumn[dx]]
                    }
                }
            }
        }
    }
}
