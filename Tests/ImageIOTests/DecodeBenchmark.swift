import Foundation
import Testing
import ImageIO

/// Not a timed test: prints decode figures when asked, asserts nothing about speed.
///     IMAGEIO_BENCH=1 swift test -c release --filter DecodeBenchmark
@Test(.enabled(if: ProcessInfo.processInfo.environment["IMAGEIO_BENCH"] != nil))
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
