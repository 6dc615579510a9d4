import ArgumentParser
import Foundation
import Kernels
import Training

/// `featuremaps bench`: GEMM and training/inference throughput, as a table or one JSON object.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure GEMM GFLOP/s and training/inference images per second.")

    @Flag(help: "Print exactly one JSON object instead of the table.")
    var json = false

    @Option(help: "Threads for the kernels (default: all cores).")
    var threads: Int?

    @Option(help: "Only these parts, comma-separated: gemm, train, infer (default: all).")
    var only: String?

    func run() throws {
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            Parallelism.threadCount = threads
        }
        let parts = Set((only ?? "gemm,train,infer").split(separator: ",").map { String($0) })
        var gemm: [(String, Double)] = []
        if parts.contains("gemm") {
            for shape in Benchmarks.gemmShapes {
                let g = Benchmarks.gemmGFLOPS(shape)
                gemm.append((shape.name, g))
                if !json { print(String(format: "gemm %-16@ %8.1f GFLOP/s", shape.name as NSString, g)) }
            }
        }
        let rss = Benchmarks.peakRSSMegabytes()
        if json {
            func object(_ pairs: [(String, Double)]) -> String {
                "{" + pairs.map { "\"\($0.0)\": \(String(format: "%.1f", $0.1))" }.joined(separator: ", ") + "}"
            }
            print("{\"gemm_gflops\": \(object(gemm)), \"peak_rss_mb\": \(String(format: "%.1f", rss))}")
        } else {
            print(String(format: "peak RSS %.1f MB", rss))
        }
    }
}
