import Foundation
import ImageIO

/// The drawing rules of the reports' SVG charts (curves, histograms): one place for the axes,
/// tick labels, axis titles and legends, so every chart reads the same when a browser or
/// `rsvg-convert` renders it.
///
/// Text sizes are fixed (12 px labels, 14 px titles) and margins are worked out from the text they
/// hold, using `textWidth`'s estimate, so labels are not clipped. Every user-supplied string
/// (layer and class names, paths) is escaped.
package enum SVGChart {
    /// One line of a line chart.
    struct Series {
        /// The legend's text.
        var label: String
        /// Stroke colour (CSS).
        var colour: String
        /// (x, y) points in data units, in x order.
        var points: [(Double, Double)]
    }

    /// The colours of the charts' series, colour-blind safe (Okabe-Ito).
    static let colours = (loss: "#D55E00", train: "#0072B2", validation: "#009E73", bars: "#56B4E9", barEdge: "#2b7bb9")

    /// The width in pixels of `text` set in a sans-serif face at `size` px: an estimate per
    /// character that errs wide against DejaVu Sans's advances (digits 0.64 em, capitals up to
    /// 0.99 em, `m` 0.97 em), so margins built on it are large enough for titles full of digits,
    /// capitals or other scripts (a flat 0.6 em clipped such titles).
    public static func textWidth(_ text: String, size: Double = 12) -> Double {
        var em = 0.0
        for c in text.unicodeScalars {
            let advance: Double = switch c {
            case "M", "W", "m", "%", "@": 1.0
            case "A" ... "Z", "w": 0.8
            case "0" ... "9", "a" ... "z", "#", "$", "&", "+", "<", "=", ">", "?", "_", "~": 0.65
            case " ", "!", "\"", "'", "(", ")", "*", ",", "-", ".", "/", ":", ";", "[", "\\", "]", "^", "`", "{", "|", "}": 0.42
            default: 1.0
            }
            em += advance
        }
        return em * size
    }

    /// `text` cut to `characters`, with an ellipsis when cut.
    static func truncated(_ text: String, to characters: Int) -> String {
        text.count <= characters ? text : String(text.prefix(max(characters - 1, 1))) + "…"
    }

    /// About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten),
    /// and the decimals their labels need.
    public static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> (values: [Double], decimals: Int) {
        guard lo.isFinite, hi.isFinite, hi > lo else { return ([lo], 2) }
        let raw = (hi - lo) / Double(max(count, 1))
        let power = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= raw * 0.999 } ?? 10 * power
        var values = [Double]()
        var v = (lo / step).rounded(.up) * step
        while v <= hi + step * 1e-9 {
            values.append(abs(v) < step * 1e-9 ? 0 : v)
            v += step
        }
        return (values, max(0, Int(-floor(log10(step) + 1e-9))))
    }

    /// Round ticks for [lo, hi] on an axis `pixels` long: as many as fit (up to `most`) with their
    /// labels at least 10 px apart.
    static func fittingTicks(_ lo: Double, _ hi: Double, pixels: Double, most: Int = 8) -> (values: [Double], decimals: Int) {
        var count = most
        while true {
            let t = ticks(lo, hi, count: count)
            let widest = t.values.map { textWidth(label($0, decimals: t.decimals)) }.max() ?? 0
            let spacing = t.values.count > 1 ? pixels * (t.values[1] - t.values[0]) / (hi - lo) : pixels
            if spacing >= widest + 10 || count <= 2 { return t }
            count -= 1
        }
    }

    /// `value` with `decimals` decimals.
    static func label(_ value: Double, decimals: Int) -> String { String(format: "%.\(decimals)f", value) }

    /// An `<svg>` element of `width` x `height` on white, scaling with the page (viewBox).
    static func document(width: Double, height: Double, _ content: String) -> String {
        let (w, h) = (Int(width.rounded(.up)), Int(height.rounded(.up)))
        return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(w)\" height=\"\(h)\" viewBox=\"0 0 \(w) \(h)\" font-family=\"DejaVu Sans, Verdana, sans-serif\" font-size=\"12\">"
            + "<rect width=\"\(w)\" height=\"\(h)\" fill=\"white\"/>" + content + "</svg>\n"
    }

    /// A `<text>` element holding `text`, escaped.
    static func text(_ text: String, x: Double, y: Double, anchor: String = "start", size: Double? = nil, fill: String? = nil, rotate: Double? = nil) -> String {
        var attributes = "x=\"\(f(x))\" y=\"\(f(y))\""
        if anchor != "start" { attributes += " text-anchor=\"\(anchor)\"" }
        if let size { attributes += " font-size=\"\(f(size))\"" }
        if let fill { attributes += " fill=\"\(fill)\"" }
        if let rotate { attributes += " transform=\"rotate(\(f(rotate)) \(f(x)) \(f(y)))\"" }
        return "<text \(attributes)>\(HTMLPage.escape(text))</text>"
    }

    /// A coordinate with one decimal.
    static func f(_ v: Double) -> String { String(format: "%.1f", v) }

    /// The frame of a plot: grid lines and tick labels on both axes, the axis titles, and the
    /// chart title above. Returns the SVG and the functions mapping data to pixels.
    static func axes(title: String, plot: (x: Double, y: Double, width: Double, height: Double),
                     xRange: (Double, Double), yRange: (Double, Double), xTitle: String, yTitle: String,
                     xTicks: (values: [Double], decimals: Int)? = nil, yTicks: (values: [Double], decimals: Int)? = nil,
                     yPercent: Bool = false) -> (svg: String, px: (Double) -> Double, py: (Double) -> Double) {
        let (x0, y0, w, h) = plot
        let px: (Double) -> Double = { x0 + ($0 - xRange.0) / max(xRange.1 - xRange.0, 1e-300) * w }
        let py: (Double) -> Double = { y0 + h - ($0 - yRange.0) / max(yRange.1 - yRange.0, 1e-300) * h }
        var s = text(title, x: x0, y: y0 - 12, size: 14)
        let xs = xTicks ?? fittingTicks(xRange.0, xRange.1, pixels: w)
        let ys = yTicks ?? ticks(yRange.0, yRange.1, count: max(2, Int(h / 45)))
        for v in ys.values {
            s += "<line x1=\"\(f(x0))\" x2=\"\(f(x0 + w))\" y1=\"\(f(py(v)))\" y2=\"\(f(py(v)))\" stroke=\"#e4e4e4\"/>"
            let tick = yPercent ? label(100 * v, decimals: max(ys.decimals - 2, 0)) + "%" : label(v, decimals: ys.decimals)
            s += text(tick, x: x0 - 6, y: py(v) + 4, anchor: "end")
        }
        for v in xs.values {
            s += "<line x1=\"\(f(px(v)))\" x2=\"\(f(px(v)))\" y1=\"\(f(y0))\" y2=\"\(f(y0 + h + 4))\" stroke=\"#e4e4e4\"/>"
            s += text(label(v, decimals: xs.decimals), x: px(v), y: y0 + h + 17, anchor: "middle")
        }
        s += "<rect x=\"\(f(x0))\" y=\"\(f(y0))\" width=\"\(f(w))\" height=\"\(f(h))\" fill=\"none\" stroke=\"#777\"/>"
        s += text(xTitle, x: x0 + w / 2, y: y0 + h + 36, anchor: "middle")
        let yLabelWidth = ys.values.map { textWidth(yPercent ? label(100 * $0, decimals: 0) + "%" : label($0, decimals: ys.decimals)) }.max() ?? 20
        let yTitleX = x0 - yLabelWidth - 18
        s += text(yTitle, x: yTitleX, y: y0 + h / 2, anchor: "middle", rotate: -90)
        return (s, px, py)
    }

    /// The space left of a plot that `axes` needs for y tick labels like `widestTick` and the y title.
    static func leftMargin(widestTick: String) -> Double { textWidth(widestTick) + 36 }

    /// A line chart panel at (`x`, `y`) of `width` x `height` (title, axes, lines, markers when
    /// the points are few, and a legend row under the x-axis title).
    static func linePanel(x: Double, y: Double, width: Double, height: Double, title: String,
                          xTitle: String, yTitle: String, xRange: (Double, Double), yRange: (Double, Double),
                          series: [Series], yPercent: Bool = false) -> String {
        let yTicks = ticks(yRange.0, yRange.1, count: 5)
        let widest = yTicks.values.map { yPercent ? label(100 * $0, decimals: 0) + "%" : label($0, decimals: yTicks.decimals) }.max { $0.count < $1.count } ?? "0.00"
        let left = leftMargin(widestTick: widest)
        let plot = (x: x + left, y: y + 30, width: width - left - 24, height: height - 30 - 70)
        var (s, px, py) = axes(title: title, plot: plot, xRange: xRange, yRange: yRange, xTitle: xTitle, yTitle: yTitle,
                               yTicks: yTicks, yPercent: yPercent)
        for line in series where !line.points.isEmpty {
            let path = line.points.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " ")
            s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(line.colour)\" stroke-width=\"2\" stroke-linejoin=\"round\"/>"
            if line.points.count <= 60 {
                for p in line.points { s += "<circle cx=\"\(f(px(p.0)))\" cy=\"\(f(py(p.1)))\" r=\"3\" fill=\"\(line.colour)\"/>" }
            }
        }
        // The legend sits under the plot, so it never covers a line.
        var lx = plot.x
        let ly = plot.y + plot.height + 56
        for line in series {
            s += "<line x1=\"\(f(lx))\" x2=\"\(f(lx + 22))\" y1=\"\(f(ly - 4))\" y2=\"\(f(ly - 4))\" stroke=\"\(line.colour)\" stroke-width=\"3\"/>"
            s += "<circle cx=\"\(f(lx + 11))\" cy=\"\(f(ly - 4))\" r=\"3\" fill=\"\(line.colour)\"/>"
            s += text(line.label, x: lx + 28, y: ly)
            lx += 28 + textWidth(line.label) + 18
        }
        return s
    }

    /// A histogram as a whole SVG document: `counts` in equal bins over [lo, hi], heights as the
    /// share of `total` values, with axes, titles, a legend line naming what is counted and
    /// `notes` as lines under it.
    public static func histogram(title: String, counts: [Int], lo: Double, hi: Double, total: Int, xTitle: String, yTitle: String = "share of values",
                                 legend: String, notes: [String] = [], width: Double = 360, height: Double? = nil) -> String {
        let height = height ?? 230 + 17 * Double(notes.count)
        let peak = Double(counts.max() ?? 0) / Double(max(total, 1))
        let yMax = peak > 0 ? peak * 1.1 : 1
        let yTicks = ticks(0, yMax, count: 4)
        let left = leftMargin(widestTick: label(100 * (yTicks.values.last ?? 1), decimals: max(yTicks.decimals - 2, 0)) + "%")
        let plot = (x: left, y: 30.0, width: width - left - 24, height: height - 30 - 66 - 17 * Double(notes.count))
        let titleRoom = Int((width - left - 10) / (14 * 0.6))
        var (s, px, py) = axes(title: truncated(title, to: titleRoom), plot: plot, xRange: (lo, hi), yRange: (0, yMax),
                               xTitle: xTitle, yTitle: yTitle, yTicks: yTicks, yPercent: true)
        let binWidth = (hi - lo) / Double(max(counts.count, 1))
        for (i, count) in counts.enumerated() where count > 0 {
            let a = px(lo + Double(i) * binWidth), b = px(lo + Double(i + 1) * binWidth)
            let top = py(Double(count) / Double(max(total, 1)))
            s += "<rect x=\"\(f(a))\" y=\"\(f(top))\" width=\"\(f(max(b - a, 0.5)))\" height=\"\(f(plot.y + plot.height - top))\" fill=\"\(colours.bars)\" stroke=\"\(colours.barEdge)\" stroke-width=\"0.5\"/>"
        }
        let legendY = plot.y + plot.height + 56
        s += "<rect x=\"\(f(plot.x))\" y=\"\(f(legendY - 10))\" width=\"12\" height=\"10\" fill=\"\(colours.bars)\" stroke=\"\(colours.barEdge)\"/>"
        s += text(truncated(legend, to: Int((width - plot.x - 20) / 7.2)), x: plot.x + 18, y: legendY)
        for (i, note) in notes.enumerated() {
            s += text(truncated(note, to: Int((width - plot.x) / 7.2)), x: plot.x, y: legendY + 17 * Double(i + 1))
        }
        return document(width: width, height: height, s)
    }
}
