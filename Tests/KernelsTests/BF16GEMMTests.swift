import AllocationCounter
import Foundation
import Kernels
import KernelsC
import Testing

// bf16gemm on every path against Float64 references. Two bounds, per element of C, with
// S = sum_p |a_ip||b_pj| (alpha applied) + |beta c_ij|:
// - against the exact product of the *rounded* operands, only fp32 summation error remains
//   (products of two bf16 values are exact in fp32): |error| <= (k + 4) * 2^-24 * S, the
//   classic gamma_k bound with room for the alpha/beta epilogue and the per-K-block stores;
// - against the exact product of the *unrounded* operands, each operand's rounding adds at
//   most 2^-8 relative (bf16 keeps 8 significant bits): |error| <= (2 * 2^-8 + 2^-16) * S
//   + the summation bound above.

/// Feature sets that select each path this machine has: the software path over the Swift SIMD
/// kernel (`portable`), over its AVX2 form and over the AVX-512 kernel, AVX512-BF16, AMX.
private let runnable: [CPUFeatures] = {
    let detected = CPUFeatures.detected
    // The AVX512-BF16 kernel is tested even where its dot products are too slow for the
    // dispatch to use it (`fastBF16DotProducts` false): forced on here.
    var avx512bf16 = detected.limited(to: "avx512bf16")
    if avx512bf16.avx512bf16 { avx512bf16.fastBF16DotProducts = true }
    var list = [CPUFeatures.portable, detected.limited(to: "avx2"), detected.limited(to: "avx512"), avx512bf16,
                detected.limited(to: "avx512bf16"), detected]
    list = list.reduce(into: []) { kept, cpu in if !kept.contains(cpu) { kept.append(cpu) } }
    return list
}()

private func features(for path: BF16Path) -> [CPUFeatures] { runnable.filter { $0.bf16Path == path } }

private let noAMX = "this CPU has no AMX-TILE/AMX-BF16 (or the OS refused tile state)"
private let noAVX512BF16 = "this CPU has no AVX512-BF16"

/// Deterministic values in [-1, 1) with full fp32 significands (so rounding to bf16 matters).
private func randomMatrix(_ count: Int, seed: UInt64) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return (0..<count).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) }
}

private struct Case: CustomStringConvertible {
    var m: Int, n: Int, k: Int
    var transA: Transpose = .none, transB: Transpose = .none
    var alpha: Float = 1, beta: Float = 0
    var pad = 0
    /// C's prior contents: random when nil, else this value (NaN with beta 0 checks C is not read).
    var cFill: Float? = nil
    var description: String {
        "\(m)x\(k)x\(n) \(transA)/\(transB) alpha \(alpha) beta \(beta) pad \(pad) c \(cFill.map { "\($0)" } ?? "random")"
    }
}

/// Inputs of a case, as stored (with transposes and row padding).
private struct Operands {
    let t: Case
    let a: [Float], b: [Float], c0: [Float]
    let lda: Int, ldb: Int, ldc: Int
    init(_ t: Case, seed: UInt64 = 1) {
        self.t = t
        let aRows = t.transA == .none ? t.m : t.k, aCols = t.transA == .none ? t.k : t.m
        let bRows = t.transB == .none ? t.k : t.n, bCols = t.transB == .none ? t.n : t.k
        lda = aCols + t.pad; ldb = bCols + t.pad; ldc = t.n + t.pad
        a = randomMatrix(max(1, aRows * lda), seed: seed &* 31 &+ UInt64(t.m * 131 + t.k))
        b = randomMatrix(max(1, bRows * ldb), seed: seed &* 37 &+ UInt64(t.n * 17 + t.k * 3))
        let cCount = max(1, t.m * (t.n + t.pad))
        if let fill = t.cFill { c0 = [Float](repeating: fill, count: cCount) } else { c0 = randomMatrix(cCount, seed: seed &+ 5) }
    }

    func aAt(_ i: Int, _ p: Int) -> Float { t.transA == .none ? a[i * lda + p] : a[p * lda + i] }
    func bAt(_ p: Int, _ j: Int) -> Float { t.transB == .none ? b[p * ldb + j] : b[j * ldb + p] }

