import CJPEGShim

/// Runs a shim call that fills a FM_JPEG_MESSAGE_SIZE message buffer on failure.
private func jpegCall(path: String, what: String,
                      _ body: (UnsafeMutablePointer<CChar>) -> Int32) throws(ImageIOError) {
    var message = [CChar](repeating: 0, count: Int(FM_JPEG_MESSAGE_SIZE) + 1)
    let status = message.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
    if status != 0 {
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw ImageIOError(path: path, reason: "\(what): \(text.isEmpty ? "libjpeg failed without a message" : text)")
    }
}

/// Decodes a JPEG held in memory to 8-bit RGB with libjpeg-turbo (through the CJPEGShim C target, which
/// keeps libjpeg's longjmp error handling away from Swift). Gray JPEGs are expanded to RGB; CMYK and
/// YCCK are converted with R = (1 - C)(1 - K) etc. (Adobe's inverted storage detected by its marker),
/// as Pillow does. A file that ends early is an error. The header is read first, so images above the
/// pixel limit are refused before the pixel buffer is allocated.
func decodeJPEG(_ file: [UInt8], path: String, options: ImageReadOptions) throws(ImageIOError) -> Image {
    var info = fm_jpeg_info()
    try file.withUnsafeBufferPointer { (bytes) throws(ImageIOError) in
        try jpegCall(path: path, what: "corrupt or truncated JPEG") { fm_jpeg_read_info(bytes.baseAddress, bytes.count, &info, $0) }
    }
    let width = Int(info.width), height = Int(info.height)
    try checkPixelLimit(width: width, height: height, options: options, path: path)
    var rgb = [UInt8](repeating: 0, count: width * height * 3)
    try file.withUnsafeBufferPointer { (bytes) throws(ImageIOError) in
        try rgb.withUnsafeMutableBufferPointer { (out) throws(ImageIOError) in
            try jpegCall(path: path, what: "corrupt or truncated JPEG") {
                fm_jpeg_decode_rgb(bytes.baseAddress, bytes.count, out.baseAddress, out.count, $0)
            }
        }
    }
    return Image(width: width, height: height, channels: 3, pixels: rgb)
}
