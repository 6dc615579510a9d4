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

/// Batch norm's passes over a chunk of channels (`channelChunkTotals`, `normalizeChunk`,
/// `inputGradientChunk`, `geluGradientChunk`), read image by image in C where the CPU allows, give
/// the Swift code's channel-by-channel bits: each kind of sum, with the ReLU, the GELU or neither,
/// the input gradient also in place (as after a fused GELU), on planes around the
/// vector steps and the scalar tail, two groups of images (the second partial), and 37 channels
/// (a full chunk and part of one).
@Test(arguments: [1, 9, 49, 63, 225, 1024])
func channelChunkPassesGiveTheSameBitsOnEveryPath(_ plane: Int) {
    var rng = SeededGenerator(seed: UInt64(plane) + 100)
    let (n, c) = (imagesPerSumGroup(plane: plane) + 3, 37)
    let g = randomTensor([n * c * plane], &rng, scale: 2).storage
    let x = randomTensor([n * c * plane], &rng, scale: 2).storage
    let perChannel = randomTensor([c * 5], &rng).storage
    func run(_ cpu: CPUFeatures) -> [[UInt64]] {
        var results: [[UInt64]] = []
        var y = [Float](repeating: 0, count: n * c * plane)
        g.withUnsafeBufferPointer { gp in
        x.withUnsafeBufferPointer { xp in
        y.withUnsafeMutableBufferPointer { yp in
            let g = gp.baseAddress!, x = xp.baseAddress!, y = yp.baseAddress!
            func totals<Kind: RunSumKind>(_ kind: @escaping (Int) -> Kind) -> [UInt64] {
                var bits = [UInt64](repeating: 0, count: 2 * c)
                for first in stride(from: 0, to: c, by: channelChunk) {
                    channelChunkTotals(g, x, n: n, c: c, plane: plane, channels: first..<min(c, first + channelChunk), cpu: cpu,
                                       kind: kind) { ch, sum, dot in
                        bits[2 * ch] = sum.bitPattern
                        bits[2 * ch + 1] = dot.bitPattern
                    }
                }
                return bits
            }
            results.append(totals { _ in PlainSum() })
            results.append(totals { SquaredDeviations(mean: perChannel[$0]) })
            results.append(totals { CenteredDot(mean: perChannel[$0]) })
            results.append(totals { MaskedCenteredDot(mean: perChannel[$0], scale: perChannel[c + $0], shift: perChannel[2 * c + $0]) })
            for activation in [BatchNormActivation.none, .relu, .gelu] {
                for first in stride(from: 0, to: c, by: channelChunk) {
                    normalizeChunk(x, y, n: n, c: c, plane: plane, channels: first..<min(c, first + channelChunk),
                                   activation: activation, cpu: cpu) { (perChannel[$0], perChannel[c + $0]) }
                }
                results.append(yp.map { UInt64($0.bitPattern) })
            }
            for masked in [false, true] {
                for first in stride(from: 0, to: c, by: channelChunk) {
                    inputGradientChunk(x, g, y, n: n, c: c, plane: plane, channels: first..<min(c, first + channelChunk),
                                       masked: masked, cpu: cpu) { ch in
                        (perChannel[ch], perChannel[c + ch], 1 + abs(perChannel[2 * c + ch]), perChannel[3 * c + ch], perChannel[4 * c + ch],
                         (perChannel[2 * c + ch], perChannel[4 * c + ch]))
                    }
                }
                results.append(yp.map { UInt64($0.bitPattern) })
            }
            // A fused GELU's gradient written as its sums are taken (a separate output).
            var fusedSums = [UInt64](repeating: 0, count: 2 * c)
            perChannel.withUnsafeBufferPointer { pc in
                for first in stride(from: 0, to: c, by: channelChunk) {
                    geluGradientChunkSums(x, g, y, n: n, c: c, plane: plane, channels: first..<min(c, first + channelChunk), cpu: cpu,
                                          means: pc.baseAddress! + 2 * c,
                                          coefficients: { (perChannel[$0], perChannel[c + $0]) }) { ch, sum, dot in
                        fusedSums[2 * ch] = sum.bitPattern
                        fusedSums[2 * ch + 1] = dot.bitPattern
                    }
                }
            }
            results.append(fusedSums)
            results.append(yp.map { UInt64($0.bitPattern) })
            // The sums of the gradient it wrote, taken by the plain pass.
            do {
                var bits = [UInt64](repeating: 0, count: 2 * c)
                for first in stride(from: 0, to: c, by: channelChunk) {
                    channelChunkTotals(UnsafePointer(y), x, n: n, c: c, plane: plane, channels: first..<min(c, first + channelChunk), cpu: cpu,
                                       kind: { CenteredDot(mean: perChannel[2 * c + $0]) }) { ch, sum, dot in
                        bits[2 * ch] = sum.bitPattern
                        bits[2 * ch + 1] = dot.bitPattern
                    }
                }
                results.append(bits)
            }
            // The same gradient, into y and then in place (dy = dz, as the backward pass
            // runs it), and the input gradient with dx = dy in place.
            for first in stride(from: 0, to: c, by: channelChunk) {
                geluGradientChunk(x, g, y, n: n, c: c, plane: plane, channels: first..<min(c, first + channelChunk),
                                  cpu: cpu) { (perChannel[$0], perChannel[c + $0]) }
            }
            results.append(yp.map { UInt64($0.bitPattern) })
            for first in stride(from: 0, to: c, by: channelChunk) {
                inputGradientChunk(x, UnsafePointer(y), y, n: n, c: c, plane: plane, channels: first..<min(c, first + channelChunk),
                                   masked: false, cpu: cpu) { ch in
                    (perChannel[ch], perChannel[c + ch], 1 + abs(perChannel[2 * c + ch]), perChannel[3 * c + ch], perChannel[4 * c + ch],
                     (0, 0))
                }
            }
            results.append(yp.map { UInt64($0.bitPattern) })
        }}}
        return results
    }
    let reference = run(.portable)
    #expect(reference.allSatisfy { $0.contains { $0 != 0 } })
    #expect(reference[7] != reference[8])  // the mask cut some gradients
    #expect(reference[9] == reference[11])  // the fused pass's sums are those of the gradient it wrote
    #expect(reference[10] == reference[12])  // and that gradient is the plain pass's
    #expect(reference[6] != reference[4] && reference[6] != reference[5])  // GELU is neither identity nor ReLU
    for cpu in portableAndCForms.dropFirst() {
        #expect(run(cpu) == reference, "\(cpu)")
    }
}
