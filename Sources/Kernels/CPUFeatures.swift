import Foundation
import KernelsC

/// The instruction-set extensions the kernels may use: what the CPU reports (read once, from
/// `__builtin_cpu_supports` in KernelsC), limited by the `FEATUREMAPS_CPU` environment variable.
///
/// `FEATUREMAPS_CPU` is read here and nowhere else:
/// - `portable`: no AVX-512 at all (the Swift SIMD GEMM kernel, the panel convolutions, im2col
///   weight gradients): what AVX2-only x86-64 and arm64 run, forced on any machine.
/// - `avx512`: AVX-512F/VL where the CPU has it, and nothing newer.
/// - unset: everything the CPU reports. (`bf16` and `amx` are the levels to come, when kernels
///   for them exist.)
/// `FEATUREMAPS_GEMM_KERNEL=swift`, the variable's former name, still means `portable`.
public struct CPUFeatures: Sendable, Equatable, CustomStringConvertible {
    /// AVX-512F and AVX-512VL: the GEMM micro-kernel and every AVX-512 convolution kernel.
    public var avx512: Bool
    /// AVX512_BF16 (bfloat16 dot products). No kernel uses it yet.
    public var avx512bf16: Bool
    /// AMX-TILE as the CPU reports it. Linux also requires the process to ask for AMX state
    /// (`arch_prctl(ARCH_REQ_XCOMP_PERM)`) before use; no kernel uses it yet.
    public var amxTile: Bool

    /// A feature set; everything off by default (the portable code).
    public init(avx512: Bool = false, avx512bf16: Bool = false, amxTile: Bool = false) {
        self.avx512 = avx512; self.avx512bf16 = avx512bf16; self.amxTile = amxTile
    }

    /// No extensions: the code every supported CPU runs.
    public static let portable = CPUFeatures()

    /// What this CPU reports, whatever the environment says.
    public static let detected: CPUFeatures = {
        let bits = fm_cpu_features()
        return CPUFeatures(avx512: bits & FM_CPU_AVX512 != 0, avx512bf16: bits & FM_CPU_AVX512_BF16 != 0,
                           amxTile: bits & FM_CPU_AMX_TILE != 0)
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

    /// These features capped at the level `name` (`portable` or `avx512`). An unknown name
    /// leaves them as they are and says so once on standard error (a misspelt switch must not
    /// silently measure the wrong code).
    func limited(to name: String) -> CPUFeatures {
        switch name {
        case "portable": return .portable
        case "avx512": return CPUFeatures(avx512: avx512)
        default:
            FileHandle.standardError.write(Data(
                "featuremaps: FEATUREMAPS_CPU=\(name) is not one of portable, avx512; using \(self)\n".utf8))
            return self
        }
    }

    /// The extensions by name, for messages: "avx512 avx512bf16", or "portable".
    public var description: String {
        let names = [(avx512, "avx512"), (avx512bf16, "avx512bf16"), (amxTile, "amx-tile")].filter(\.0).map(\.1)
        return names.isEmpty ? "portable" : names.joined(separator: " ")
    }
}
