import FuzzSupport
@testable import Training

/// The run every input is restored into: a tiny network, SGD with momentum, and a lookahead
/// average, so every section of a checkpoint (model., optimizer., lookahead., metadata) is read.
private func freshRun() -> (TrainingOptions, Classifier, any Optimizer, Lookahead) {
    var options = TrainingOptions()
    options.model = "c4k3p1,bn,relu,mp4,fc10"
    guard let classifier = try? Classifier(architecture: options.model, seed: 1) else { fatalError("the tiny model must build") }
    let optimizer = SGD(parameters: classifier.network.namedParameters.map(\.parameter), momentum: 0.9, nesterov: true)
    return (options, classifier, optimizer, Lookahead(classifier.network))
}

/// One input: the bytes of checkpoint.safetensors given to `train-cifar --resume`. Every outcome
/// but a crash is fine. The seed: a checkpoint of `freshRun` written by Checkpoint.save.
fuzzMain(writeSeeds: { folder in
    let (options, classifier, optimizer, lookahead) = freshRun()
    var state = RunState(rng: TrainingRandom(seed: 7))
    state.epoch = 1
    state.step = 3
    state.globalStep = 9
    try Checkpoint.save(state, to: "\(folder)/checkpoint.safetensors", options: options, classifier: classifier,
                        optimizer: optimizer, lookahead: lookahead)
}) { data, size in
    guard let contents = try? Safetensors.decode(fuzzBytes(data, size), named: "fuzz") else { return 0 }
    let (options, classifier, optimizer, lookahead) = freshRun()
    _ = try? Checkpoint.restore(contents, source: "fuzz", options: options, classifier: classifier,
                                optimizer: optimizer, lookahead: lookahead)
    return 0
}
