import ImageIO

/// An RGB picture under construction (8 bits per channel, interleaved, row-major), with just
/// what the CIFAR preview needs: filled rectangles, upscaled images and 5x7 bitmap text
/// (ImageIO's `BitmapFont`, the same font as the explorer's grid labels).
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
        BitmapFont.width(of: text, scale: scale)
    }

    /// Draws `text` (shown in capitals; unknown characters as a box) with its top-left corner at
    /// (x, y), each font pixel a `scale` x `scale` block.
    public mutating func drawText(_ text: String, x: Int, y: Int, scale: Int, colour: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
        BitmapFont.draw(text.uppercased(), into: &pixels, width: width, height: height,
                        x: x, y: y, scale: scale, color: [colour.0, colour.1, colour.2])
    }
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
