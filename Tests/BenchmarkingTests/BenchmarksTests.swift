import Testing
import Benchmarking
import Kernels

@Suite struct BenchmarksTests {
    @Test func caseAndShapeNamesAreTheJSONKeys() {
        // `featuremaps bench --json` keys; the peer scripts and recorded runs use these names.
        #expect(Benchmarks.trainCases.map(\.name) == ["seed_b32", "seed_b128", "vgg_b32", "vgg_b128", "airbench_b256"])
        #expect(Benchmarks.inferCases.map(\.name) == ["seed_b128", "vgg_b128"])
        #expect(Benchmarks.trainCasesBF16.map(\.name) == ["seed_b128", "vgg_b128", "airbench_b256"])
        #expect(Benchmarks.gemmShapes.map(\.name).first == "1024x1024x1024")
        #expect(Benchmarks.GEMMShape(m: 2, k: 3, n: 4, transA: .transposed).name == "2x3x4:TN")
        #expect(Benchmarks.GEMMShape(m: 2, k: 3, n: 4, transB: .transposed).name == "2x3x4:NT")
    }

    @Test func theCPUDescriptionNamesTheBF16Path() {
        let cpu = Benchmarks.cpuDescription()
        #expect(cpu.bf16Path == CPUFeatures.enabled.bf16Path)
        switch cpu.bf16Path {
        case .amx, .avx512bf16: #expect(cpu.path == cpu.bf16Path.rawValue)
        case .software: #expect(cpu.path == (CPUFeatures.enabled.avx512 ? "avx512" : CPUFeatures.enabled.avx2 ? "avx2" : "portable"))
        }
        #if os(Linux)
        #expect(!(cpu.model ?? "").isEmpty, "/proc/cpuinfo names the model")
        #endif
    }

    @Test func theBF16PeakIsMeasuredWhereThereIsAUnit() {
        let peak = Parallelism.withThreadCount(1) { Benchmarks.bf16PeakGFLOPS(rounds: 1, roundSeconds: 0.01) }
        let cpu = CPUFeatures.enabled
        // A unit is measured whether or not the products use it (fastBF16DotProducts).
        if cpu.bf16Unit == nil {
            #expect(peak == nil)
        } else {
            // Far above what one core reaches in fp32 scalar code, far below anything impossible.
            #expect(peak.map { $0 > 10 && $0 < 10_000 } == true, "\(String(describing: peak))")
        }
        let fp32 = Parallelism.withThreadCount(1) { Benchmarks.fp32PeakGFLOPS(rounds: 1, roundSeconds: 0.01) }
        #expect(cpu.avx512 ? fp32.map { $0 > 10 && $0 < 10_000 } == true : fp32 == nil, "\(String(describing: fp32))")
    }

    @Test func ratesArePositiveOnBothClocks() throws {
        try Parallelism.withThreadCount(1) {
            for timing in [Benchmarks.Timing.wall, .processCPU] {
                var calls = 0
                let rate = Benchmarks.bestRate(work: 10, rounds: 2, roundSeconds: 0.002, timing: timing) {
                    calls += 1
                    var x = 0.0
                    for i in 0 ..< 20_000 { x += Double(i).squareRoot() }
                    if x < 0 { calls = -1 }  // keeps the loop from being optimised away
                }
                #expect(rate.isFinite && rate > 0)
                #expect(calls >= 4)  // warm-up, one timing call, then at least one per round
            }
            for precision in Precision.allCases {
                let gflops = Benchmarks.gemmGFLOPS(Benchmarks.GEMMShape(m: 16, k: 17, n: 16), precision: precision,
                                                   rounds: 1, roundSeconds: 0.001)
                #expect(gflops.isFinite && gflops > 0, "\(precision)")
            }
            let images = try Benchmarks.inferImagesPerSecond(Benchmarks.NetCase(net: "seed", batch: 2), rounds: 1, roundSeconds: 0.001)
            #expect(images.isFinite && images > 0)
            for precision in Precision.allCases {
                let trained = try Benchmarks.trainImagesPerSecond(Benchmarks.NetCase(net: "seed", batch: 2), precision: precision,
                                                                  rounds: 1, roundSeconds: 0.001)
                #expect(trained.isFinite && trained > 0, "\(precision)")
            }
        }
    }
}

@Suite struct StepBreakdownTests {
    /// Every layer of the seed net has its rows, convolutions by shape with their backward split
    /// where they compute an input gradient, plus the loss and the optimiser; each time positive.
    @Test func breakdownNamesEveryLayerAndPass() throws {
        let rows = try Parallelism.withThreadCount(1) {
            try Benchmarks.trainStepBreakdown(Benchmarks.NetCase(net: "seed", batch: 2), precision: .bf16, steps: 1)
        }
        let parts = Set(rows.map(\.part))
        for layer in ["ReLU", "MaxPool2d", "Flatten", "Linear"] {
            #expect(parts.contains("\(layer) forward") && parts.contains("\(layer) backward"), "\(layer)")
        }
        // conv1 sees the images (no input gradient: one backward row), conv2 does (two).
        #expect(parts.isSuperset(of: ["Conv2d 3->16 32x32 forward", "Conv2d 3->16 32x32 backward"]), "\(parts.sorted())")
        let conv2 = parts.filter { $0.hasPrefix("Conv2d 16->") }
        #expect(conv2.count == 3 && conv2.contains { $0.hasSuffix(" weight gradient") }
                && conv2.contains { $0.hasSuffix(" input gradient") }, "\(conv2.sorted())")
        #expect(parts.isSuperset(of: ["loss", "optimizer"]))
        #expect(rows.count == parts.count && rows.allSatisfy { $0.milliseconds >= 0 })
        #expect(rows.contains { $0.milliseconds > 0 })
    }

    /// airbench's convolution groups are opened as they run: both convolutions and the pool of
    /// each group have rows of their own, and each batch norm with its fused GELU one row; the
    /// GELU after the whitening layer is a layer of its own.
    @Test func breakdownOpensConvolutionGroups() throws {
        let rows = try Parallelism.withThreadCount(1) {
            try Benchmarks.trainStepBreakdown(Benchmarks.NetCase(net: "airbench", batch: 2), precision: .fp32, steps: 1)
        }
        let parts = Set(rows.map(\.part))
        #expect(!parts.contains("BatchNorm2d forward"))
        #expect(parts.isSuperset(of: ["BatchNorm2d+GELU forward", "BatchNorm2d+GELU backward", "GELU forward", "GELU backward",
                                      "MaxPool2d forward",
                                      "Conv2d 24->64 31x31 forward", "Conv2d 64->64 15x15 weight gradient",
                                      "Conv2d 256->256 7x7 input gradient", "Conv2d 256->256 3x3 forward"]),
                "\(parts.sorted())")
        #expect(!parts.contains("ConvGroup forward"))
    }
}
