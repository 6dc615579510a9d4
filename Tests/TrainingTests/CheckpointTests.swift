import Foundation
import Testing
import Kernels
import Training

/// A checkpoint from someone else (or damaged) is refused on --resume with one line naming it.
@Suite struct CheckpointTests {
    @Test func hostileCheckpointsAreRefusedOnResume() throws {
        let (o, data, folder) = try stoppedTinyRun("c4k3p1,bn,relu,mp4,fc10")
        let path = folder + "/checkpoint.safetensors"
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let (header, body) = try HostileFile.split(good)
        let weight = try #require(header.keys.sorted().first { $0.hasPrefix("model.") && $0.hasSuffix(".weight") })
        let begin = try HostileFile.offsets(good, weight)[0]
        var poisoned = body
        for i in 0 ..< 4 { poisoned[begin + i] = [0x00, 0x00, 0xC0, 0x7F][i] }  // a NaN
        var absurd = good
        absurd[7] = 0x80  // a header length of 2^63 plus a little
        let cases: [(String, [UInt8], String)] = [
            ("NaN weight", try HostileFile.join(header, poisoned), "tensor \(weight.dropFirst(6)) holds 1 NaN or infinite values"),
            ("absurd header length", absurd, "is implausible"),
            ("overlap", try HostileFile.editedTensor(good, weight) { $0["data_offsets"] = try? HostileFile.offsets(good, "model.0.bias") }, "data_offsets"),
        ]
        for (what, bytes, expected) in cases {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let message = Fixture.message { _ = try Trainer(options: o, data: data, outputFolder: folder).run(resume: true) }
            #expect(message.hasPrefix(path + ": ") && message.contains(expected), "\(what): \(message)")
        }
        // The good checkpoint still resumes to the end.
        try Data(good).write(to: URL(fileURLWithPath: path))
        #expect(try !Trainer(options: o, data: data, outputFolder: folder).run(resume: true).interrupted)
    }
}