    /// Runs `gemm` on a copy of C and returns it.
    func run(_ gemm: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        var c = c0
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in gemm(pa.baseAddress!, pb.baseAddress!, pc.baseAddress!) }
            }
        }
        return c
    }

    func bf16(_ cpu: CPUFeatures, threading: GEMMThreading = .automatic) -> [Float] {
        run { pa, pb, pc in
            bf16gemm(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha, a: pa, lda: lda,
                     b: pb, ldb: ldb, beta: t.beta, c: pc, ldc: ldc, threading: threading, cpu: cpu)
        }
    }

    /// Worst |error| / bound over C (> 1 fails) against the Float64 product of the rounded
    /// operands (`rounded`) or of the operands as given.
    func worstRatio(_ got: [Float], rounded: Bool) -> Double {
        var worst = 0.0
        let u8 = 1.0 / 256, u24 = 1.0 / 16_777_216
        for i in 0..<t.m {
            for j in 0..<t.n {
                var exact = 0.0, scale = 0.0
                for p in 0..<t.k {
                    var x = aAt(i, p), y = bAt(p, j)
                    if rounded { x = roundedToBF16(x); y = roundedToBF16(y) }
                    exact += Double(x) * Double(y)
                    scale += abs(Double(x) * Double(y))
                }
                let prior = t.beta == 0 ? 0 : Double(t.beta) * Double(c0[i * ldc + j])
                let want = Double(t.alpha) * exact + prior
                let s = abs(Double(t.alpha)) * scale + abs(prior)
                let summation = Double(t.k + 4) * u24 * s * (rounded ? 1 : 1 + 2 * u8)
                let bound = (rounded ? 0 : (2 * u8 + u8 * u8) * abs(Double(t.alpha)) * scale) + summation + 1e-30
                let e = abs(Double(got[i * ldc + j]) - want) / bound
                worst = max(worst, e.isNaN ? .infinity : e)
            }
        }
        // Padding past each row of C is never written.
        for i in 0..<t.m { for j in t.n..<ldc where got[i * ldc + j].bitPattern != c0[i * ldc + j].bitPattern { return .infinity } }
        return worst
    }
}

/// Odd sizes and partial tiles in every dimension (k odd leaves half a bf16 pair, k < 32 and
/// k = 33 a partial AMX tile), all four transposes, alpha/beta, beta 0 over NaN, padded rows,
/// and one product past every cache block (K 1537 = 3 blocks, M 500 > 480, N 700 > one panel).
private let cases: [Case] = {
    var list: [Case] = []
    let sizes = [1, 7, 17, 33, 129]
    for (index, (m, n, k)) in sizes.flatMap({ m in sizes.flatMap { n in sizes.map { k in (m, n, k) } } }).enumerated() {
        let trans: [Transpose] = [.none, .transposed]
        list.append(Case(m: m, n: n, k: k, transA: trans[index % 2], transB: trans[(index / 2) % 2], pad: index % 3))
    }
    for ta in [Transpose.none, .transposed] {
        for tb in [Transpose.none, .transposed] {
            list.append(Case(m: 45, n: 100, k: 77, transA: ta, transB: tb, alpha: -0.75, beta: 1.5, pad: 3))
            list.append(Case(m: 20, n: 53, k: 64, transA: ta, transB: tb, alpha: 2, beta: 0, pad: 1, cFill: .nan))
        }
    }
    list.append(Case(m: 9, n: 50, k: 31, alpha: 1, beta: -1))
    list.append(Case(m: 500, n: 700, k: 1537, transB: .transposed, alpha: 0.5, beta: 0.25))
    return list
}()

private func checkPath(_ path: BF16Path) {
    let cpus = features(for: path)
    #expect(!cpus.isEmpty)
    for cpu in cpus {
        for t in cases {
            let ops = Operands(t)
            let got = ops.bf16(cpu)
            let ratio = ops.worstRatio(got, rounded: true)
            #expect(ratio <= 1, "\(path) (\(cpu)) \(t): error \(ratio) of the fp32-summation bound on rounded operands")
        }
    }
}

@Test func softwarePathMatchesFloat64OnRoundedOperands() { checkPath(.software) }

