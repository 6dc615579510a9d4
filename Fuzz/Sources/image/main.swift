import FuzzSupport
@testable import ImageIO

/// One input: the bytes of a file given to `readImage`. Every outcome but a crash is fine; the
/// pixel limit is lowered so a header claiming a huge image is refused rather than allocated.
fuzzMain { data, size in
    var options = ImageReadOptions()
    options.maxPixels = 2048 * 2048
    if let image = try? decodeImage(fuzzBytes(data, size), path: "fuzz", options: options) {
        precondition(image.width > 0 && image.height > 0 && image.pixels.count == image.width * image.height * 3)
    }
    return 0
}
