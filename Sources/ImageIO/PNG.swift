import CLibPNG
import CPNGShim

/// The 8-byte PNG signature.
let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

/// Colour-space chunks. The simplified API would use them to convert samples (gAMA 1.0, common in
/// PngSuite, brightens an image a lot); we keep the stored values, as Pillow, OpenCV and scikit-image do.
private let colorSpaceChunks: Set<UInt32> = ["gAMA", "cHRM", "sRGB", "iCCP", "cICP", "mDCV", "cLLI"].map { name in
    name.utf8.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
}.reduce(into: Set<UInt32>()) { $0.insert($1) }

/// The byte ranges of the PNG stream that remain once its colour-space chunks are removed. Whole
/// chunks (length, type, data, CRC) are dropped, so the other chunks' CRCs stay valid. Only chunks before
/// the first IDAT are looked at (the spec puts colour-space chunks there); anything malformed is passed
/// through for libpng to report.
func rangesWithoutColorSpaceChunks(_ png: [UInt8]) -> [Range<Int>] {
    var kept: [Range<Int>] = []
    var offset = 8
    var keptFrom = 0
    while offset + 8 <= png.count {
        let length = Int(png[offset]) << 24 | Int(png[offset + 1]) << 16 | Int(png[offset + 2]) << 8 | Int(png[offset + 3])
        let type = UInt32(png[offset + 4]) << 24 | UInt32(png[offset + 5]) << 16 | UInt32(png[offset + 6]) << 8 | UInt32(png[offset + 7])
        let end = offset + 12 + length
        if length > 0x7FFF_FFFF || end > png.count || type == 0x4944_4154 /* IDAT */ { break }
        if colorSpaceChunks.contains(type) {
            kept.append(keptFrom..<offset)
            keptFrom = end
        }
        offset = end
    }
    kept.append(keptFrom..<png.count)
    return kept
}

/// The text libpng left in `image.message`.
private func pngMessage(_ image: inout png_image) -> String {
    let text = withUnsafeBytes(of: &image.message) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    return text.isEmpty ? "libpng failed without a message" : text
}

/// Decodes a PNG held in memory to 8-bit RGB.
///
/// 8-bit and smaller files are read as 8-bit RGB(A) (bit depths below 8 scaled up by bit replication,
/// palettes and tRNS expanded). 16-bit files are read as 16-bit, with the stored values unchanged
/// because the colour-space chunks are gone and libpng then treats 16-bit data as linear in and out;
/// they are composited at 16 bits and reduced to 8 bits by keeping the high byte (v >> 8), as Pillow does.
/// Alpha is composited onto `options.background`, in stored (not linear) values.
func decodePNG(_ file: [UInt8], path: String, options: ImageReadOptions) throws(ImageIOError) -> Image {
    // libpng keeps reading from this memory until png_image_finish_read, so it must be memory we own
    // (a pointer escaping withUnsafeBytes is not guaranteed to stay valid).
    let ranges = rangesWithoutColorSpaceChunks(file)
    let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: ranges.reduce(0) { $0 + $1.count }, alignment: 1)
    defer { memory.deallocate() }
    var filled = 0
    file.withUnsafeBytes { source in
        for range in ranges {
            UnsafeMutableRawBufferPointer(rebasing: memory[filled..<(filled + range.count)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[range]))
            filled += range.count
        }
    }

    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    defer { png_image_free(&image) }  // declared after `memory`, so it runs before the memory is freed

    let began = png_image_begin_read_from_memory(&image, memory.baseAddress, memory.count)
    if began == 0 { throw ImageIOError(path: path, reason: "corrupt or truncated PNG: \(pngMessage(&image))") }

    let width = Int(image.width), height = Int(image.height)
    try checkPixelLimit(width: width, height: height, options: options, path: path)

    let hasAlpha = image.format & PNG_FORMAT_FLAG_ALPHA != 0
    let isSixteenBit = image.format & PNG_FORMAT_FLAG_LINEAR != 0
    let count = width * height
    let bg = options.background

    if !isSixteenBit {
        image.format = PNG_FORMAT_FLAG_COLOR | (hasAlpha ? PNG_FORMAT_FLAG_ALPHA : 0)
        var buffer = [UInt8](repeating: 0, count: count * (hasAlpha ? 4 : 3))
        let ok = buffer.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        if ok == 0 { throw ImageIOError(path: path, reason: "corrupt or truncated PNG: \(pngMessage(&image))") }
        if !hasAlpha { return Image(width: width, height: height, channels: 3, pixels: buffer) }
        var rgb = [UInt8](repeating: 0, count: count * 3)
        let background = [Int(bg.red), Int(bg.green), Int(bg.blue)]
        for i in 0..<count {
            let alpha = Int(buffer[4 * i + 3])
            for c in 0..<3 {
                // round((v a + bg (255 - a)) / 255); the numerator is never k*255 + 127.5, so no ties.
                rgb[3 * i + c] = UInt8((Int(buffer[4 * i + c]) * alpha + background[c] * (255 - alpha) + 127) / 255)
            }
        }
        return Image(width: width, height: height, channels: 3, pixels: rgb)
    }

    // 16-bit: linear output, which the simplified API premultiplies by alpha (associated alpha).
    image.format = PNG_FORMAT_FLAG_LINEAR | PNG_FORMAT_FLAG_COLOR | (hasAlpha ? PNG_FORMAT_FLAG_ALPHA : 0)
    let stride = hasAlpha ? 4 : 3
    var buffer = [UInt16](repeating: 0, count: count * stride)
    let ok = buffer.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
    if ok == 0 { throw ImageIOError(path: path, reason: "corrupt or truncated PNG: \(pngMessage(&image))") }
    var rgb = [UInt8](repeating: 0, count: count * 3)
    let background = [Int(bg.red) * 257, Int(bg.green) * 257, Int(bg.blue) * 257]
    for i in 0..<count {
        if hasAlpha {
            let alpha = Int(buffer[4 * i + 3])
            for c in 0..<3 {
                // The sample is already v * a / 65535; add the background's share, then keep the high byte.
                let composited = Int(buffer[4 * i + c]) + (background[c] * (65535 - alpha) + 32767) / 65535
                rgb[3 * i + c] = UInt8(min(composited, 65535) >> 8)
            }
        } else {
            for c in 0..<3 { rgb[3 * i + c] = UInt8(buffer[3 * i + c] >> 8) }
        }
    }
    return Image(width: width, height: height, channels: 3, pixels: rgb)
}