@Test(.enabled(if: BF16Path.avx512bf16.isAvailable, Comment(rawValue: noAVX512BF16)))
func avx512bf16PathMatchesFloat64OnRoundedOperands() { checkPath(.avx512bf16) }

@Test(.enabled(if: BF16Path.amx.isAvailable, Comment(rawValue: noAMX)))
func amxPathMatchesFloat64OnRoundedOperands() { checkPath(.amx) }

/// The result is what bf16 promises for the unrounded operands, on every path this machine has.
@Test func everyAvailablePathIsWithinBF16RoundingOfTheExactProduct() {
    for cpu in runnable {
        let path = cpu.bf16Path
        for t in [Case(m: 33, n: 129, k: 129), Case(m: 17, n: 7, k: 1537, transA: .transposed, alpha: 1.25, beta: 0.5),
                  Case(m: 64, n: 96, k: 33, transB: .transposed)] {
            let ops = Operands(t, seed: 9)
            let got = ops.bf16(cpu)
            let ratio = ops.worstRatio(got, rounded: false)
            #expect(ratio <= 1, "\(path) \(t): error \(ratio) of the bf16 bound on the unrounded operands")
            // And the bound is not vacuous: fp32 sgemm on the same operands is much closer.
            let fp32 = ops.run { pa, pb, pc in
                sgemm(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha, a: pa, lda: ops.lda,
                      b: pb, ldb: ops.ldb, beta: t.beta, c: pc, ldc: ops.ldc)
            }
            #expect(ops.worstRatio(fp32, rounded: false) < ratio, "\(path) \(t): bf16 no less accurate than fp32?")
        }
    }
}

