import Kernels
import ImageIO

/// One labelled map of a grid: a single-channel plane of floats.
public struct FeatureMapTile: Sendable {
    /// Drawn above the tile in a 5x7 bitmap font.
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

    /// The tile's gray levels as matplotlib's `imshow(map, cmap="gray")` draws a float32 map:
    /// level = floor(((x - min) / (max - min)) * 256) in float32 (matplotlib's Normalize, then
    /// its 256-entry colormap lookup), clipped to 255; a constant map (min == max) is all 0, as
    /// matplotlib draws it. Non-finite values are left out of min and max (+inf draws white,
    /// -inf and NaN black).
    public func grayLevels() -> [UInt8] {
        var (low, high, allFinite) = Self.range(values)
        if !allFinite {
            low = values.lazy.filter(\.isFinite).min() ?? .infinity
            high = values.lazy.filter(\.isFinite).max() ?? -.infinity
        }
        guard low < high else {
            return values.map { $0 == .infinity ? 255 : 0 }
        }
        let range = high - low
        return [UInt8](unsafeUninitializedCapacity: values.count) { out, initialized in
            values.withUnsafeBufferPointer { v in
                var i = 0
                if allFinite, let base = v.baseAddress, let destination = out.baseAddress {
                    // 8 lanes at a time. For finite x, t = ((x - min) / range) * 256 lies in
                    // [0, 256] (float rounding is monotonic). Adding 2^23 rounds t to the nearest
                    // integer n exactly; floor(t) is n, or n - 1 where n > t. floor + 2^23 is exact,
                    // so its low mantissa byte is the level: no trapping conversion, no floorf call.
                    let lows = SIMD8<Float>(repeating: low), ranges = SIMD8<Float>(repeating: range)
                    let magic = SIMD8<Float>(repeating: 8_388_608)
                    while i + 8 <= v.count {
                        let x = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD8<Float>.self)
                        let t = ((x - lows) / ranges) * 256
                        let nearest = (t + magic) - magic
                        let floor = nearest.replacing(with: nearest - 1, where: nearest .> t)
                        let clipped = floor.replacing(with: 255, where: floor .> 255)
                        let bits = unsafeBitCast(clipped + magic, to: SIMD8<UInt32>.self)
                        UnsafeMutableRawPointer(destination + i).storeBytes(of: SIMD8<UInt8>(truncatingIfNeeded: bits),
                                                                           as: SIMD8<UInt8>.self)
                        i += 8
                    }
                }
                while i < v.count {
                    let x = v[i]
                    out[i] = x.isFinite ? UInt8(min(255, max(0, Int32(((x - low) / range) * 256))))
                        : (x == .infinity ? 255 : 0)
                    i += 1
                }
            }
            initialized = values.count
        }
    }

    /// Least and greatest value and whether all are finite (8 lanes at a time: a scalar min/max
    /// reduction does not vectorise).
    private static func range(_ values: [Float]) -> (Float, Float, Bool) {
        values.withUnsafeBufferPointer { v in
            var lows = SIMD8<Float>(repeating: .infinity), highs = SIMD8<Float>(repeating: -.infinity)
            var check = SIMD8<Float>(repeating: 0)
            var i = 0
            if let base = v.baseAddress {
                while i + 8 <= v.count {
                    let x = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD8<Float>.self)
                    lows = pointwiseMin(lows, x)
                    highs = pointwiseMax(highs, x)
                    check += x - x   // stays 0 unless some x is infinite or NaN
                    i += 8
                }
            }
            var low = lows.min(), high = highs.max()
            var allFinite = check == SIMD8(repeating: 0)
            while i < v.count {
                let x = v[i]
                low = min(low, x)
                high = max(high, x)
                if !x.isFinite { allFinite = false }
                i += 1
            }
            return (low, high, allFinite)
        }
    }
}

