/// An 8-bit image, interleaved, row-major: pixel (x, y) channel c is `pixels[(y * width + x) * channels + c]`.
/// `channels` is 1 (gray) or 3 (RGB).
public struct Image: Sendable, Equatable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// Samples per pixel: 1 (gray) or 3 (RGB).
    public let channels: Int
    /// `width * height * channels` bytes, interleaved, top row first.
    public var pixels: [UInt8]

    /// Wraps existing interleaved pixels. The sizes are the caller's contract, not user data, so a mismatch traps.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "Image: negative size \(width)x\(height)")
        precondition(channels == 1 || channels == 3, "Image: channels must be 1 or 3, got \(channels)")
        precondition(pixels.count == width * height * channels,
                     "Image: \(pixels.count) bytes for \(width)x\(height)x\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }
}

/// A colour used where a transparent pixel has to become opaque.
public typealias BackgroundColor = (red: UInt8, green: UInt8, blue: UInt8)

/// Options for `readImage`.
public struct ImageReadOptions: Sendable {
    /// Images with more pixels (width * height) than this are refused after the header is read,
    /// before any pixel memory is allocated. Default 100 megapixels.
    public var maxPixels: Int = 100_000_000
    /// The colour transparent pixels are composited onto (in stored sRGB values). Default white,
    /// as browsers and image viewers show transparency on a page.
    public var background: BackgroundColor = (255, 255, 255)
    /// The caller's own test of the header's width and height, made after `maxPixels` and before
    /// any pixel memory is allocated: a reason to refuse the image (it becomes the error's reason),
    /// or nil to go on. The explorer refuses images whose maps would not fit in memory this way.
    public var admitSize: (@Sendable (_ width: Int, _ height: Int) -> String?)?

    /// The defaults: 100-megapixel limit, white background.
    public init() {}
}

/// A failure to read or write an image: which file, and why, as one line.
public struct ImageIOError: Error, CustomStringConvertible, Equatable {
    /// The path as the caller gave it.
    public let path: String
    /// What went wrong, in words meant for the user (no trailing period, no newline).
    public let reason: String

    /// Makes an error; newlines in `reason` (from library messages) are folded so the description stays one line.
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// `"<path>: <reason>"`.
    public var description: String { "\(path): \(reason)" }
}

