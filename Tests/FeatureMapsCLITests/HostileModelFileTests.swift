import Foundation
import Testing
import Kernels
import Training

/// Every subcommand that opens a model file refuses a hostile one with one line naming the
/// file and the reason, and exit status 1: no trap, no huge allocation.
@Suite struct HostileModelFileTests {
    /// Hostile variants of a valid tiny model, each in its own file, with the reason expected.
    static func hostileModels() throws -> [(path: String, reason: String)] {
        let classifier = try Classifier(architecture: "c4k3p1,bn,relu,mp4,fc10", seed: 1)
        var tensors = classifier.namedTensors
        let good = Safetensors.encode(tensors: tensors, metadata: classifier.metadata)
        let headerLength = good.prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) }
        let header = String(decoding: good[8 ..< 8 + headerLength], as: UTF8.self)
        let name = tensors[0].name
        func replacing(_ old: String, _ new: String) -> [UInt8] {
            // Same-length edits keep the header length and the data where they were.
            precondition(old.utf8.count == new.utf8.count && header.contains(old))
            return Array(good.prefix(8)) + Array(header.replacingOccurrences(of: old, with: new).utf8) + Array(good[(8 + headerLength)...])
        }
        var values = tensors[0].tensor.storage
        values[0] = .nan
        tensors[0].tensor = Tensor(shape: tensors[0].tensor.shape, storage: values)
        var absurd = good
        absurd[7] = 0x80
        let folder = try Scratch.folder()
        let cases: [(String, [UInt8], String)] = [
            ("length", absurd, "not a safetensors file (header length 92233720368547"),
            ("past-end", Array(good.prefix(good.count / 2)), "truncated"),
            ("dtype", replacing("\"dtype\":\"F32\"", "\"dtype\":\"F16\""), "has dtype F16; only F32 is supported"),
            ("architecture", replacing("\"architecture\":\"c4k3p1,", "\"architecture\":\"x4k3p1,"), "architecture \"x4k3p1,bn,relu,mp4,fc10\" cannot be built"),
            ("nan", Safetensors.encode(tensors: tensors, metadata: classifier.metadata), "tensor \(name) holds 1 NaN or infinite values"),
        ]
        return try cases.map { file, bytes, reason in
            let path = folder + "/\(file).safetensors"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return (path, reason)
        }
    }

    @Test(.enabled(if: executable != nil, "the featuremaps executable is not built beside the tests"))
    func evaluatePredictExplainAndExploreRefuseThemInOneLine() throws {
        let cifar = try Scratch.cifar(records: 4)
        let photo = try Scratch.photo(try Scratch.folder() + "/p.png")
        let out = try Scratch.folder()
        for (path, reason) in try Self.hostileModels() {
            for command in [["evaluate", "--model", path, "--data", cifar, "--records-per-file", "4", "-o", out],
                            ["predict", "--model", path, photo],
                            ["explain", "--model", path, "-o", out, photo],
                            ["explore", "--model", path, "-o", out, photo]] {
                let run = try featuremaps(command)
                #expect(run.status == 1, "\(command[0]) \(path): exit \(run.status)")
                #expect(run.errLines.count == 1 && run.err.hasPrefix("featuremaps: \(path): ") && run.err.contains(reason),
                        "\(command[0]): \(run.err)")
            }
        }
    }
}
