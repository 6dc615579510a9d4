/// A grid of real values to be shown as colours (a heat map): `values[y * width + x]`, top row first.
///
/// Pure image operations, whatever the values mean: resize, scale to [0, 1], colour, and lay
/// over a photo (`Image.blended(with:opacity:)`).
public struct Heatmap: Sendable, Equatable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// `width * height` values, row-major.
    public var values: [Float]

    /// Wraps `values`; the sizes are the caller's contract, so a mismatch traps.
    public init(width: Int, height: Int, values: [Float]) {
        precondition(width > 0 && height > 0 && values.count == width * height,
                     "Heatmap: \(values.count) values for \(width)x\(height)")
        self.width = width
        self.height = height
        self.values = values
    }

    /// Bilinear resize with pixel centres aligned (OpenCV's INTER_LINEAR, PyTorch's
    /// `interpolate(mode: "bilinear", align_corners: False)`): output pixel x samples the input at
    /// (x + 0.5) * width / newWidth - 0.5, clamped to the edge pixels. Values stay within the
    /// input's range.
    public func resizedBilinear(width newWidth: Int, height newHeight: Int) -> Heatmap {
        precondition(newWidth > 0 && newHeight > 0, "resizedBilinear: \(newWidth)x\(newHeight)")
        let xs = Self.taps(from: width, to: newWidth), ys = Self.taps(from: height, to: newHeight)
        var out = [Float](repeating: 0, count: newWidth * newHeight)
        for (oy, ty) in ys.enumerated() {
            for (ox, tx) in xs.enumerated() {
                let top = values[ty.low * width + tx.low] * (1 - tx.weight) + values[ty.low * width + tx.high] * tx.weight
                let bottom = values[ty.high * width + tx.low] * (1 - tx.weight) + values[ty.high * width + tx.high] * tx.weight
                out[oy * newWidth + ox] = top * (1 - ty.weight) + bottom * ty.weight
            }
        }
        return Heatmap(width: newWidth, height: newHeight, values: out)
    }

    /// For each output index, the two input indices it falls between and the weight of the second.
    private static func taps(from n: Int, to m: Int) -> [(low: Int, high: Int, weight: Float)] {
        (0 ..< m).map { i in
            let source = min(max((Double(i) + 0.5) * Double(n) / Double(m) - 0.5, 0), Double(n - 1))
            let low = Int(source.rounded(.down))
            return (low, min(low + 1, n - 1), Float(source - Double(low)))
        }
    }

    /// The values scaled to [0, 1] by their minimum and maximum (a constant map becomes all 0).
    public func normalized() -> Heatmap {
        let low = values.min() ?? 0, high = values.max() ?? 0
        let span = high - low
        return Heatmap(width: width, height: height, values: values.map { span > 0 ? ($0 - low) / span : 0 })
    }

    /// An RGB image of the values (expected in [0, 1], clamped) through `colorMap`.
    public func colored(_ colorMap: ColorMap = .jet) -> Image {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for (i, value) in values.enumerated() {
            let (r, g, b) = colorMap.color(value)
            pixels[3 * i] = r; pixels[3 * i + 1] = g; pixels[3 * i + 2] = b
        }
        return Image(width: width, height: height, channels: 3, pixels: pixels)
    }
}

/// A map from [0, 1] to colours.
public enum ColorMap: Sendable {
    /// The jet map of MATLAB and OpenCV's COLORMAP_JET (as pytorch-grad-cam draws its maps):
    /// dark blue at 0, through cyan, yellow and orange, to dark red at 1. Each channel is
    /// clamp(1.5 - |4t - k|, 0, 1) with k = 3 (red), 2 (green), 1 (blue).
    case jet

    /// The 8-bit RGB colour of `t` (clamped to [0, 1]; NaN counts as 0).
    public func color(_ t: Float) -> (UInt8, UInt8, UInt8) {
        let t = t.isNaN ? 0 : min(max(t, 0), 1)
        func channel(_ k: Float) -> UInt8 { UInt8((min(max(1.5 - abs(4 * t - k), 0), 1) * 255).rounded()) }
        switch self {
        case .jet: return (channel(3), channel(2), channel(1))
        }
    }
}

extension Image {
    /// `overlay` laid over this image with opacity `opacity` in [0, 1]: each sample
    /// (1 - opacity) * self + opacity * overlay, rounded. The sizes must match; a gray image or
    /// overlay counts as RGB, and the result is RGB.
    public func blended(with overlay: Image, opacity: Float) -> Image {
        precondition(overlay.width == width && overlay.height == height,
                     "blended: overlay \(overlay.width)x\(overlay.height) on \(width)x\(height)")
        let a = min(max(opacity, 0), 1)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0 ..< width * height {
            for c in 0 ..< 3 {
                let base = Float(self.pixels[i * channels + (channels == 1 ? 0 : c)])
                let top = Float(overlay.pixels[i * overlay.channels + (overlay.channels == 1 ? 0 : c)])
                pixels[i * 3 + c] = UInt8(min(max(((1 - a) * base + a * top).rounded(), 0), 255))
            }
        }
        return Image(width: width, height: height, channels: 3, pixels: pixels)
    }
}