@Test func bf16PathIsChosenBestFirstAndFollowsTheCaps() {
    #expect(CPUFeatures(avx512: true, avx512bf16: true, amxTile: true, amxBF16: true).bf16Path == .amx)
    #expect(CPUFeatures(avx512: true, avx512bf16: true, amxTile: true).bf16Path == .avx512bf16)  // AMX refused
    #expect(CPUFeatures(avx512: true, avx512bf16: true).bf16Path == .avx512bf16)
    #expect(CPUFeatures(avx512: true).bf16Path == .software)
    #expect(CPUFeatures.portable.bf16Path == .software)
    let all = CPUFeatures(avx512: true, avx512bf16: true, amxTile: true, amxBF16: true)
    #expect(all.limited(to: "amx").bf16Path == .amx)
    #expect(all.limited(to: "avx512bf16").bf16Path == .avx512bf16)
    #expect(all.limited(to: "avx512").bf16Path == .software)
    #expect(all.limited(to: "portable").bf16Path == .software)
    // AVX512-BF16 whose dot products are slower than fp32 FMAs: the software path, under any cap.
    var slow = CPUFeatures(avx512: true, avx512bf16: true)
    slow.fastBF16DotProducts = false
    #expect(slow.bf16Path == .software)
    #expect(slow.limited(to: "avx512bf16").bf16Path == .software)
    #expect(slow.limited(to: "amx").bf16Path == .software)
    // This machine: its best path is available, and FEATUREMAPS_CPU caps it.
    let detected = CPUFeatures.detected
    #expect(detected.bf16Path.isAvailable)
    let unitPays = detected.avx512bf16 && detected.fastBF16DotProducts
    #expect(detected.bf16Path == (detected.amxBF16 ? .amx : unitPays ? .avx512bf16 : .software))
    // The measurement behind fastBF16DotProducts: made where the unit exists, and decisive.
    #expect((CPUFeatures.bf16DotProductRatio != nil) == (detected.avx512bf16 && detected.avx512))
    if let ratio = CPUFeatures.bf16DotProductRatio { #expect(detected.fastBF16DotProducts == (ratio >= 1), "ratio \(ratio)") }
    switch ProcessInfo.processInfo.environment["FEATUREMAPS_CPU"] {
    case "portable", "avx2", "avx512": #expect(CPUFeatures.enabled.bf16Path == .software)
    case "avx512bf16": #expect(CPUFeatures.enabled.bf16Path == (unitPays ? .avx512bf16 : .software))
    case nil, "amx": #expect(CPUFeatures.enabled.bf16Path == detected.bf16Path)
    default: break
    }
}

/// bf16gemm(cpu:) runs `cpu.bf16Path`: on a hardware path its bits differ from the software
/// path's (whose fp32 sums run in another order), and the software path's bits are exactly
/// sgemm's on operands rounded beforehand.
@Test func theChosenPathIsTheOneThatRuns() {
    let t = Case(m: 40, n: 100, k: 999, transA: .transposed)
    let ops = Operands(t, seed: 3)
    let rounded = ops.a.map(roundedToBF16), roundedB = ops.b.map(roundedToBF16)
    for cpu in runnable {
        let bits = ops.bf16(cpu).map(\.bitPattern)
        var viaSGEMM = ops.c0
        rounded.withUnsafeBufferPointer { pa in
            roundedB.withUnsafeBufferPointer { pb in
                viaSGEMM.withUnsafeMutableBufferPointer { pc in
                    sgemm(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: t.alpha, a: pa.baseAddress!,
                          lda: ops.lda, b: pb.baseAddress!, ldb: ops.ldb, beta: t.beta, c: pc.baseAddress!, ldc: ops.ldc,
                          cpu: cpu)
                }
            }
        }
        let software = cpu.bf16Path == .software
        #expect((bits == viaSGEMM.map(\.bitPattern)) == software, "\(cpu) -> \(cpu.bf16Path)")
    }
}

@Test func threadingIsRepeatableAndCallingThreadEqualsOneThread() {
    for cpu in runnable {
        let path = cpu.bf16Path
        for t in [Case(m: 64, n: 3000, k: 300), Case(m: 700, n: 129, k: 257, transA: .transposed, transB: .transposed)] {
            let ops = Operands(t, seed: 11)
            let one = Parallelism.withThreadCount(1) { ops.bf16(cpu) }
            let calling = Parallelism.withThreadCount(3) { ops.bf16(cpu, threading: .callingThread) }
            #expect(one.map(\.bitPattern) == calling.map(\.bitPattern), "\(path) \(t)")
            for threads in [2, 3] {
                let first = Parallelism.withThreadCount(threads) { ops.bf16(cpu) }
                let second = Parallelism.withThreadCount(threads) { ops.bf16(cpu) }
                #expect(first.map(\.bitPattern) == second.map(\.bitPattern), "\(path) \(t) \(threads) threads")
                #expect(ops.worstRatio(first, rounded: true) <= 1, "\(path) \(t) \(threads) threads")
            }
        }
    }
}

@Test(.enabled(if: allocation_counter_installed() != 0, allocationCounterAbsence))
func steadyStateCallsDoNotAllocate() {
    for cpu in runnable {
        let path = cpu.bf16Path
        for t in [Case(m: 64, n: 500, k: 300), Case(m: 33, n: 17, k: 129, transA: .transposed, transB: .transposed)] {
            let ops = Operands(t)
            var c = ops.c0
            let fewest = ops.a.withUnsafeBufferPointer { pa in
                ops.b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        Parallelism.withThreadCount(1) {
                            fewestAllocations(seconds: 10) {
                                bf16gemm(transA: t.transA, transB: t.transB, m: t.m, n: t.n, k: t.k, alpha: 1,
                                         a: pa.baseAddress!, lda: ops.lda, b: pb.baseAddress!, ldb: ops.ldb, beta: 0,
                                         c: pc.baseAddress!, ldc: ops.ldc, cpu: cpu)
                            }
                        }
                    }
                }
            }
            #expect(fewest == 0, "\(path) \(t): a steady-state call allocated at least \(fewest) times")
        }
    }
}

/// Bit patterns where rounding is delicate: ties (low half 0x8000) with even and odd kept bits,
/// just below and above ties, the largest finite values (which round to infinity), subnormals,
/// zeros, infinities, quiet and signalling NaNs with payloads in either half, both signs.
private let delicatePatterns: [UInt32] = {
    var bits: [UInt32] = []
    for sign: UInt32 in [0, 0x8000_0000] {
        for high: UInt32 in [0x0000, 0x0001, 0x0002, 0x007F, 0x0080, 0x0081, 0x3F80, 0x3F81, 0x7F7F, 0x7F7E, 0x7F80, 0x7F81, 0x7FC0, 0x7FFF] {
            for low: UInt32 in [0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF] {
                bits.append(sign | high << 16 | low)
            }
        }
    }
    var rng = SeededGenerator(seed: 42)
    for _ in 0..<4096 { bits.append(UInt32(truncatingIfNeeded: rng.next())) }
    while bits.count % 32 != 0 { bits.append(0x3F80_8000) }
    return bits
}()

