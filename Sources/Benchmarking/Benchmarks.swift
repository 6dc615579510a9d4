import Foundation
import Kernels
import Training
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The speed benchmark behind `featuremaps bench`: GEMM GFLOP/s at square and im2col shapes,
/// training and inference images/s of the model zoo's nets, and the peak resident memory.
/// Kernels run with the caller's `Parallelism.threadCount`.
public enum Benchmarks {
    /// Which clock a measurement reads.
    public enum Timing: Sendable {
        /// Wall time on a monotonic clock (the headline figures).
        case wall
        /// Process CPU time. With one thread this ignores the time other processes on a shared
        /// machine take the core away (a tuning aid, not the headline).
        case processCPU
    }

    /// A GEMM shape, C[M,N] = A[M,K] B[K,N].
    public struct GEMMShape: Sendable {
        public let m: Int, k: Int, n: Int
        /// Whether A and B are read transposed (the backward passes' products).
        public let transA: Transpose, transB: Transpose
        /// The key used in the JSON output: "MxKxN", with ":TN"-style suffix when transposed.
        public var name: String {
            let base = "\(m)x\(k)x\(n)"
            if transA == .none && transB == .none { return base }
            return base + ":" + (transA == .none ? "N" : "T") + (transB == .none ? "N" : "T")
        }
        public init(m: Int, k: Int, n: Int, transA: Transpose = .none, transB: Transpose = .none) {
            self.m = m; self.k = k; self.n = n; self.transA = transA; self.transB = transB
        }
    }

    /// The shapes the issue fixes: two squares and the im2col shapes of the two nets at batch 128.
    public static let gemmShapes: [GEMMShape] = [
        GEMMShape(m: 1024, k: 1024, n: 1024),
        GEMMShape(m: 2048, k: 2048, n: 2048),
        GEMMShape(m: 16, k: 75, n: 100_352),
        GEMMShape(m: 64, k: 576, n: 131_072),
        GEMMShape(m: 128, k: 1152, n: 32_768),
    ]

