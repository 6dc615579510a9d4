/// Refuses images above the pixel limit; called with the header's size before pixel memory is allocated.
func checkPixelLimit(width: Int, height: Int, options: ImageReadOptions, path: String) throws(ImageIOError) {
    let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
    if overflow || pixels > options.maxPixels {
        throw ImageIOError(path: path, reason: "image is \(width)x\(height) pixels, above the limit of \(options.maxPixels) pixels (maxPixels)")
    }
    if width <= 0 || height <= 0 {
        throw ImageIOError(path: path, reason: "image has no pixels (\(width)x\(height))")
    }
    if let reason = options.admitSize?(width, height) { throw ImageIOError(path: path, reason: reason) }
}

/// Reads a PNG or JPEG (recognised by its signature, not its extension) as 8-bit RGB (3 channels).
///
/// Gray images are expanded to RGB; alpha is composited onto `options.background`; 16-bit PNG samples
/// become their high byte; colour-space chunks (gAMA, iCCP, ...) and EXIF orientation are ignored, so the
/// result is the stored values, as Pillow gives them. Images above `options.maxPixels` are refused from
/// their header. Every failure is one `ImageIOError` naming the file and the reason. See Docs/IMAGEIO.md.
///
/// - Parameters:
///   - path: The file to read; its first bytes, not its name, decide the format.
///   - options: The pixel limit and the background that transparency is composited onto.
/// - Returns: The image as 8-bit RGB, interleaved, row-major.
/// - Throws: `ImageIOError` naming `path` when the file cannot be read, is not a PNG or JPEG, is
///   above the pixel limit, or is corrupt or truncated.
public func readImage(atPath path: String, options: ImageReadOptions = .init()) throws(ImageIOError) -> Image {
    // No PNG or JPEG of an allowed size is bigger than 8 bytes a pixel (16-bit RGBA, stored uncompressed)
    // plus room for metadata; larger files are refused without being read.
    let maxBytes = options.maxPixels.multipliedReportingOverflow(by: 8).overflow
        ? Int.max : options.maxPixels * 8 + 64 << 20
    // The signature is checked before a large file is read whole, so a non-image says so.
    let bytes = try readFileBytes(atPath: path, maxBytes: maxBytes) { (head: [UInt8]) throws(ImageIOError) in
        if ImageFormat(signature: head) == nil { throw unrecognisedSignature(path) }
    }
    return try decodeImage(bytes, path: path, options: options)
}

/// Decodes a PNG or JPEG held in memory, recognised by its signature; `path` names it in errors.
/// `readImage(atPath:)` without the file, so the fuzz target (Fuzz/) can feed it bytes.
func decodeImage(_ bytes: [UInt8], path: String, options: ImageReadOptions) throws(ImageIOError) -> Image {
    switch ImageFormat(signature: Array(bytes.prefix(8))) {
    case .png: return try decodePNG(bytes, path: path, options: options)
    case .jpeg: return try decodeJPEG(bytes, path: path, options: options)
    case nil: throw unrecognisedSignature(path)
    }
}

private func unrecognisedSignature(_ path: String) -> ImageIOError {
    ImageIOError(path: path, reason: "not a PNG or JPEG image (unrecognised file signature)")
}

/// Writes an 8-bit gray (1 channel) or RGB (3 channels) PNG atomically: a temporary file in the same
/// folder, renamed into place; on failure the temporary file is removed and nothing is left at `path`.
/// Uses `.fast` compression.
///
/// - Parameters:
///   - image: The image, gray or RGB.
///   - path: The file to write; an existing file is replaced only once the new one is complete.
/// - Throws: `ImageIOError` naming `path` when the file cannot be written.
public func writePNG(_ image: Image, toPath path: String) throws(ImageIOError) {
    try writePNG(image, toPath: path, compression: .fast)
}

/// `writePNG(_:toPath:)` with a choice of speed against file size.
///
/// - Parameters:
///   - image: The image, gray or RGB.
///   - path: The file to write, atomically.
///   - compression: `.fast` (what `writePNG(_:toPath:)` uses), `.small` or `.fastest`; see
///     `PNGCompression` for what each costs.
/// - Throws: `ImageIOError` naming `path` when the file cannot be written.
public func writePNG(_ image: Image, toPath path: String, compression: PNGCompression) throws(ImageIOError) {
    let bytes = try encodePNG(image, path: path, compression: compression)
    try AtomicFile.write(bytes, toPath: path)
}

/// How hard the PNG writer compresses (libpng's simplified API offers these two settings).
public enum PNGCompression: Sendable, Equatable {
    /// libpng's PNG_IMAGE_FLAG_FAST: no row filters, zlib level 3. About 10x faster than `.small` on
    /// photos, files about 40% larger (Docs/IMAGEIO.md): the default, since a batch writes many PNGs.
    case fast
    /// libpng's defaults: adaptive row filters, zlib's default level. Smallest files.
    case small
    /// The Up row filter with zlib's run-length strategy, through libpng's full write API (a C shim
    /// keeps its longjmp errors in C). On feature-map figures about twice as fast as `fast` with
    /// smaller files (Benchmarks/png_deflate_settings.py, Docs/EXPLORER.md); the explorer's figures.
    case fastest
}

/// The formats `readImage` understands.
public enum ImageFormat: Sendable, Equatable {
    /// PNG, signature 89 50 4E 47 0D 0A 1A 0A.
    case png
    /// JPEG (JFIF, Exif, Adobe), signature FF D8 FF.
    case jpeg

    /// The format whose signature starts `bytes`, or nil.
    public init?(signature bytes: [UInt8]) {
        if bytes.starts(with: pngSignature) { self = .png }
        else if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { self = .jpeg }
        else { return nil }
    }
}
