import Foundation
import Testing
import ImageIO

/// Not a timed test: prints decode figures when asked, asserts nothing about speed.
///     IMAGEIO_BENCH=1 swift test -c release --filter DecodeBenchmark
@Test(.enabled(if: ProcessInfo.processInfo.environment["IMAGEIO_BENCH"] != nil, "an opt-in benchmark that prints figures: set IMAGEIO_BENCH=1 to run it"))
func DecodeBenchmark() throws {
    for name in ["chelsea.png", "coffee.png", "astronaut.png", "camera.png", "rocket.jpg", "hubble_deep_field.jpg"] {
        let path = sampleImages.appendingPathComponent(name).path
        _ = try readImage(atPath: path)  // warm the page cache
        let runs = 30
        var best = Double.infinity, total = 0.0
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            let image = try readImage(atPath: path)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            best = min(best, ms)
            total += ms
            #expect(image.width > 0)
        }
        print("decode \(name): best \(String(format: "%.2f", best)) ms, mean \(String(format: "%.2f", total / Double(runs))) ms over \(runs) runs")
    }
}

/// Prints writePNG figures when asked.
///     IMAGEIO_BENCH=1 swift test -c release --filter WriteBenchmark
@Test(.enabled(if: ProcessInfo.processInfo.environment["IMAGEIO_BENCH"] != nil, "an opt-in benchmark that prints figures: set IMAGEIO_BENCH=1 to run it"))
func WriteBenchmark() throws {
    let folder = try makeTemporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let chelsea = try readImage(atPath: sampleImages.appendingPathComponent("chelsea.png").path)
    let gray = Image(planarFloats: chelsea.grayscale(), width: chelsea.width, height: chelsea.height, channels: 1)
    for (label, image, compression) in [("chelsea RGB", chelsea, PNGCompression.fast), ("chelsea gray", gray, .fast),
                                        ("chelsea RGB", chelsea, .small), ("chelsea gray", gray, .small)] {
        let path = folder.appendingPathComponent("out.png").path
        let runs = 30
        var best = Double.infinity, total = 0.0
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            try writePNG(image, toPath: path, compression: compression)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            best = min(best, ms)
            total += ms
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        print("write \(label) \(compression): best \(String(format: "%.2f", best)) ms, mean \(String(format: "%.2f", total / Double(runs))) ms, \(size) bytes")
    }
}
