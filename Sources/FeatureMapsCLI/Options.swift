import ArgumentParser
import FeatureMaps
import Foundation
import Kernels
import Training

/// `--threads N`, for every subcommand that runs kernels: one help text, one check.
public struct ThreadOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Threads to use (default: every core); results are reproducible for a given count.",
                               valueName: "n"))
    var threads: Int?

    public init() {}

    public func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// The count given, else every active core.
    public var count: Int { threads ?? ProcessInfoCores.active }

    /// Runs `body` with `count` kernel threads (a scope, so nothing global changes).
    func scoped<R>(_ body: () throws -> R) rethrows -> R {
        try Parallelism.withThreadCount(count, body)
    }
}

/// `--data PATH` (else `$CIFAR10_DIR`), for every subcommand that reads CIFAR-10: the one place
/// the command line decides where the data set is.
public struct CIFARDataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("CIFAR-10 binary folder or cifar-10-binary.tar.gz (default: $CIFAR10_DIR).",
                               valueName: "path"))
    var data: String?

    /// The official files hold 10,000 records each; the tests' small fixtures hold fewer.
    @Option(help: .hidden)
    var recordsPerFile = CIFAR10.recordsPerFile

    public init() {}

    public func validate() throws {
        if recordsPerFile < 1 { throw ValidationError("--records-per-file must be at least 1") }
    }

    /// How to get the data, for the messages below.
    static let whereToGetIt = "download the CIFAR-10 binary version from \(CIFAR10.downloadURL) (162 MB) and pass --data PATH "
        + "(the .tar.gz as downloaded, or the folder \(CIFAR10.archiveFolder) unpacked from it), "
        + "or set the environment variable CIFAR10_DIR to that path"

    /// `--data`, else `CIFAR10_DIR` from `environment`; a one-line failure saying where to get
    /// the data when neither is given or the path does not exist.
    public func resolvedPath(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        let (path, origin): (String, String)
        if let data, !data.isEmpty {
            (path, origin) = (data, "--data")
        } else if let env = environment["CIFAR10_DIR"], !env.isEmpty {
            (path, origin) = (env, "CIFAR10_DIR")
        } else {
            throw CommandFailure("no CIFAR-10 data given: \(Self.whereToGetIt)")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw CommandFailure("\(path) (from \(origin)) does not exist: \(Self.whereToGetIt)")
        }
        return path
    }

    /// Reads both splits from the resolved path.
    func load() throws -> CIFAR10Data {
        try CIFAR10.load(from: resolvedPath(), recordsPerFile: recordsPerFile)
    }
}

/// `-o, --out FOLDER`, for every subcommand that writes files.
public struct OutputOptions: ParsableArguments {
    @Option(name: [.short, .long], help: ArgumentHelp("Output folder, created if missing.", valueName: "folder"))
    var out = "Output"

    public init() {}

    /// `name` inside the output folder.
    func path(_ name: String) -> String { (out as NSString).appendingPathComponent(name) }
}

/// `--shard I/N`, for the explorer: the one place the command line reads and checks a part of a
/// batch; the library's `Shard` says which inputs it takes.
public struct ShardOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Process only part I of N of the inputs found (every N-th, from the I-th; 1 <= I <= N), "
                               + "as in a SLURM array: --shard $SLURM_ARRAY_TASK_ID/8.", valueName: "I/N"))
    var shard: String?

    public init() {}

    public func validate() throws { _ = try chosen }

    /// The part given, nil when the flag is absent; a usage error naming the flag otherwise.
    var chosen: Shard? {
        get throws {
            guard let shard else { return nil }
            guard let value = Shard(parsing: shard) else {
                throw ValidationError("--shard must be I/N with 1 <= I <= N, as in 3/8 (part 3 of 8), not '\(shard)'")
            }
            return value
        }
    }
}

/// `--model FILE`: a trained model, for the subcommands that use one (evaluate, predict).
public struct ModelFileOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A model file written by train-cifar (its model.safetensors).", valueName: "file"))
    var model = "Output/model.safetensors"

    public init() {}
}

/// `--precision fp32|bf16`: the precision of the convolution and linear products, for the
/// subcommands that run a network (train-cifar, evaluate, predict, bench). The library speaks
/// `Precision`; this maps the flag to it.
public struct PrecisionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Products of convolutions and linear layers in fp32 or bf16 (bf16 operands, fp32 sums; "
                               + "batch norm, loss and weights stay fp32).", valueName: "fp32|bf16"))
    var precision: String?

    public init() {}

    public func validate() throws { _ = try chosen }

    /// The precision given, nil when the flag is absent; a usage error for another word.
    var chosen: Precision? {
        get throws {
            guard let precision else { return nil }
            return try Self.parse(precision, flag: "--precision")
        }
    }

    /// `word` as a precision; a usage error naming `flag` for another word.
    static func parse(_ word: String, flag: String) throws -> Precision {
        guard let value = Precision(rawValue: word) else {
            throw ValidationError("\(flag) must be one of \(Precision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    /// Runs `body` with the products in the precision given, else fp32 (a scope, nothing global).
    func scoped<R>(_ body: () throws -> R) throws -> R {
        try Precision.with(chosen ?? .fp32, body)
    }
}

/// The help of `--tta/--no-tta`, one text for train-cifar and evaluate.
let ttaHelp: ArgumentHelp = "Test-time augmentation: average the logits of several views of each image (the image and its mirror image; airbench: also shifted by one pixel, 6 views)."

/// The command line this process ran with, each argument quoted for a POSIX shell where it needs
/// it, leaving out the flags in `dropping`: what a report shows as the command that reproduces it.
public func reproducingCommand(_ arguments: [String] = CommandLine.arguments, dropping: Set<String> = []) -> String {
    let plain = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-./=:,+@%".unicodeScalars)
    return arguments.filter { !dropping.contains($0) }.map { argument in
        !argument.isEmpty && argument.unicodeScalars.allSatisfy(plain.contains) ? argument
            : "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }.joined(separator: " ")
}
