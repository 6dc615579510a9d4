import Foundation
import ImageIO
import Testing

/// The code of Sources/ImageIO/ImageIO.docc/GettingStarted.md, run as written
/// (`DocumentationExampleTests` checks that the article still shows this code).
@Suite struct ImageIOGettingStartedTests {
    /// The article's function: a thumbnail at most 128 pixels on its longer side.
    func writeThumbnail(of photoPath: String, to thumbnailPath: String) throws(ImageIOError) -> Image {
        let photo = try readImage(atPath: photoPath)   // PNG or JPEG, as 8-bit RGB
        let scale = min(1, 128 / Double(max(photo.width, photo.height)))
        let thumbnail = photo.resizedByAreaAveraging(width: max(1, Int(Double(photo.width) * scale)),
                                                     height: max(1, Int(Double(photo.height) * scale)))
        try writePNG(thumbnail, toPath: thumbnailPath)
        return thumbnail
    }

    @Test func theThumbnailIsWrittenAndReadsBack() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        // A 300x200 RGB gradient as the "photo".
        var pixels = [UInt8]()
        for y in 0 ..< 200 { for x in 0 ..< 300 { pixels += [UInt8(x * 255 / 299), UInt8(y * 255 / 199), 128] } }
        let photoPath = folder.appendingPathComponent("photo.png").path
        try writePNG(Image(width: 300, height: 200, channels: 3, pixels: pixels), toPath: photoPath)

        let thumbnailPath = folder.appendingPathComponent("thumbnail.png").path
        let thumbnail = try writeThumbnail(of: photoPath, to: thumbnailPath)
        #expect((thumbnail.width, thumbnail.height, thumbnail.channels) == (128, 85, 3))
        #expect(try readImage(atPath: thumbnailPath) == thumbnail)
    }

    @Test func aMissingPhotoIsOneErrorNamingIt() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let missing = folder.appendingPathComponent("missing.jpg").path
        do {
            let thumbnail = try writeThumbnail(of: missing, to: folder.appendingPathComponent("t.png").path)
            Issue.record("expected an error, got a \(thumbnail.width)x\(thumbnail.height) thumbnail")
        } catch {
            #expect(error.path == missing)
            #expect(error.description.hasPrefix(missing + ": "))
        }
    }
}
