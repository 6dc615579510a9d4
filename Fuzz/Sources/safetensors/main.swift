import FuzzSupport
import Training

/// One input: the bytes of a model file. Safetensors.decode checks the header and offsets, then
/// Classifier.load the metadata (architecture, classes, normalisation, split, precision) and every
/// tensor against the architecture. Every outcome but a crash (or an allocation past the fuzzer's
/// limit: a file must not make the reader allocate far more than its size) is fine.
/// The seeds: a tiny model and a residual one, written by Classifier.save.
fuzzMain(writeSeeds: { folder in
    for (name, architecture) in [("tiny", "c4k3p1,bn,relu,mp4,fc10"), ("residual", "c4k3p1,res(c4k3p1,bn,relu),gap,fc10")] {
        let classifier = try Classifier(architecture: architecture, seed: 1, classNames: CIFAR10.classNames,
                                        normalization: Normalization(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]))
        try classifier.save(to: "\(folder)/\(name).safetensors")
    }
}) { data, size in
    guard let contents = try? Safetensors.decode(fuzzBytes(data, size), named: "fuzz") else { return 0 }
    if let classifier = try? Classifier.load(contents, source: "fuzz") {
        precondition(classifier.classNames.count == 10)
    }
    return 0
}
