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

    @Flag(help: "Time by process CPU time instead of wall time (for tuning with --threads 1 on a busy machine).")
    var cpuTime = false

    @Option(help: "GEMM shapes to measure instead of the standard ones, as MxKxN[:NT][,...] (N/T: A, B as stored or transposed; for profiling).")
    var gemmShapes: String?

    func run() throws {
        Benchmarks.useCPUTime = cpuTime
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            Parallelism.threadCount = threads
        }
        let parts = Set((only ?? "gemm,train,infer").split(separator: ",").map { String($0) })
        var gemm: [(String, Double)] = []
        if parts.contains("gemm") {
            var shapes = Benchmarks.gemmShapes
            if let gemmShapes {
                shapes = try gemmShapes.split(separator: ",").map { text in
                    let parts = text.split(separator: ":")
                    let d = parts[0].split(separator: "x").compactMap { Int($0) }
                    let flags = parts.count > 1 ? Array(parts[1]) : ["N", "N"]
                    guard d.count == 3, d.allSatisfy({ $0 > 0 }), parts.count <= 2, flags.count == 2,
                          flags.allSatisfy({ $0 == "N" || $0 == "T" }) else {
                        throw ValidationError("--gemm-shapes: '\(text)' is not MxKxN[:NN|NT|TN|TT] with positive sizes")
                    }
                    return Benchmarks.GEMMShape(m: d[0], k: d[1], n: d[2],
                                                transA: flags[0] == "T" ? .transposed : .none,
                                                transB: flags[1] == "T" ? .transposed : .none)
                }
            }
            for shape in shapes {
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
