/// An RGB picture under construction (8 bits per channel, interleaved, row-major), with just
/// what the CIFAR preview needs: filled rectangles, upscaled images and 5x7 bitmap text.
///
/// The explorer (FeatureMaps) has its own font for grid labels; Training cannot depend on
/// FeatureMaps, so this small one is kept here (noted in the report as known duplication).
public struct RGBCanvas: Sendable {
    /// Width in pixels.
    public let width: Int
    /// Height in pixels.
    public let height: Int
    /// `width * height * 3` bytes, RGB interleaved.
    public var pixels: [UInt8]

    /// A canvas filled with `background`.
    public init(width: Int, height: Int, background: (UInt8, UInt8, UInt8) = (255, 255, 255)) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        fill(x: 0, y: 0, width: width, height: height, colour: background)
    }

    /// Paints a rectangle (clipped to the canvas).
    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, colour: (UInt8, UInt8, UInt8)) {
        for yy in max(y, 0) ..< min(y + h, height) {
            for xx in max(x, 0) ..< min(x + w, width) {
                let o = (yy * width + xx) * 3
                pixels[o] = colour.0; pixels[o + 1] = colour.1; pixels[o + 2] = colour.2
            }
        }
    }

    /// Draws a CIFAR image (3,072 CHW bytes) at (x, y), each pixel a `scale` x `scale` block.
    public mutating func drawCIFARImage(_ chw: ArraySlice<UInt8>, x: Int, y: Int, scale: Int) {
        let side = CIFAR10.side, plane = side * side
        let base = chw.startIndex
        for sy in 0 ..< side * scale {
            for sx in 0 ..< side * scale {
                let (cx, cy) = (x + sx, y + sy)
                guard cx >= 0, cx < width, cy >= 0, cy < height else { continue }
                let i = (sy / scale) * side + sx / scale
                let o = (cy * width + cx) * 3
                for c in 0 ..< 3 { pixels[o + c] = chw[base + c * plane + i] }
            }
        }
    }

    /// The width in pixels of `text` drawn at `scale`.
    public static func textWidth(_ text: String, scale: Int) -> Int {
        max(0, text.count * 6 * scale - scale)
    }

    /// Draws `text` (shown in capitals; unknown characters as a box) with its top-left corner at
    /// (x, y), each font pixel a `scale` x `scale` block.
    public mutating func drawText(_ text: String, x: Int, y: Int, scale: Int, colour: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        for (index, character) in text.uppercased().enumerated() {
            let rows = BitmapFont.glyph(character)
            for (row, bits) in rows.enumerated() {
                for column in 0 ..< 5 where bits & (1 << (4 - column)) != 0 {
                    fill(x: x + (index * 6 + column) * scale, y: y + row * scale, width: scale, height: scale, colour: colour)
                }
            }
        }
    }
}

/// A 5x7 capital-letter bitmap font: each glyph is seven rows of five bits, the left pixel
/// in bit 4.
enum BitmapFont {
    static func glyph(_ c: Character) -> [UInt8] {
        if c == " " { return [0, 0, 0, 0, 0, 0, 0] }
        return glyphs[c] ?? [0b11111, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11111]
    }