/// Encodes an 8-bit gray or RGB image as PNG bytes with libpng's simplified writer.
func encodePNG(_ image: Image, path: String, compression: PNGCompression) throws(ImageIOError) -> [UInt8] {
    guard image.width > 0, image.height > 0 else {
        throw ImageIOError(path: path, reason: "cannot write an empty \(image.width)x\(image.height) image")
    }
    guard image.width <= 0x7FFF_FFFF / max(image.channels, 1), image.height <= 0x7FFF_FFFF else {
        throw ImageIOError(path: path, reason: "image \(image.width)x\(image.height) is too large for PNG")
    }
    if compression == .fastest { return try encodePNGRunLength(image, path: path) }
    var png = png_image()
    png.version = UInt32(PNG_IMAGE_VERSION)
    png.width = UInt32(image.width)
    png.height = UInt32(image.height)
    png.format = image.channels == 3 ? PNG_FORMAT_FLAG_COLOR : 0
    png.flags = compression == .fast ? UInt32(PNG_IMAGE_FLAG_FAST) : 0
    defer { png_image_free(&png) }

    // Worst case of zlib's stored blocks over the filtered rows (one filter byte per row), plus chunk overhead.
    let raw = image.pixels.count + image.height
    var capacity = raw + (raw + 7) / 8 + (raw + 63) / 64 + 11 + 4096
    var bytes = [UInt8](repeating: 0, count: capacity)
    let ok = image.pixels.withUnsafeBytes { pixels in
        bytes.withUnsafeMutableBytes { out in
            png_image_write_to_memory(&png, out.baseAddress, &capacity, 0, pixels.baseAddress, 0, nil)
        }
    }
    if ok == 0 { throw ImageIOError(path: path, reason: "cannot encode PNG: \(pngMessage(&png))") }
    bytes.removeSubrange(capacity...)
    return bytes
}

/// `PNGCompression.fastest`: Up filter, zlib's Z_RLE, through the C shim (libpng's full API).
private func encodePNGRunLength(_ image: Image, path: String) throws(ImageIOError) -> [UInt8] {
    var message = [CChar](repeating: 0, count: Int(FM_PNG_MESSAGE_SIZE))
    var buffer: UnsafeMutablePointer<UInt8>?
    var size = 0
    let status = image.pixels.withUnsafeBufferPointer { pixels in
        fm_png_encode(pixels.baseAddress, Int32(image.width), Int32(image.height), Int32(image.channels),
                      Int32(PNG_FILTER_UP), 1, FM_PNG_STRATEGY_RLE, &buffer, &size, &message)
    }
    defer { fm_png_free(buffer) }
    guard status == 0, let buffer else {
        let reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw ImageIOError(path: path, reason: "cannot encode PNG: \(reason)")
    }
    return Array(UnsafeBufferPointer(start: buffer, count: size))
}