/// A figure of labelled feature maps in rows and columns, like the notebook's matplotlib subplots:
/// white background, each tile scaled min-to-max to gray, a label above each tile, all tiles of
/// the grid drawn at one size: the largest map's size, brought into `tileSides` (smaller maps are
/// enlarged by nearest neighbour, larger ones reduced by averaging).
///
/// Each row is one line of tiles while the widest row fits in `maxWidth` pixels (the notebook's
/// layout). A wider grid is wrapped: each row becomes a near-square block of tiles under a heading
/// (its `rowTitles` entry), blocks stacked top to bottom, all with the same number of columns,
/// so no viewer has to scroll sideways through a 30,000-pixel strip.
///
/// The explorer draws one per layer (rows conv / ReLU / pooled, one column per filter); other
/// tools can lay out any tiles.
public struct FeatureMapGrid: Sendable {
    /// Tiles by row; rows may have different lengths.
    public var rows: [[FeatureMapTile]]
    /// A heading per row, drawn above the row's block when the grid is wrapped ("" or a missing
    /// entry: no heading).
    public var rowTitles: [String]
    /// The range of the tiles' longer side in pixels. Shorter maps are enlarged by a whole factor
    /// (so small maps stay visible, pixels stay square); longer ones are reduced to the upper
    /// bound by box averaging (so a 12-megapixel photo does not make a 70-megapixel figure; the
    /// exact values are in the .npy files).
    public var tileSides: ClosedRange<Int>
    /// The widest the rendered image may be, in pixels; rows that would be wider are wrapped.
    /// Only a single tile (with its label and margins) wider than this makes a wider image.
    public var maxWidth: Int

    /// The explorer's default tile sides: 200...512 pixels.
    public static let defaultTileSides = 200...512
    /// The explorer's default maximum grid width: 4,096 pixels.
    public static let defaultMaxWidth = 4096

    /// A grid of explicit tiles.
    public init(rows: [[FeatureMapTile]], rowTitles: [String] = [], tileSides: ClosedRange<Int> = defaultTileSides,
                maxWidth: Int = defaultMaxWidth) {
        precondition(tileSides.lowerBound >= 1, "tile sides must be positive")
        self.rows = rows
        self.rowTitles = rowTitles
        self.tileSides = tileSides
        self.maxWidth = max(1, maxWidth)
    }

    /// The explorer's figure for layer `number` (1-based): row 1 the conv maps `Ln-MapK`, row 2
    /// the ReLU maps `Ln-MapKReLU`, row 3 the pooled maps `Ln-MapKReLUPool`, one column per filter;
    /// headings `Ln conv (K maps)`, `Ln ReLU`, `Ln ReLU + pool` when wrapped.
    public init(layer number: Int, conv: Tensor, relu: Tensor, pool: Tensor,
                tileSides: ClosedRange<Int> = defaultTileSides, maxWidth: Int = defaultMaxWidth) {
        let filterCount = conv.shape[conv.rank - 3]
        func row(_ maps: Tensor, _ suffix: String) -> [FeatureMapTile] {
            (0..<filterCount).map { FeatureMapTile(label: "L\(number)-Map\($0 + 1)\(suffix)", maps: maps, index: $0) }
        }
        self.init(rows: [row(conv, ""), row(relu, "ReLU"), row(pool, "ReLUPool")],
                  rowTitles: ["L\(number) conv (\(filterCount) maps)", "L\(number) ReLU", "L\(number) ReLU + pool"],
                  tileSides: tileSides, maxWidth: maxWidth)
    }

    /// The explorer's figure for layer `number` of `maps`.
    public init(layer number: Int, maps: LayerMaps, tileSides: ClosedRange<Int> = defaultTileSides,
                maxWidth: Int = defaultMaxWidth) {
        self.init(layer: number, conv: maps.conv, relu: maps.relu, pool: maps.pool, tileSides: tileSides,
                  maxWidth: maxWidth)
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
        /// Tiles per line: the longest row's length unless wrapped.
        var columns: Int
        /// Whether rows are wrapped into blocks with headings.
        var wrapped: Bool
        /// Scale of the block headings' font.
        var headingScale: Int
        /// Height of a block's heading band (0 unless wrapped).
        var headingBand: Int
        /// Top edge of each row's block (its heading band, then its lines of tiles).
        var blockTops: [Int]
        var width: Int
        var height: Int

        /// Top-left corner of the cell (label band, then tile) of tile `index` in row `row`.
        func cell(row: Int, index: Int) -> (x: Int, y: Int) {
            let line = index / columns, column = index % columns
            return (margin + column * (cellWidth + columnGap), blockTops[row] + headingBand + line * rowHeight)
        }
    }