    private static let glyphs: [Character: [UInt8]] = {
        let table: [(Character, String)] = [
            ("A", "01110 10001 10001 11111 10001 10001 10001"), ("B", "11110 10001 10001 11110 10001 10001 11110"),
            ("C", "01110 10001 10000 10000 10000 10001 01110"), ("D", "11110 10001 10001 10001 10001 10001 11110"),
            ("E", "11111 10000 10000 11110 10000 10000 11111"), ("F", "11111 10000 10000 11110 10000 10000 10000"),
            ("G", "01110 10001 10000 10111 10001 10001 01111"), ("H", "10001 10001 10001 11111 10001 10001 10001"),
            ("I", "01110 00100 00100 00100 00100 00100 01110"), ("J", "00111 00010 00010 00010 00010 10010 01100"),
            ("K", "10001 10010 10100 11000 10100 10010 10001"), ("L", "10000 10000 10000 10000 10000 10000 11111"),
            ("M", "10001 11011 10101 10101 10001 10001 10001"), ("N", "10001 10001 11001 10101 10011 10001 10001"),
            ("O", "01110 10001 10001 10001 10001 10001 01110"), ("P", "11110 10001 10001 11110 10000 10000 10000"),
            ("Q", "01110 10001 10001 10001 10101 10010 01101"), ("R", "11110 10001 10001 11110 10100 10010 10001"),
            ("S", "01111 10000 10000 01110 00001 00001 11110"), ("T", "11111 00100 00100 00100 00100 00100 00100"),
            ("U", "10001 10001 10001 10001 10001 10001 01110"), ("V", "10001 10001 10001 10001 10001 01010 00100"),
            ("W", "10001 10001 10001 10101 10101 10101 01010"), ("X", "10001 10001 01010 00100 01010 10001 10001"),
            ("Y", "10001 10001 10001 01010 00100 00100 00100"), ("Z", "11111 00001 00010 00100 01000 10000 11111"),
            ("0", "01110 10001 10011 10101 11001 10001 01110"), ("1", "00100 01100 00100 00100 00100 00100 01110"),
            ("2", "01110 10001 00001 00010 00100 01000 11111"), ("3", "11111 00010 00100 00010 00001 10001 01110"),
            ("4", "00010 00110 01010 10010 11111 00010 00010"), ("5", "11111 10000 11110 00001 00001 10001 01110"),
            ("6", "00110 01000 10000 11110 10001 10001 01110"), ("7", "11111 00001 00010 00100 01000 01000 01000"),
            ("8", "01110 10001 10001 01110 10001 10001 01110"), ("9", "01110 10001 10001 01111 00001 00010 01100"),
            (".", "00000 00000 00000 00000 00000 01100 01100"), ("%", "11000 11001 00010 00100 01000 10011 00011"),
            ("-", "00000 00000 00000 11111 00000 00000 00000"), (":", "00000 01100 01100 00000 01100 01100 00000"),
            ("_", "00000 00000 00000 00000 00000 00000 11111"), ("/", "00000 00001 00010 00100 01000 10000 00000"),
        ]
        var out = [Character: [UInt8]]()
        for (c, rows) in table {
            out[c] = rows.split(separator: " ").map { UInt8($0, radix: 2) ?? 0 }
        }
        return out
    }()
}

/// The notebook's first cell: a grid of the first training images with their class names.
public enum CIFARPreview {
    /// A `columns` x `rows` grid of the first images of `split`, each upscaled `scale` times
    /// (nearest neighbour, so the pixels stay visible), its class name printed underneath.
    public static func grid(_ split: CIFARSplit, classNames: [String], columns: Int = 3, rows: Int = 3, scale: Int = 4) -> RGBCanvas {
        let cell = CIFAR10.side * scale
        let textScale = max(1, scale / 2)
        let labelHeight = 7 * textScale + 8
        let gap = 8
        let canvasWidth = gap + columns * (cell + gap)
        let canvasHeight = gap + rows * (cell + labelHeight + gap)
        var canvas = RGBCanvas(width: canvasWidth, height: canvasHeight)
        for index in 0 ..< min(columns * rows, split.count) {
            let x = gap + (index % columns) * (cell + gap)
            let y = gap + (index / columns) * (cell + labelHeight + gap)
            canvas.drawCIFARImage(split.image(index), x: x, y: y, scale: scale)
            let label = Int(split.labels[index])
            let name = label < classNames.count ? classNames[label] : "class \(label)"
            let textX = x + max(0, (cell - RGBCanvas.textWidth(name, scale: textScale)) / 2)
            canvas.drawText(name, x: textX, y: y + cell + 5, scale: textScale)
        }
        return canvas
    }
}
