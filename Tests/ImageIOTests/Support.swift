import Foundation
import Testing
import ImageIO

/// This target's Fixtures folder as SwiftPM bundles it (`.copy("Fixtures")` in Package.swift): fixtures.json,
/// the small JPEGs, and png/, libpng's PngSuite and test images (licences in Fixtures/png/README.md).
let fixturesFolder: URL = Bundle.module.url(forResource: "Fixtures", withExtension: nil)
    ?? Bundle.module.bundleURL.appendingPathComponent("Fixtures")

/// The PNG test images: pngsuite/ and testpngs/ (with badpal/ and crashers/).
let pngTestData = fixturesFolder.appendingPathComponent("png")

/// The repo's SampleImages folder.
let sampleImages: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("SampleImages")

/// The PNG files directly in `folder`, sorted.
func pngFiles(in folder: URL) -> [URL] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
    return names.filter { $0.hasSuffix(".png") }.sorted().map { folder.appendingPathComponent($0) }
}

/// Fixtures made by Fixtures/make_fixtures.py from Pillow, pypng and NumPy.
struct Fixtures: Decodable {
    struct PNGEntry: Decodable {
        let width: Int, height: Int, source: String, tolerance: Int, sampleStep: Int?
        let fnv1a64: String, fnv1a64OnOtherBackground: String?
        let rgb: String?, rgbOnOtherBackground: String?
    }
    struct PNGSet: Decodable { let otherBackground: [UInt8]; let files: [String: PNGEntry] }
    struct JPEGEntry: Decodable { let width: Int, height: Int, step: Int, mean: [Double], sampled: String }
    struct GrayEntry: Decodable { let width: Int, height: Int, step: Int, sum: Double, sampled: String }
    let png: PNGSet
    let jpeg: [String: JPEGEntry]
    let chelseaGray: GrayEntry

    static let loaded: Fixtures? = {
        guard let data = try? Data(contentsOf: fixturesFolder.appendingPathComponent("fixtures.json")) else { return nil }
        return try? JSONDecoder().decode(Fixtures.self, from: data)
    }()
}

/// FNV-1a 64-bit, the hash make_fixtures.py stores for images too big to store whole.
func fnv1a64(_ bytes: [UInt8]) -> String {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
    return String(hash)
}

func base64Bytes(_ text: String) -> [UInt8] { [UInt8](Data(base64Encoded: text) ?? Data()) }

/// A fresh empty folder under the system temp folder, removed by the caller.
func makeTemporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("imageio-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Reading `path` must fail with an error naming it; returns the reason.
@discardableResult
func expectReadError(_ path: String, options: ImageReadOptions = .init(),
                     sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    do {
        let image = try readImage(atPath: path, options: options)
        Issue.record("expected an error for \(path), got \(image.width)x\(image.height)", sourceLocation: sourceLocation)
        return nil
    } catch {
        #expect(error.path == path, sourceLocation: sourceLocation)
        #expect(error.description == "\(path): \(error.reason)", sourceLocation: sourceLocation)
        #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        return error.reason
    }
}