extension Image {
    /// scikit-image's `rgb2gray`: Y = 0.2125 R + 0.7154 G + 0.0721 B on values scaled to [0, 1];
    /// `height * width` floats, row-major. A gray image gives its values scaled to [0, 1].
    public func grayscale() -> [Float] {
        let count = width * height
        if channels == 1 { return pixels.map { Float($0) / 255 } }
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            pixels.withUnsafeBufferPointer { rgb in
                for i in 0..<count {
                    // Double, as NumPy computes it, then one rounding to Float.
                    let r = Double(rgb[3 * i]) / 255, g = Double(rgb[3 * i + 1]) / 255, b = Double(rgb[3 * i + 2]) / 255
                    out[i] = Float(0.2125 * r + 0.7154 * g + 0.0721 * b)
                }
            }
            initialized = count
        }
    }

    /// `channels * height * width` floats in [0, 1] (value / 255), planar (CHW) order, as tensors want them.
    public func planarFloats() -> [Float] {
        let plane = width * height
        return [Float](unsafeUninitializedCapacity: plane * channels) { out, initialized in
            pixels.withUnsafeBufferPointer { src in
                for c in 0..<channels {
                    for i in 0..<plane { out[c * plane + i] = Float(src[i * channels + c]) / 255 }
                }
            }
            initialized = plane * channels
        }
    }

    /// Builds an 8-bit image from planar (CHW) floats in [0, 1]: each value is clamped to [0, 1]
    /// (NaN becomes 0), multiplied by 255 and rounded to nearest. `channels` is 1 or 3.
    public init(planarFloats: [Float], width: Int, height: Int, channels: Int) {
        precondition(planarFloats.count == width * height * channels,
                     "Image(planarFloats:): \(planarFloats.count) floats for \(channels)x\(height)x\(width)")
        let plane = width * height
        var pixels = [UInt8](repeating: 0, count: plane * channels)
        for c in 0..<channels {
            for i in 0..<plane {
                let v = planarFloats[c * plane + i]
                let clamped = v.isNaN ? 0 : min(max(v, 0), 1)
                pixels[i * channels + c] = UInt8((clamped * 255).rounded())
            }
        }
        self.init(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// Area-averaged resize: each output pixel is the mean of the input area it covers, with pixels that
    /// are only partly covered weighted by the covered fraction; the mean is rounded to nearest.
    /// Works for shrinking (the intended use, e.g. photos to 32x32, the explorer's thumbnails) and
    /// enlarging. Sizes must be positive.
    public func resizedByAreaAveraging(width newWidth: Int, height newHeight: Int) -> Image {
        precondition(newWidth > 0 && newHeight > 0 && width > 0 && height > 0,
                     "resizedByAreaAveraging: \(width)x\(height) -> \(newWidth)x\(newHeight)")
        let xTaps = AreaTaps(from: width, to: newWidth)
        let yTaps = AreaTaps(from: height, to: newHeight)
        let (channels, width) = (self.channels, self.width)
        // Separable: the area of a product of intervals is the product of their lengths. Horizontal
        // pass into Double rows, then vertical; the flat tap tables and buffer pointers keep the
        // loops free of reference counting (a thumbnail of every figure makes this a hot loop).
        var rows = [Double](repeating: 0, count: height * newWidth * channels)
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * channels)
        pixels.withUnsafeBufferPointer { source in
        rows.withUnsafeMutableBufferPointer { rows in
        xTaps.withBuffers { starts, indices, weights in
            for y in 0..<height {
                let sourceRow = y * width * channels, rowStart = y * newWidth * channels
                for ox in 0..<newWidth {
                    for c in 0..<channels {
                        var sum = 0.0
                        for t in starts[ox]..<starts[ox + 1] { sum += weights[t] * Double(source[sourceRow + indices[t] * channels + c]) }
                        rows[rowStart + ox * channels + c] = sum
                    }
                }
            }
        }}}
        rows.withUnsafeBufferPointer { rows in
        out.withUnsafeMutableBufferPointer { out in
        yTaps.withBuffers { starts, indices, weights in
            let rowLength = newWidth * channels
            for oy in 0..<newHeight {
                for i in 0..<rowLength {
                    var sum = 0.0
                    for t in starts[oy]..<starts[oy + 1] { sum += weights[t] * rows[indices[t] * rowLength + i] }
                    out[oy * rowLength + i] = UInt8(min(max(Self.roundedHalfUp(sum), 0), 255))
                }
            }
        }}}
        return Image(width: newWidth, height: newHeight, channels: channels, pixels: out)
    }

    /// `x.rounded()` (half away from zero) for x >= 0 without a libm call: x - floor(x) is exact.
    @inline(__always)
    private static func roundedHalfUp(_ x: Double) -> Double {
        let whole = x.rounded(.down)
        return x - whole >= 0.5 ? whole + 1 : whole
    }
}

/// For each output index of a 1-D area resize, the input indices it overlaps and their weights
/// (overlap / span, summing to 1), in flat arrays: output i's taps are `starts[i]..<starts[i + 1]`.
/// Output i spans [i * n / m, (i + 1) * n / m) in input coordinates; exact rationals avoid drift.
private struct AreaTaps {
    var indices: [Int] = []
    var weights: [Double] = []
    var starts: [Int] = [0]

    init(from n: Int, to m: Int) {
        for i in 0..<m {
            // In units of 1/m input pixels the span is [i*n, (i+1)*n), and input pixel j is [j*m, (j+1)*m).
            let start = i * n, end = (i + 1) * n
            for j in (start / m)...min((end - 1) / m, n - 1) {
                let overlap = min(end, (j + 1) * m) - max(start, j * m)
                if overlap > 0 {
                    indices.append(j)
                    weights.append(Double(overlap) / Double(n))
                }
            }
            starts.append(indices.count)
        }
    }

    /// The three tables as buffer pointers, for the resize's inner loops.
    func withBuffers(_ body: (UnsafeBufferPointer<Int>, UnsafeBufferPointer<Int>, UnsafeBufferPointer<Double>) -> Void) {
        starts.withUnsafeBufferPointer { s in indices.withUnsafeBufferPointer { i in weights.withUnsafeBufferPointer { w in body(s, i, w) } } }
    }
}