/// VCVTNE2PS2BF16 rounds as roundedToBF16 on every input but fp32 subnormals, which it treats as
/// zero (Intel SDM: denormal inputs are flushed, keeping the sign); roundedToBF16 rounds them
/// like any other value. The kernels' packers round in integer arithmetic (the test below), so
/// every path packs roundedToBF16's bits; this test pins the one place the instruction differs.
@Test(.enabled(if: BF16Path.avx512bf16.isAvailable, Comment(rawValue: noAVX512BF16)))
func roundedToBF16MatchesTheHardwareConversionButForSubnormals() {
    let x = delicatePatterns.map { Float(bitPattern: $0) }
    var hardware = [UInt16](repeating: 0, count: x.count)
    x.withUnsafeBufferPointer { px in
        hardware.withUnsafeMutableBufferPointer { fm_bf16_convert_hardware(px.baseAddress!, $0.baseAddress!, x.count) }
    }
    var mismatches: [String] = []
    var subnormals = 0, ties = 0, nans = 0
    for (i, v) in x.enumerated() {
        let soft = UInt16(roundedToBF16(v).bitPattern >> 16)
        let want = v.isSubnormal ? UInt16(v.bitPattern >> 16) & 0x8000 : soft
        if v.isSubnormal { subnormals += 1 }
        if v.isNaN { nans += 1 }
        if v.isNormal && v.bitPattern & 0xFFFF == 0x8000 { ties += 1 }
        if want != hardware[i] { mismatches.append(String(format: "%08x: expected %04x, hardware %04x", v.bitPattern, want, hardware[i])) }
    }
    #expect(mismatches.isEmpty, "\(mismatches.count) of \(x.count): \(mismatches.prefix(12).joined(separator: "; "))")
    #expect(subnormals >= 20 && ties >= 10 && nans >= 10, "the patterns cover subnormals, ties and NaNs")
}

/// The packers round as roundedToBF16 does (every pattern above, through fm_bf16_pack_pairs
/// with lanes contiguous and with K contiguous, and fm_bf16_round_floats).
@Test(.enabled(if: BF16Path.avx512bf16.isAvailable, Comment(rawValue: noAVX512BF16)))
func packersRoundAsRoundedToBF16() {
    let x = delicatePatterns.map { Float(bitPattern: $0) }
    let want = x.map { UInt16(roundedToBF16($0).bitPattern >> 16) }
    let lanes = 16, kc = x.count / lanes
    var packed = [UInt16](repeating: 0, count: x.count)
    // K contiguous: lane l is x[l * kc ..< (l + 1) * kc]; packed[q][l][2].
    x.withUnsafeBufferPointer { px in
        packed.withUnsafeMutableBufferPointer { fm_bf16_pack_pairs(px.baseAddress!, kc, 1, lanes, kc, kc, 16, $0.baseAddress!) }
    }
    var kContiguous = true, lanesContiguous = true
    for l in 0..<lanes { for p in 0..<kc where packed[(p / 2 * lanes + l) * 2 + p % 2] != want[l * kc + p] { kContiguous = false } }
    // Lanes contiguous: X[l, p] = x[p * lanes + l].
    x.withUnsafeBufferPointer { px in
        packed.withUnsafeMutableBufferPointer { fm_bf16_pack_pairs(px.baseAddress!, 1, lanes, lanes, kc, kc, 16, $0.baseAddress!) }
    }
    for l in 0..<lanes { for p in 0..<kc where packed[(p / 2 * lanes + l) * 2 + p % 2] != want[p * lanes + l] { lanesContiguous = false } }
    var floats = x
    floats.withUnsafeMutableBufferPointer { fm_bf16_round_floats($0.baseAddress!, x.count) }
    #expect(kContiguous && lanesContiguous)
    #expect(floats.map { UInt16($0.bitPattern >> 16) } == want && floats.allSatisfy { $0.bitPattern & 0xFFFF == 0 })
}
