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
}
