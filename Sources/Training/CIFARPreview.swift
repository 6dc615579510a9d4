import ImageIO

extension Image {
    /// Draws a CIFAR image (3,072 CHW bytes) at (x, y) into this RGB image, each pixel a
    /// `scale` x `scale` block.
    mutating func drawCIFARImage(_ chw: ArraySlice<UInt8>, x: Int, y: Int, scale: Int) {
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
}

/// The notebook's first cell: a grid of the first training images with their class names.
package enum CIFARPreview {
    /// A `columns` x `rows` grid of the first images of `split`, each upscaled `scale` times
    /// (nearest neighbour, so the pixels stay visible), its class name printed underneath in
    /// capitals (ImageIO's `BitmapFont`, the explorer's font). An 8-bit RGB image on white.
    public static func grid(_ split: CIFARSplit, classNames: [String], columns: Int = 3, rows: Int = 3, scale: Int = 4) -> Image {
        let cell = CIFAR10.side * scale
        let textScale = max(1, scale / 2)
        let labelHeight = BitmapFont.height(scale: textScale) + 8
        let gap = 8
        let canvasWidth = gap + columns * (cell + gap)
        let canvasHeight = gap + rows * (cell + labelHeight + gap)
        var canvas = Image(width: canvasWidth, height: canvasHeight, channels: 3,
                           pixels: [UInt8](repeating: 255, count: canvasWidth * canvasHeight * 3))
        for index in 0 ..< min(columns * rows, split.count) {
            let x = gap + (index % columns) * (cell + gap)
            let y = gap + (index / columns) * (cell + labelHeight + gap)
            canvas.drawCIFARImage(split.image(index), x: x, y: y, scale: scale)
            let label = Int(split.labels[index])
            let name = label < classNames.count ? classNames[label] : "class \(label)"
            let caption = name.uppercased()
            let textX = x + max(0, (cell - BitmapFont.width(of: caption, scale: textScale)) / 2)
            canvas.drawText(caption, x: textX, y: y + cell + 5, scale: textScale, color: [0, 0, 0])
        }
        return canvas
    }
}
