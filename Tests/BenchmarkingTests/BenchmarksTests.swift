import Testing
import Benchmarking
import Kernels

@Suite struct BenchmarksTests {
    @Test func caseAndShapeNamesAreTheJSONKeys() {
        // `featuremaps bench --json` keys; the peer scripts and recorded runs use these names.
        #expect(Benchmarks.trainCases.map(\.name) == ["seed_b32", "seed_b128", "vgg_b32", "vgg_b128", "airbench_b256"])
        #expect(Benchmarks.inferCases.map(\.name) == ["seed_b128", "vgg_b128"])
        #expect(Benchmarks.gemmShapes.map(\.name).first == "1024x1024x1024")
        #expect(Benchmarks.GEMMShape(m: 2, k: 3, n: 4, transA: .transposed).name == "2x3x4:TN")
        #expect(Benchmarks.GEMMShape(m: 2, k: 3, n: 4, transB: .transposed).name == "2x3x4:NT")
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
            let gflops = Benchmarks.gemmGFLOPS(Benchmarks.GEMMShape(m: 16, k: 16, n: 16), rounds: 1, roundSeconds: 0.001)
            #expect(gflops.isFinite && gflops > 0)
            let images = try Benchmarks.inferImagesPerSecond(Benchmarks.NetCase(net: "seed", batch: 2), rounds: 1, roundSeconds: 0.001)
            #expect(images.isFinite && images > 0)
        }
    }
}