    /// Seconds on `timing`'s clock.
    public static func now(_ timing: Timing) -> Double {
        var ts = timespec()
        clock_gettime(timing == .processCPU ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Best rate over `rounds` rounds of `body`, each round repeating it for about `roundSeconds`.
    /// `work` is the amount done per call (FLOPs, images); the result is work per second.
    /// Best-of rather than mean because the machine is shared: slow rounds are other people's.
    public static func bestRate(work: Double, rounds: Int = 3, roundSeconds: Double = 0.4, timing: Timing = .wall,
                                _ body: () -> Void) -> Double {
        body()  // warm-up: sizes buffers, faults pages in
        let t0 = now(timing)
        body()
        let one = max(now(timing) - t0, 1e-6)
        let reps = max(1, Int(roundSeconds / one))
        var best = 0.0
        for _ in 0..<rounds {
            let start = now(timing)
            for _ in 0..<reps { body() }
            best = max(best, work * Double(reps) / max(now(timing) - start, 1e-9))
        }
        return best
    }

    /// GFLOP/s of `sgemm` (`.fp32`) or `bf16gemm` (`.bf16`, on `CPUFeatures.enabled.bf16Path`) at
    /// one shape (operands filled with small deterministic values).
    public static func gemmGFLOPS(_ s: GEMMShape, precision: Precision = .fp32, rounds: Int = 3, roundSeconds: Double = 0.4,
                                  timing: Timing = .wall) -> Double {
        var a = [Float](repeating: 0, count: s.m * s.k)
        var b = [Float](repeating: 0, count: s.k * s.n)
        for i in a.indices { a[i] = Float((i * 7) % 13) * 0.1 - 0.6 }
        for i in b.indices { b[i] = Float((i * 5) % 11) * 0.1 - 0.5 }
        var c = [Float](repeating: 0, count: s.m * s.n)
        let flops = 2.0 * Double(s.m) * Double(s.k) * Double(s.n)
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    bestRate(work: flops, rounds: rounds, roundSeconds: roundSeconds, timing: timing) {
                        let gemm = precision == .bf16 ? bf16gemm : sgemm
                        gemm(s.transA, s.transB, s.m, s.n, s.k, 1, pa.baseAddress!, s.transA == .none ? s.k : s.m,
                             pb.baseAddress!, s.transB == .none ? s.n : s.k, 0, pc.baseAddress!, s.n, .automatic, .enabled)
                    } / 1e9
                }
            }
        }
    }

    /// The CPU as the JSON's "cpu" object describes it.
    public struct CPUDescription: Sendable {
        /// The processor's model name (lscpu's "Model name", from /proc/cpuinfo), or nil off Linux.
        public let model: String?
        /// The best code for products: `amx` or `avx512bf16` (bf16 units: the bf16 path), else
        /// `avx512`, `avx2` or `portable`, the fp32 kernel under which bf16 products run in software.
        public let path: String
        /// `bf16gemm`'s path: `amx`, `avx512bf16` or `software`.
        package let bf16Path: BF16Path
    }

    /// This machine's description under `CPUFeatures.enabled` (so FEATUREMAPS_CPU caps it).
    public static func cpuDescription() -> CPUDescription {
        let cpu = CPUFeatures.enabled
        let path: String
        switch cpu.bf16Path {
        case .amx, .avx512bf16: path = cpu.bf16Path.rawValue
        case .software: path = cpu.avx512 ? "avx512" : cpu.avx2 ? "avx2" : "portable"
        }
        return CPUDescription(model: cpuModelName(), path: path, bf16Path: cpu.bf16Path)
    }

    /// The first "model name" line of /proc/cpuinfo (what lscpu prints as "Model name").
    static func cpuModelName() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// GFLOP/s of the CPU's best bf16 unit under `CPUFeatures.enabled` (AMX tiles, else
    /// AVX512-BF16, whether or not `bf16Path` uses it: see `CPUFeatures.fastBF16DotProducts`), on
    /// all `Parallelism.threadCount` threads: independent VDPBF16PS on registers, or TDPBF16PS on
    /// tiles (KernelsC's peak loops). Nil without a bf16 unit.
    public static func bf16PeakGFLOPS(rounds: Int = 3, roundSeconds: Double = 0.3, timing: Timing = .wall) -> Double? {
        guard let path = CPUFeatures.enabled.bf16Unit else { return nil }
        let threads = Parallelism.threadCount
        let iterations = path == .amx ? 200_000 : 2_000_000
        let flopsPerThread = bf16PeakLoop(path, iterations: iterations)
        return bestRate(work: flopsPerThread * Double(threads), rounds: rounds, roundSeconds: roundSeconds, timing: timing) {
            parallelFor(threads) { range in
                for _ in range { _ = bf16PeakLoop(path, iterations: iterations) }
            }
        } / 1e9
    }

    /// GFLOP/s of fp32 FMAs on zmm registers (the same loop as the bf16 peak's, KernelsC's
    /// `fm_fp32_peak_avx512`) on all `Parallelism.threadCount` threads; nil without AVX-512.
    public static func fp32PeakGFLOPS(rounds: Int = 3, roundSeconds: Double = 0.3, timing: Timing = .wall) -> Double? {
        guard CPUFeatures.enabled.avx512 else { return nil }
        let threads = Parallelism.threadCount
        let iterations = 2_000_000
        let flopsPerThread = fp32PeakLoop(iterations: iterations)
        return bestRate(work: flopsPerThread * Double(threads), rounds: rounds, roundSeconds: roundSeconds, timing: timing) {
            parallelFor(threads) { range in
                for _ in range { _ = fp32PeakLoop(iterations: iterations) }
            }
        } / 1e9
    }

    /// A network the benchmark trains: a model-zoo preset at a batch size.
    public struct NetCase: Sendable {
        /// One of ModelZoo's presets ("seed", "vgg", "airbench").
        public let net: String
        public let batch: Int
        /// The key used in the JSON output, e.g. "seed_b128".
        public var name: String { "\(net)_b\(batch)" }
        public init(net: String, batch: Int) { self.net = net; self.batch = batch }
    }

    /// Training cases of the JSON's "train_images_per_s" (fp32).
    public static let trainCases = [NetCase(net: "seed", batch: 32), NetCase(net: "seed", batch: 128),
                                    NetCase(net: "vgg", batch: 32), NetCase(net: "vgg", batch: 128),
                                    NetCase(net: "airbench", batch: 256)]
    /// Training cases of the JSON's "train_images_per_s_bf16" (bf16 products).
    public static let trainCasesBF16 = [NetCase(net: "seed", batch: 128), NetCase(net: "vgg", batch: 128),
                                        NetCase(net: "airbench", batch: 256)]
    /// Inference cases of the JSON's "infer_images_per_s".
    public static let inferCases = [NetCase(net: "seed", batch: 128), NetCase(net: "vgg", batch: 128)]

    /// A random batch [batch, 3, 32, 32] (unit normal, like bench_torch.py's) and labels.
    static func batch(_ size: Int) -> (Tensor, [Int]) {
        var rng = SeededGenerator(seed: 7)
        let x = Tensor.normal(shape: [size, 3, 32, 32], std: 1, using: &rng)
        return (x, (0..<size).map { ($0 * 7) % 10 })
    }

    /// Training images/s: forward, softmax cross-entropy, backward and an SGD-momentum step
    /// (lr 0.01, momentum 0.9, as bench_torch.py) on one fixed batch, repeated, with the
    /// convolution and linear products in `precision`. Frozen parameters (airbench's whitening
    /// weight and batch-norm scales) are not updated, as in PyTorch.
    public static func trainImagesPerSecond(_ c: NetCase, precision: Precision = .fp32, rounds: Int = 3,
                                            roundSeconds: Double = 1.0, timing: Timing = .wall) throws -> Double {
        let (net, x, labels, loss, optimizer) = try trainingSetup(c)
        return Precision.with(precision) {
            bestRate(work: Double(c.batch), rounds: rounds, roundSeconds: roundSeconds, timing: timing) {
                let logits = net(x)
                _ = loss(logits, labels: labels)
                _ = net.backward(loss.backward())
                optimizer.step(learningRate: 0.01)
            }
        }
    }

    /// The benchmark's training step: the net in training mode, its batch, loss and optimiser.
    private static func trainingSetup(_ c: NetCase) throws
        -> (net: Sequential, x: Tensor, labels: [Int], loss: SoftmaxCrossEntropy, optimizer: SGD) {
        let net = try ModelZoo.build(c.net, seed: 1)
        net.training = true
        let (x, labels) = batch(c.batch)
        return (net, x, labels, SoftmaxCrossEntropy(), SGD(parameters: net.namedParameters.map { $0.parameter }, momentum: 0.9))
    }

    /// Where one training step's time goes: milliseconds per step by layer and pass, in the order
    /// first met, the mean over `steps` steps after one warm-up step, with the products in
    /// `precision`. Convolutions are named by shape ("Conv2d 64->256 15x15 forward"; the same
    /// shape in several places adds up), their backward split into "weight gradient" and "input
    /// gradient"; other layers by type ("BatchNorm2d backward"); then "loss" and "optimizer".
    ///
    /// The children of the net run one by one, airbench's convolution groups opened up, so the
    /// fusions `Sequential` makes (BN + ReLU, ReLU + pool) do not happen here: a ReLU's share is
    /// what fusing saves, and the total is a little above a fused step's. Other containers (a
    /// residual block) count as one layer. A convolution's backward runs twice, first without
    /// its input gradient (timed as the weight gradient), then, after its forward pass again
    /// (untimed), whole (its time less the first is the input gradient), so the weight gradients
    /// add up twice: harmless for timing.
    public static func trainStepBreakdown(_ c: NetCase, precision: Precision = .fp32, steps: Int = 5,
                                          timing: Timing = .wall) throws -> [(part: String, milliseconds: Double)] {
        let (net, x, labels, loss, optimizer) = try trainingSetup(c)
        var parts: [(part: String, milliseconds: Double)] = []
        func add(_ part: String, _ seconds: Double) {
            if let i = parts.firstIndex(where: { $0.part == part }) { parts[i].milliseconds += seconds * 1e3 } else { parts.append((part, seconds * 1e3)) }
        }
        func timed<R>(_ part: String, _ body: () -> R) -> R {
            let start = now(timing)
            let result = body()
            add(part, now(timing) - start)
            return result
        }
        // A convolution group's layers as the group runs them: each batch norm with the GELU
        // after it fused in (`fusedGELU`); Sequential's own fusions (batch norm or pool with a
        // ReLU) are opened, each layer timed alone.
        let layers: [(layer: any Layer, fusedGELU: Bool)] = net.children.flatMap { entry -> [(layer: any Layer, fusedGELU: Bool)] in
            if let group = entry.layer as? ConvGroup {
                return [(group.conv1, false), (group.pool, false), (group.norm1, true), (group.conv2, false), (group.norm2, true)]
            }
            return [(entry.layer, false)]
        }
        var names = [String](repeating: "", count: layers.count)
        var inputs = [Tensor](repeating: .empty, count: layers.count)
        Precision.with(precision) {
            for step in 0 ... steps {
                if step == 1 { parts.removeAll() }  // step 0 warms up (sizes buffers, faults pages in)
                var h = x
                for (i, (layer, fusedGELU)) in layers.enumerated() {
                    if step == 0 {
                        names[i] = (layer as? Conv2d).map { "Conv2d \(h.shape[1])->\($0.outChannels) \(h.shape[2])x\(h.shape[3])" }
                            ?? "\(type(of: layer))" + (fusedGELU ? "+GELU" : "")
                    }
                    if layer is Conv2d { inputs[i] = h }
                    if fusedGELU, let norm = layer as? BatchNorm2d {
                        h = timed("\(names[i]) forward") { norm.forward(h, activation: .gelu) }
                    } else {
                        h = timed("\(names[i]) forward") { layer(h) }
                    }
                }
                var g = timed("loss") { _ = loss(h, labels: labels); return loss.backward() }
                for (i, (layer, _)) in layers.enumerated().reversed() {
                    if let conv = layer as? Conv2d, conv.computesInputGradient {
                        let start = now(timing)
                        conv.computesInputGradient = false
                        _ = conv.backward(g)
                        conv.computesInputGradient = true
                        let weightGradient = now(timing) - start
                        _ = conv(inputs[i])  // backward forgets its input: give it again, untimed
                        // Drop the harness's reference before the next step: a tensor still held
                        // here when the layer before writes its output again is copied on write.
                        inputs[i] = .empty
                        let whole = now(timing)
                        g = conv.backward(g)
                        add("\(names[i]) weight gradient", weightGradient)
                        // A difference of two timings: on a busy machine, for a pass this short
                        // (a few images), it can fall below zero; that reads as "too short to see".
                        add("\(names[i]) input gradient", max(0, now(timing) - whole - weightGradient))
                    } else {
                        g = timed("\(names[i]) backward") { layer.backward(g) }
                    }
                }
                timed("optimizer") { optimizer.step(learningRate: 0.01) }
            }
        }
        return parts.map { ($0.part, $0.milliseconds / Double(steps)) }
    }

    /// Inference images/s: the forward pass in evaluation mode (running BN statistics).
    public static func inferImagesPerSecond(_ c: NetCase, rounds: Int = 3, roundSeconds: Double = 0.7,
                                            timing: Timing = .wall) throws -> Double {
        let net = try ModelZoo.build(c.net, seed: 1)
        net.training = false
        let (x, _) = batch(c.batch)
        return bestRate(work: Double(c.batch), rounds: rounds, roundSeconds: roundSeconds, timing: timing) {
            _ = net(x)
        }
    }

    /// Peak resident set size of this process in MB (getrusage's ru_maxrss).
    public static func peakRSSMegabytes() -> Double {
        var usage = rusage()
        #if canImport(Darwin)
        getrusage(RUSAGE_SELF, &usage)
        return Double(usage.ru_maxrss) / 1_048_576  // bytes on macOS
        #else
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_maxrss) / 1024  // KiB on Linux
        #endif
    }
}
