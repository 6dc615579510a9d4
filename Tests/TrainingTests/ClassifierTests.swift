import Foundation
import Testing
import Kernels
import Training

/// Model files someone else made: each is refused by `Classifier.load` with one line naming the
/// file and the reason, never a trap or a huge allocation.
@Suite struct ClassifierTests {
    static let architecture = "c4k3p1,bn,relu,mp4,fc10"

    /// A valid tiny model: its tensors, metadata and file bytes.
    static func tiny() throws -> (tensors: [(name: String, tensor: Tensor)], metadata: [String: String], bytes: [UInt8]) {
        let classifier = try Classifier(architecture: architecture, seed: 1)
        let tensors = classifier.namedTensors, metadata = classifier.metadata
        return (tensors, metadata, Safetensors.encode(tensors: tensors, metadata: metadata))
    }

    /// The one-line error of loading `bytes` as model file m.safetensors.
    static func refusal(_ bytes: [UInt8]) -> String {
        Fixture.message { _ = try Classifier.load(Safetensors.decode(bytes, named: "m.safetensors"), source: "m.safetensors") }
    }

    @Test func theValidTinyModelLoads() throws {
        let loaded = try Classifier.load(Safetensors.decode(Self.tiny().bytes, named: "m.safetensors"), source: "m.safetensors")
        #expect(loaded.architecture == Self.architecture)
    }

    @Test func tensorsThatDoNotFitTheArchitectureAreRefused() throws {
        let (tensors, metadata, _) = try Self.tiny()
        let first = tensors[0]
        let missing = Safetensors.encode(tensors: Array(tensors.dropFirst()), metadata: metadata)
        #expect(Self.refusal(missing).hasPrefix("m.safetensors: lacks tensor \(first.name)"))
        let extra = Safetensors.encode(tensors: tensors + [("head.weight", Tensor(shape: [2], storage: [1, 2]))], metadata: metadata)
        #expect(Self.refusal(extra).hasPrefix("m.safetensors: holds tensor head.weight"))
        var reshaped = tensors
        reshaped[0].tensor = Tensor(shape: [first.tensor.count], storage: first.tensor.storage)
        #expect(Self.refusal(Safetensors.encode(tensors: reshaped, metadata: metadata))
            .hasPrefix("m.safetensors: tensor \(first.name) has shape [\(first.tensor.count)]; architecture \"\(Self.architecture)\" expects \(first.tensor.shape)"))
    }

    @Test func nanOrInfiniteWeightsAreRefused() throws {
        let (tensors, metadata, _) = try Self.tiny()
        for (index, bad) in [(0, Float.nan), (1, Float.infinity), (tensors.count - 1, -Float.infinity)] {
            var poisoned = tensors
            var values = poisoned[index].tensor.storage
            values[values.count / 2] = bad
            poisoned[index].tensor = Tensor(shape: poisoned[index].tensor.shape, storage: values)
            let message = Self.refusal(Safetensors.encode(tensors: poisoned, metadata: metadata))
            #expect(message == "m.safetensors: tensor \(tensors[index].name) holds 1 NaN or infinite values of \(values.count); the model cannot be used",
                    "\(bad): \(message)")
        }
    }

    @Test func unknownOrHugeArchitecturesAreRefusedBeforeBuilding() throws {
        let (_, _, bytes) = try Self.tiny()
        let cases: [(String, String)] = [
            ("resnet9000", "m.safetensors: architecture \"resnet9000\" cannot be built: model spec \"resnet9000\": cannot read"),
            ("c99999999999999999999k3,fc10", "cannot be built"),
            ("c9999999k3p1,fc10", "of at most \(ModelSpec.maximumNumber)"),
            // Would allocate about 51 GB of weights: refused from the file's size alone.
            ("c65536k255p128,gap,fc10", "architecture \"c65536k255p128,gap,fc10\" has 12785156106 weights; the file holds"),
            ("c65536k3p65536,fc65536,fc10", "has more than 2^63 weights"),
        ]
        for (architecture, expected) in cases {
            let hostile = try HostileFile.editedMetadata(bytes) { $0["architecture"] = architecture }
            let message = Self.refusal(hostile)
            #expect(message.contains(expected), "\(architecture): \(message)")
            #expect(message.hasPrefix("m.safetensors: ") && !message.contains("\n"))
        }
        let noArchitecture = try HostileFile.editedMetadata(bytes) { $0["architecture"] = nil }
        #expect(Self.refusal(noArchitecture).contains("no \"architecture\" in the safetensors metadata"))
    }

    @Test func malformedMetadataValuesAreRefused() throws {
        let (_, _, bytes) = try Self.tiny()
        let cases: [(String, String?, String)] = [
            ("classes", "[\"a\", ", "metadata \"classes\" missing or not a JSON array"),
            ("classes", "[1, 2]", "metadata \"classes\" must hold 10 strings"),
            ("mean", "{}", "metadata \"mean\" missing or not a JSON array"),
            ("std", "[0, 1, 1]", "metadata std must be positive"),
            ("validation_split", "{", "not a readable split record"),
            ("training_precision", "fp8", "metadata \"training_precision\" is \"fp8\""),
        ]
        for (key, value, expected) in cases {
            let hostile = try HostileFile.editedMetadata(bytes) { $0[key] = value }
            let message = Self.refusal(hostile)
            #expect(message.hasPrefix("m.safetensors: ") && message.contains(expected), "\(key): \(message)")
        }
    }
}
