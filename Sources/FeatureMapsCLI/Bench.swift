import ArgumentParser
import Benchmarking
import Foundation
import Kernels

/// `featuremaps bench`: GEMM and training/inference throughput, as a table or one JSON object.
public struct BenchCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure GEMM GFLOP/s and training/inference images per second.",
        discussion: """
            Training is measured in fp32 (train_images_per_s) and with bf16 products \
            (train_images_per_s_bf16); --precision measures only the one given.
            """)

    @Flag(help: "Print exactly one JSON object instead of the table.")
    var json = false

    @OptionGroup var threads: ThreadOptions

    @OptionGroup var precision: PrecisionOptions

    @Option(help: ArgumentHelp("Only these parts, comma-separated: gemm, train, infer (default: those three), and "
                               + "breakdown (per-layer times of one training step; only when asked for).",
                               valueName: "parts"))
    var only: String?

    @Option(help: "Only these nets, comma-separated, as named in the output (e.g. seed_b128).")
    var nets: String?

    @Flag(help: "Time by process CPU time instead of wall time (for tuning with --threads 1 on a busy machine).")
    var cpuTime = false

    public init() {}

    @Option(help: "GEMM shapes to measure instead of the standard ones, as MxKxN[:NT][,...] (N/T: A, B as stored or transposed; for profiling).")
    var gemmShapes: String?

    /// Images/s of each selected case, printed as a table row unless --json.
    private func measure(_ cases: [Benchmarks.NetCase], label: String,
                         _ rate: (Benchmarks.NetCase, Int, Double, Benchmarks.Timing) throws -> Double) throws -> [(String, Double)] {
        var results: [(String, Double)] = []
        for c in cases where selected(c.name) {
            let r = try rate(c, 3, label.hasPrefix("train") ? 1.0 : 0.7, timing)
            results.append((c.name, r))
            if !json { print(String(format: "%@ %-14@ %9.1f images/s", label as NSString, c.name as NSString, r)) }
        }
        return results
    }

    private func selected(_ name: String) -> Bool {
        guard let nets else { return true }
        return nets.split(separator: ",").contains { $0 == name }
    }

    private var timing: Benchmarks.Timing { cpuTime ? .processCPU : .wall }

    public func run() throws {
        try threads.scoped(measureAll)
    }

    private func measureAll() throws {
        let parts = Set((only ?? "gemm,train,infer").split(separator: ",").map { String($0) })
        var gemm: [(String, Double)] = []
        var gemmBF16: [(String, Double)] = []
        var bf16Peak: Double?
        var fp32Peak: Double?
        let cpu = Benchmarks.cpuDescription()
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
                let g = Benchmarks.gemmGFLOPS(shape, timing: timing)
                gemm.append((shape.name, g))
                if !json { print(String(format: "gemm %-16@ %8.1f GFLOP/s", shape.name as NSString, g)) }
            }
            for shape in shapes {
                let g = Benchmarks.gemmGFLOPS(shape, precision: .bf16, timing: timing)
                gemmBF16.append((shape.name, g))
                if !json { print(String(format: "gemm bf16 %-11@ %8.1f GFLOP/s (%@)", shape.name as NSString, g, cpu.bf16Path.rawValue as NSString)) }
            }
            bf16Peak = Benchmarks.bf16PeakGFLOPS(timing: timing)
            fp32Peak = Benchmarks.fp32PeakGFLOPS(timing: timing)
            if !json {
                print("bf16 peak " + (bf16Peak.map { String(format: "%.1f GFLOP/s", $0) } ?? "none: no bf16 unit")
                      + ", bf16 products run on \(cpu.bf16Path.rawValue) (\(cpu.path))")
                if let fp32Peak { print(String(format: "fp32 peak %.1f GFLOP/s (AVX-512 FMAs)", fp32Peak)) }
            }
        }
        let precisions = try precision.chosen.map { [$0] } ?? Precision.allCases
        func train(_ p: Precision, _ cases: [Benchmarks.NetCase], label: String) throws -> [(String, Double)] {
            guard parts.contains("train") && precisions.contains(p) else { return [] }
            return try measure(cases, label: label) { try Benchmarks.trainImagesPerSecond($0, precision: p, rounds: $1, roundSeconds: $2, timing: $3) }
        }
        let trainFP32 = try train(.fp32, Benchmarks.trainCases, label: "train")
        let trainBF16 = try train(.bf16, Benchmarks.trainCasesBF16, label: "train-bf16")
        let infer = parts.contains("infer")
            ? try measure(Benchmarks.inferCases, label: "infer", Benchmarks.inferImagesPerSecond) : []
        var breakdowns: [(String, [(part: String, milliseconds: Double)])] = []
        if parts.contains("breakdown") {
            for p in precisions {
                for c in Benchmarks.trainCases where selected(c.name) {
                    let rows = try Benchmarks.trainStepBreakdown(c, precision: p, timing: timing)
                    breakdowns.append(("\(c.name)_\(p.rawValue)", rows))
                    if !json {
                        let total = rows.reduce(0) { $0 + $1.milliseconds }
                        for row in rows {
                            print(String(format: "breakdown %@ %@ %-36@ %8.2f ms %5.1f%%", c.name as NSString, p.rawValue as NSString,
                                         row.part as NSString, row.milliseconds, 100 * row.milliseconds / total))
                        }
                        print(String(format: "breakdown %@ %@ %-36@ %8.2f ms", c.name as NSString, p.rawValue as NSString, "step" as NSString, total))
                    }
                }
            }
        }
        let rss = Benchmarks.peakRSSMegabytes()
        if json {
            func object(_ pairs: [(String, Double)]) -> String {
                "{" + pairs.map { "\"\($0.0)\": \(String(format: "%.1f", $0.1))" }.joined(separator: ", ") + "}"
            }
            func string(_ text: String?) -> String {
                guard let text else { return "null" }
                return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
            }
            let cpuObject = "{\"model\": \(string(cpu.model)), \"path\": \(string(cpu.path)), "
                + "\"bf16_path\": \(string(cpu.bf16Path.rawValue)), "
                + "\"bf16_peak_gflops\": \(bf16Peak.map { String(format: "%.1f", $0) } ?? "null"), "
                + "\"fp32_peak_gflops\": \(fp32Peak.map { String(format: "%.1f", $0) } ?? "null")}"
            let breakdown = breakdowns.isEmpty ? ""
                : ", \"train_step_breakdown_ms\": {" + breakdowns.map { "\"\($0.0)\": \(object($0.1.map { ($0.part, $0.milliseconds) }))" }.joined(separator: ", ") + "}"
            print("{\"gemm_gflops\": \(object(gemm)), \"gemm_gflops_bf16\": \(object(gemmBF16)), "
                  + "\"train_images_per_s\": \(object(trainFP32)), \"train_images_per_s_bf16\": \(object(trainBF16)), "
                  + "\"infer_images_per_s\": \(object(infer)), \"peak_rss_mb\": \(String(format: "%.1f", rss)), "
                  + "\"cpu\": \(cpuObject)\(breakdown)}")
        } else {
            print(String(format: "peak RSS %.1f MB (threads: %d)", rss, Parallelism.threadCount))
        }
    }
}
