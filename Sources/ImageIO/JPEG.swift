/// Decodes a JPEG held in memory to 8-bit RGB (filled in by the JPEG step).
func decodeJPEG(_ file: [UInt8], path: String, options: ImageReadOptions) throws(ImageIOError) -> Image {
    throw ImageIOError(path: path, reason: "JPEG reading is not available yet")
}
