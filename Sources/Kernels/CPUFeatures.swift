import Foundation
import KernelsC

/// The instruction-set extensions the kernels may use: what the CPU reports (read once, from
/// `__builtin_cpu_supports` in KernelsC), limited by the `FEATUREMAPS_CPU` environment variable.
///
/// The Swift code is compiled for the platform's baseline (SSE2 on x86-64, NEON on arm64): no
/// package that depends on this one by version may pass CPU flags. Every kernel that uses a newer
/// extension is C with a function target attribute, called only when these features allow it.
///
/// `FEATUREMAPS_CPU` is read here and nowhere else. Its levels, lowest first:
/// - `portable`: no extension at all (the Swift SIMD GEMM kernel, Swift GELU, the panel
///   convolutions, im2col weight gradients, bf16 products on the software path): what arm64
///   runs, forced on any machine.
/// - `avx2`: AVX2 + FMA where the CPU has it (the C forms of the Swift GEMM kernel and of GELU,
///   same bits), and no AVX-512: what AVX2-only x86-64 runs.
/// - `avx512`: also AVX-512F/VL where the CPU has it, and nothing newer (bf16 products on the
///   software path, over the AVX-512 fp32 kernel).
/// - `avx512bf16`: also AVX512-BF16 (bf16 products on VDPBF16PS), but no AMX.
/// - `amx`, or unset: everything the CPU reports and the OS allows (bf16 products on AMX tiles
///   where permitted).
/// A level never adds what the CPU lacks. `FEATUREMAPS_GEMM_KERNEL=swift`, the variable's former
/// name, still means `portable`.
public struct CPUFeatures: Sendable, Equatable, CustomStringConvertible {
    /// AVX2 and FMA: the C forms of the portable GEMM micro-kernel and of GELU.
    public var avx2: Bool
    /// AVX-512F and AVX-512VL: the GEMM micro-kernel and every AVX-512 convolution kernel.
    public var avx512: Bool
    /// AVX512_BF16 (bfloat16 dot products, VDPBF16PS): `bf16gemm`'s AVX512-BF16 path.
    public var avx512bf16: Bool
    /// AMX-TILE as the CPU reports it (informational; `amxBF16` is what the kernels check).
    public var amxTile: Bool
    /// AMX usable for bf16 products: the CPU reports AMX-TILE and AMX-BF16 *and* the OS granted
    /// this process tile state (on Linux `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`,
    /// asked once, when `detected` is first read). False where it was refused.
    public var amxBF16: Bool
    /// AVX512-BF16's dot products do at least as many multiply-adds per second as fp32 FMAs, so
    /// bf16 products are worth their rounding: measured once, when `detected` is first read
    /// (`bf16DotProductRatio`). It is not so everywhere: on an AMD Zen 4 the bf16 kernels trained
    /// VGG at 1,666 img/s against fp32's 1,200, but on an Intel Xeon (family 6 model 207) whose
    /// AMX was hidden VDPBF16PS did 0.48 times the FMAs' multiply-adds and bf16 training was
    /// 29-45% slower than fp32 (Conv2dDispatch.choose). Where this is false, bf16 products take the
    /// software path over the fp32 kernels (`bf16Path`) and the convolutions their fp32 methods.
    /// The initialiser sets it to `avx512bf16`.
    public var fastBF16DotProducts: Bool

    /// A feature set; everything off by default (the portable code). `fastBF16DotProducts`
    /// follows `avx512bf16`.
    public init(avx2: Bool = false, avx512: Bool = false, avx512bf16: Bool = false, amxTile: Bool = false,
                amxBF16: Bool = false) {
        self.avx2 = avx2; self.avx512 = avx512; self.avx512bf16 = avx512bf16; self.amxTile = amxTile; self.amxBF16 = amxBF16
        self.fastBF16DotProducts = avx512bf16
    }

    /// No extensions: the code every supported CPU runs.
    public static let portable = CPUFeatures()

    /// What this CPU reports, whatever the environment says; AMX only once the OS allowed it.
    public static let detected: CPUFeatures = {
        let bits = fm_cpu_features()
        let amxFlags = bits & FM_CPU_AMX_TILE != 0 && bits & FM_CPU_AMX_BF16 != 0 && bits & FM_CPU_AVX512 != 0
        // The permission is process-wide and requested only here, once; a refusal leaves the
        // AVX512-BF16 path.
        let amxGranted = amxFlags && fm_amx_request_permission() == 1
        var cpu = CPUFeatures(avx2: bits & FM_CPU_AVX2 != 0, avx512: bits & FM_CPU_AVX512 != 0, avx512bf16: bits & FM_CPU_AVX512_BF16 != 0,
                              amxTile: bits & FM_CPU_AMX_TILE != 0, amxBF16: amxGranted)
        if let ratio = bf16DotProductRatio { cpu.fastBF16DotProducts = ratio >= 1 }
        return cpu
    }()

