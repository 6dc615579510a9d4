import Testing
import Kernels

// RunSums (Sources/Kernels/Ops/Reductions.swift): the sums batch norm's statistics and gradients
// are made of. The C forms and the many-runs call must give the bits of the Swift code's
// one-run-at-a-time sums, or batch norm's results would depend on the CPU level and the grouping.

/// (sum, dot) bit patterns of each kind over `runs` runs of `n` values `stride` apart, added one
/// run per call (`strided: false`) or in one call.
private func totals(_ g: [Float], _ x: [Float], n: Int, runs: Int, stride: Int, strided: Bool,
                    cpu: CPUFeatures) -> [UInt32] {
    g.withUnsafeBufferPointer { gp in
    x.withUnsafeBufferPointer { xp in
        let g = gp.baseAddress!, x = xp.baseAddress!
        func run<Kind: RunSumKind>(_ kind: Kind) -> [UInt32] {
            var sums = RunSums()
            if strided {
                sums.add(g, x, n, runs: runs, runStride: stride, kind, cpu: cpu)
            } else {
                for r in 0..<runs { sums.add(g + r * stride, x + r * stride, n, runs: 1, runStride: 0, kind, cpu: cpu) }
            }
            return [sums.total.sum.bitPattern, sums.total.dot.bitPattern]
        }
        return run(PlainSum()) + run(SquaredDeviations(mean: 0.25)) + run(CenteredDot(mean: -0.5))
            + run(MaskedCenteredDot(mean: 0.1, scale: 1.5, shift: -0.2))
    }}
}

/// Run lengths around the 32- and 16-wide steps and the scalar tail: 4x4, 7x9 and 8x8 planes among them.
@Test(arguments: [1, 15, 16, 17, 31, 32, 33, 48, 63, 64, 100])
func runSumsGiveTheSameBitsOnEveryPathAndGrouping(_ n: Int) {
    var rng = SeededGenerator(seed: UInt64(n))
    let runs = 5, stride = n + 3  // planes with a gap between them, as one channel's planes of an image batch
    let g = randomTensor([runs * stride], &rng, scale: 2).storage
    let x = randomTensor([runs * stride], &rng, scale: 2).storage
    let reference = totals(g, x, n: n, runs: runs, stride: stride, strided: false, cpu: .portable)
    #expect(reference.contains { $0 != 0 })
    for cpu in portableAndCForms {
        for strided in [false, true] {
            #expect(totals(g, x, n: n, runs: runs, stride: stride, strided: strided, cpu: cpu) == reference,
                    "\(cpu) strided: \(strided)")
        }
    }
}

@Test(.enabled(if: portableAndCForms.count > 1, "this CPU has neither AVX2 nor AVX-512: only the Swift sums run"))
func runSumsHaveCFormsOnThisCPU() {
    // The test above compares the C forms with the Swift code only where they exist; say so.
    #expect(portableAndCForms.contains { $0.avx2 || $0.avx512 })
}
