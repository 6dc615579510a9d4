import Foundation
import Testing
import Kernels
import Training

@Suite struct SafetensorsTests {
    @Test func roundTripKeepsNamesShapesValuesAndMetadata() throws {
        let a = Tensor(shape: [2, 3, 1, 1], storage: [1, -2, 3.5, .pi, -0, 1e-30])
        let b = Tensor(shape: [3], storage: [7, 8, 9])
        let path = try Fixture.temporaryFolder().appendingPathComponent("m.safetensors").path
        try Safetensors.write(tensors: [("conv1.weight", a), ("conv1.bias", b)], metadata: ["architecture": "seed", "mean": "[0.5, 0.25, 0.125]"], to: path)
        let back = try Safetensors.read(path: path)
        #expect(back.tensors.map(\.name) == ["conv1.weight", "conv1.bias"])
        #expect(back["conv1.weight"] == a)
        #expect(back["conv1.bias"] == b)
        #expect(back.metadata == ["architecture": "seed", "mean": "[0.5, 0.25, 0.125]"])
    }

    @Test func headerFollowsTheFormat() throws {
        let bytes = Safetensors.encode(tensors: [("w", Tensor(shape: [2, 2], storage: [1, 2, 3, 4])), ("b", Tensor(shape: [1], storage: [5]))], metadata: ["k": "v"])
        let n = bytes[0 ..< 8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        #expect((8 + n) % 8 == 0)
        #expect(bytes.count == 8 + n + 20)
        let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8 ..< 8 + n])) as? [String: Any])
        let w = try #require(header["w"] as? [String: Any])
        #expect(w["dtype"] as? String == "F32")
        #expect(w["shape"] as? [Int] == [2, 2])
        #expect(w["data_offsets"] as? [Int] == [0, 16])
        #expect((header["b"] as? [String: Any])?["data_offsets"] as? [Int] == [16, 20])
        #expect(header["__metadata__"] as? [String: String] == ["k": "v"])
        // Little-endian float32 data: 1.0 is 00 00 80 3f.
        #expect(Array(bytes[8 + n ..< 8 + n + 4]) == [0, 0, 0x80, 0x3f])
    }

    @Test func readsAFileWrittenByPython() throws {
        let contents = try Safetensors.read(path: Fixture.path("tiny.safetensors"))
        #expect(contents["conv.weight"] == Tensor(shape: [2, 1, 1, 2], storage: [1, -2.5, 0.125, 3]))
        #expect(contents["conv.bias"] == Tensor(shape: [2], storage: [0.5, -0.75]))
        #expect(contents.metadata["architecture"] == "test")
    }

    @Test func badFilesGiveClearErrors() throws {
        let folder = try Fixture.temporaryFolder()
        let good = try Data(contentsOf: URL(fileURLWithPath: Fixture.path("tiny.safetensors")))
        let cut = folder.appendingPathComponent("cut.safetensors")
        try good.prefix(good.count - 3).write(to: cut)
        #expect(Fixture.message { _ = try Safetensors.read(path: cut.path) }.contains("truncated"))
        let png = folder.appendingPathComponent("photo.safetensors")
        try Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]).write(to: png)
        #expect(Fixture.message { _ = try Safetensors.read(path: png.path) }.contains("not a safetensors file"))
        let short = folder.appendingPathComponent("short.safetensors")
        try Data([1, 2]).write(to: short)
        #expect(Fixture.message { _ = try Safetensors.read(path: short.path) }.contains("short.safetensors"))
    }

    /// A valid tiny model's bytes, the base of the hostile files below.
    static func tinyModel() throws -> (bytes: [UInt8], names: [String]) {
        let classifier = try Classifier(architecture: "c4k3p1,bn,relu,mp4,fc10", seed: 1)
        return (Safetensors.encode(tensors: classifier.namedTensors, metadata: classifier.metadata), classifier.namedTensors.map(\.name))
    }

    /// The one-line error `bytes` give when decoded as file `name`.
    static func refusal(_ bytes: [UInt8], _ name: String = "hostile.safetensors") -> String {
        Fixture.message { _ = try Safetensors.decode(bytes, named: name) }
    }

    @Test func headerLengthsPastTheFileOrAbsurdAreRefused() throws {
        let (good, _) = try Self.tinyModel()
        for length: UInt64 in [UInt64(good.count), 1 << 32, 1 << 63, UInt64.max] {
            var bytes = good
            for i in 0 ..< 8 { bytes[i] = UInt8(truncatingIfNeeded: length >> (8 * UInt64(i))) }
            let message = Self.refusal(bytes)
            #expect(message.hasPrefix("hostile.safetensors: "), "\(length)")
            #expect(message.contains("\(length)"), "\(message)")
            #expect(!message.contains("\n"))
        }
    }

    @Test func offsetsOutOfRangeOrOverlappingAreRefused() throws {
        let (good, names) = try Self.tinyModel()
        let first = names[0], second = names[1]
        let a = try HostileFile.offsets(good, first), b = try HostileFile.offsets(good, second)
        let dataSize = try HostileFile.split(good).data.count
        let cases: [(String, [UInt8], String)] = [
            ("begin after end", try HostileFile.editedTensor(good, first) { $0["data_offsets"] = [a[1], a[0]] }, "not a range"),
            ("negative begin", try HostileFile.editedTensor(good, first) { $0["data_offsets"] = [-4, a[1] - a[0] - 4] }, "not a range"),
            ("end past the data", try HostileFile.editedTensor(good, first) { $0["data_offsets"] = [dataSize, dataSize + a[1] - a[0]] }, "truncated"),
            ("shared bytes", try HostileFile.editedTensor(good, second) { $0["data_offsets"] = [a[0], a[0] + b[1] - b[0]] }, "share data bytes"),
            ("end beyond 64 bits", try HostileFile.editedTensor(good, first) { $0["data_offsets"] = [0, UInt64.max] }, "lacks dtype, shape or data_offsets"),
        ]
        for (what, bytes, reason) in cases {
            let message = Self.refusal(bytes)
            #expect(message.hasPrefix("hostile.safetensors: ") && message.contains(reason), "\(what): \(message)")
        }
    }

    @Test func badDtypesAndShapesAreRefusedBeforeAllocating() throws {
        let (good, names) = try Self.tinyModel()
        let name = names[0]
        let f16 = try HostileFile.editedTensor(good, name) { $0["dtype"] = "F16" }
        #expect(Self.refusal(f16).contains("tensor \(name) has dtype F16; only F32 is supported"))
        let overflowing = try HostileFile.editedTensor(good, name) { $0["shape"] = [1 << 40, 1 << 40] }
        #expect(Self.refusal(overflowing).contains("more elements than a 64-bit size can count"))
        let negative = try HostileFile.editedTensor(good, name) { $0["shape"] = [-1, 4] }
        #expect(Self.refusal(negative).contains("negative dimension"))
        // A claimed 10 GB tensor in a file of a few kilobytes: refused from the header alone
        // (the data is read only after every entry is checked).
        let huge = try HostileFile.editedTensor(good, name) { $0["shape"] = [2_500_000_000]; $0["data_offsets"] = [0, 10_000_000_000] }
        let message = Self.refusal(huge)
        #expect(message.contains("truncated (tensor \(name) ends at data byte 10000000000"), "\(message)")
        let wrongSpan = try HostileFile.editedTensor(good, name) { $0["shape"] = [1] }
        #expect(Self.refusal(wrongSpan).contains("which do not span 4 bytes"))
    }

    @Test func malformedMetadataIsRefused() throws {
        let (good, _) = try Self.tinyModel()
        let nested = try HostileFile.edited(good) { $0["__metadata__"] = ["architecture": ["c4k3"]] }
        #expect(Self.refusal(nested).contains("__metadata__ must map strings to strings"))
        var broken = good
        broken[9] = UInt8(ascii: "[")
        #expect(Self.refusal(broken).contains("the header is not a JSON object"))
    }
}