    /// Multiply-adds per second of VDPBF16PS over those of fp32 FMAs on one thread of this CPU
    /// (nil without AVX512-BF16): the best of 5 interleaved rounds of KernelsC's two peak loops
    /// (24 independent zmm accumulators each, about 0.3 ms a round). Measured once. The two sides
    /// are far apart on the CPUs measured (0.48 on an Intel Xeon 6/207; Zen 4: see
    /// Docs/KERNELS.md), so the comparison with 1 in `detected` does not flip on a busy machine.
    /// It calls the C loops directly: `bf16PeakLoop` and `fp32PeakLoop` check `detected`, which
    /// is being made when this runs.
    public static let bf16DotProductRatio: Double? = {
        let bits = fm_cpu_features()
        guard bits & FM_CPU_AVX512_BF16 != 0 && bits & FM_CPU_AVX512 != 0 else { return nil }
        var sink: Float = 0
        var bestBF16 = Double.infinity, bestFP32 = Double.infinity
        let iterations = 20_000
        for _ in 0 ..< 5 {
            var start = DispatchTime.now().uptimeNanoseconds
            let bf16Flops = fm_bf16_peak_avx512bf16(iterations, &sink)
            var end = DispatchTime.now().uptimeNanoseconds
            bestBF16 = min(bestBF16, Double(end - start) / bf16Flops)
            start = DispatchTime.now().uptimeNanoseconds
            let fp32Flops = fm_fp32_peak_avx512(iterations, &sink)
            end = DispatchTime.now().uptimeNanoseconds
            bestFP32 = min(bestFP32, Double(end - start) / fp32Flops)
        }
        return bestFP32 / bestBF16
    }()

    /// What the kernels use: `detected` limited by `FEATUREMAPS_CPU`. Fixed for the process, so
    /// every call of a given shape takes the same path and gives the same bits.
    public static let enabled: CPUFeatures = {
        let environment = ProcessInfo.processInfo.environment
        var level = environment["FEATUREMAPS_CPU"]
        if level == nil && environment["FEATUREMAPS_GEMM_KERNEL"] == "swift" { level = "portable" }
        guard let level else { return detected }
        return detected.limited(to: level)
    }()

    /// The names `limited(to:)` (and `FEATUREMAPS_CPU`) accept, lowest first.
    public static let levels = ["portable", "avx2", "avx512", "avx512bf16", "amx"]

    /// These features capped at the level `name` (one of `levels`). An unknown name leaves them
    /// as they are and says so once on standard error (a misspelt switch must not silently
    /// measure the wrong code).
    public func limited(to name: String) -> CPUFeatures {
        switch name {
        case "portable": return .portable
        case "avx2": return CPUFeatures(avx2: avx2)
        case "avx512": return CPUFeatures(avx2: avx2, avx512: avx512)
        case "avx512bf16":
            var capped = self
            capped.amxTile = false; capped.amxBF16 = false
            return capped
        case "amx": return self
        default:
            FileHandle.standardError.write(Data(
                "featuremaps: FEATUREMAPS_CPU=\(name) is not one of \(Self.levels.joined(separator: ", ")); using \(self)\n".utf8))
            return self
        }
    }

    /// The code `bf16gemm` runs on these features, best first: AMX tiles, then AVX512-BF16
    /// dot products where they outpace fp32 FMAs (`fastBF16DotProducts`), else the software
    /// path (operands rounded to bf16, fp32 kernels).
    package var bf16Path: BF16Path {
        guard let unit = bf16Unit, unit == .amx || fastBF16DotProducts else { return .software }
        return unit
    }

    /// The CPU's best bf16 unit whether or not `bf16Path` uses it (AMX tiles, else AVX512-BF16),
    /// nil without one: what `featuremaps bench` measures as the bf16 peak.
    package var bf16Unit: BF16Path? {
        guard avx512 else { return nil }
        if amxBF16 { return .amx }
        return avx512bf16 ? .avx512bf16 : nil
    }

    /// The extensions by name, for messages: "avx2 avx512 avx512bf16", or "portable".
    public var description: String {
        let names = [(avx2, "avx2"), (avx512, "avx512"), (avx512bf16, fastBF16DotProducts ? "avx512bf16" : "avx512bf16(slow)"),
                     (amxTile, "amx-tile"), (amxBF16, "amx-bf16")]
            .filter(\.0).map(\.1)
        return names.isEmpty ? "portable" : names.joined(separator: " ")
    }
}