    func layout() -> Layout {
        let allTiles = rows.joined()
        let mapWidth = allTiles.map(\.width).max() ?? 1
        let mapHeight = allTiles.map(\.height).max() ?? 1
        let longer = max(mapWidth, mapHeight)
        let tileWidth: Int, tileHeight: Int
        if longer > tileSides.upperBound {
            tileWidth = max(1, (mapWidth * tileSides.upperBound + longer / 2) / longer)
            tileHeight = max(1, (mapHeight * tileSides.upperBound + longer / 2) / longer)
        } else {
            let enlarge = longer >= tileSides.lowerBound ? 1 : (tileSides.lowerBound + longer - 1) / longer
            tileWidth = mapWidth * enlarge
            tileHeight = mapHeight * enlarge
        }
        let fontScale = tileWidth >= 600 ? 3 : (tileWidth >= 100 ? 2 : 1)
        let labelWidth = allTiles.map { BitmapFont.width(of: $0.label, scale: fontScale) }.max() ?? 0
        let margin = 6 * fontScale
        let columnGap = 6 * fontScale
        let cellWidth = max(tileWidth, labelWidth)
        let labelBand = BitmapFont.height(scale: fontScale) + 4 * fontScale
        let rowHeight = labelBand + tileHeight + 4 * fontScale
        let longest = rows.map(\.count).max() ?? 0
        let pitch = cellWidth + columnGap
        let fitting = max(1, (maxWidth - 2 * margin + columnGap) / pitch)
        let wrapped = longest > fitting
        var columns = max(1, longest)
        if wrapped {
            // A near-square block: columns * pitch close to lines * rowHeight, at most `fitting`
            // columns. Within a sixth of that count, the one leaving the fewest empty cells in
            // the last line (64 maps: 8 x 8 rather than 7 x 10 and a lone tile), then the nearest.
            let square = max(1, Int((Double(longest * rowHeight) / Double(pitch)).squareRoot().rounded()))
            let spread = max(1, square / 6)
            let most = max(1, min(fitting, square + spread))
            let candidates = min(most, max(1, square - spread))...most
            func empty(_ c: Int) -> Int { (longest + c - 1) / c * c - longest }
            columns = candidates.min { a, b in (empty(a), abs(a - square)) < (empty(b), abs(b - square)) } ?? 1
        }
        let headingScale = fontScale + 1
        let headingBand = wrapped ? BitmapFont.height(scale: headingScale) + 6 * fontScale : 0
        let blockGap = wrapped ? 6 * fontScale : 0
        var blockTops: [Int] = []
        var top = margin
        for row in rows {
            blockTops.append(top)
            top += headingBand + max(1, (row.count + columns - 1) / columns) * rowHeight + blockGap
        }
        let headingWidth = wrapped ? rowTitles.map { BitmapFont.width(of: $0, scale: headingScale) }.max() ?? 0 : 0
        let width = max(2 * margin + (longest == 0 ? 0 : columns * cellWidth + (columns - 1) * columnGap),
                        2 * margin + headingWidth)
        let height = top - blockGap + margin
        return Layout(tileWidth: tileWidth, tileHeight: tileHeight, fontScale: fontScale, margin: margin,
                      cellWidth: cellWidth, labelBand: labelBand, rowHeight: rowHeight, columnGap: columnGap,
                      columns: columns, wrapped: wrapped, headingScale: headingScale, headingBand: headingBand,
                      blockTops: blockTops, width: max(1, width), height: max(1, height))
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

    /// Whether the rows are wrapped into blocks (the longest row is wider than `maxWidth`).
    public var isWrapped: Bool { layout().wrapped }

    /// Each tile's frame in the rendered image, by row and column like `rows`; every frame of a
    /// grid has the same size.
    public func tileFrames() -> [[Frame]] {
        let layout = layout()
        return rows.enumerated().map { r, row in
            row.indices.map { c in
                let cell = layout.cell(row: r, index: c)
                return Frame(x: cell.x + (layout.cellWidth - layout.tileWidth) / 2, y: cell.y + layout.labelBand,
                             width: layout.tileWidth, height: layout.tileHeight)
            }
        }
    }

    /// Each label's frame (the text's bounding box), centred above its tile.
    public func labelFrames() -> [[Frame]] {
        let layout = layout()
        return rows.enumerated().map { r, row in
            row.enumerated().map { c, tile in
                let cell = layout.cell(row: r, index: c)
                let width = BitmapFont.width(of: tile.label, scale: layout.fontScale)
                return Frame(x: cell.x + (layout.cellWidth - width) / 2, y: cell.y + 2 * layout.fontScale,
                             width: width, height: BitmapFont.height(scale: layout.fontScale))
            }
        }
    }

    /// Each row's heading frame (the text's bounding box, at the block's top left), or nil when
    /// the grid is not wrapped or the row has no title.
    public func headingFrames() -> [Frame?] {
        let layout = layout()
        return rows.indices.map { r in
            let title = r < rowTitles.count ? rowTitles[r] : ""
            guard layout.wrapped, !title.isEmpty else { return nil }
            return Frame(x: layout.margin, y: layout.blockTops[r] + 2 * layout.fontScale,
                         width: BitmapFont.width(of: title, scale: layout.headingScale),
                         height: BitmapFont.height(scale: layout.headingScale))
        }
    }

    /// Each row's block (its heading band and its lines of tiles, the image's full width), top to
    /// bottom, when the grid is wrapped; empty otherwise.
    public func blockFrames() -> [Frame] {
        let layout = layout()
        guard layout.wrapped else { return [] }
        return rows.enumerated().map { r, row in
            Frame(x: 0, y: layout.blockTops[r], width: layout.width,
                  height: layout.headingBand + max(1, (row.count + layout.columns - 1) / layout.columns) * layout.rowHeight)
        }
    }

    /// The grid as an 8-bit grayscale image: white background, black labels.
    public func render() -> Image {
        let layout = layout()
        var pixels = [UInt8](repeating: 255, count: layout.width * layout.height)
        for (r, frame) in headingFrames().enumerated() {
            guard let frame else { continue }
            BitmapFont.draw(rowTitles[r], into: &pixels, width: layout.width, height: layout.height,
                            x: frame.x, y: frame.y, scale: layout.headingScale, color: [0])
        }
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

    /// Draws `tile` scaled into `frame`: display pixel (dx, dy) is the rounded mean of the source
    /// levels in columns [dx*w/W, max(that+1, (dx+1)*w/W)) and the same rows, which is nearest
    /// neighbour when enlarging and a box average when reducing.
    private static func blit(_ tile: FeatureMapTile, into pixels: inout [UInt8], canvasWidth: Int, frame: Frame) {
        let levels = tile.grayLevels()
        let (w, h, width, height) = (tile.width, tile.height, frame.width, frame.height)
        if width >= w && height >= h {
            // Enlarging (or 1:1): plain nearest neighbour, one source row per display row.
            let sourceColumn = (0..<width).map { $0 * w / width }
            pixels.withUnsafeMutableBufferPointer { canvas in
                levels.withUnsafeBufferPointer { source in
                    for dy in 0..<height {
                        let sourceRow = (dy * h / height) * w
                        let destinationRow = (frame.y + dy) * canvasWidth + frame.x
                        if dy > 0 && sourceRow == ((dy - 1) * h / height) * w {
                            // An enlarged map repeats its rows: copy the row just drawn.
                            let previous = destinationRow - canvasWidth
                            for dx in 0..<width { canvas[destinationRow + dx] = canvas[previous + dx] }
                        } else if width == w {
                            for dx in 0..<width { canvas[destinationRow + dx] = source[sourceRow + dx] }
                        } else {
                            for dx in 0..<width { canvas[destinationRow + dx] = source[sourceRow + sourceColumn[dx]] }
                        }
                    }
                }
            }
            return
        }
        func spans(_ source: Int, _ display: Int) -> [Range<Int>] {
            (0..<display).map { d in
                let start = d * source / display
                return start..<max(start + 1, (d + 1) * source / display)
            }
        }
        let columns = spans(w, width)
        let rowSpans = spans(h, height)
        // Horizontal pass over every source row, then the vertical pass per display row.
        var rowSums = [UInt32](repeating: 0, count: h * width)
        levels.withUnsafeBufferPointer { source in
            rowSums.withUnsafeMutableBufferPointer { sums in
                for y in 0..<h {
                    for (dx, span) in columns.enumerated() {
                        var total: UInt32 = 0
                        for x in span { total += UInt32(source[y * w + x]) }
                        sums[y * width + dx] = total
                    }
                }
            }
        }
        pixels.withUnsafeMutableBufferPointer { canvas in
            rowSums.withUnsafeBufferPointer { sums in
                for (dy, rowSpan) in rowSpans.enumerated() {
                    let destinationRow = (frame.y + dy) * canvasWidth + frame.x
                    for (dx, span) in columns.enumerated() {
                        var total: UInt32 = 0
                        for y in rowSpan { total += sums[y * width + dx] }
                        let count = UInt32(span.count * rowSpan.count)
                        canvas[destinationRow + dx] = UInt8((total + count / 2) / count)
                    }
                }
            }
        }
    }
}
