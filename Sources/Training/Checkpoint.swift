import Foundation
import Kernels

/// The checkpoint file: a safetensors file (so it is atomic, self-describing and readable by
/// the same code as the model) holding the model under "model.<name>", the optimiser state
/// under "optimizer.<name>", the lookahead average (airbench) under "lookahead.<name>", and in its metadata the run's options, the position in the run
/// (epoch, step), the data-order generator, the running sums of the epoch and the records so far,
/// and the number of processes that trained it ("ranks": a data-parallel run resumes only with
/// as many, since the shards of a batch and the order of the gradient sums depend on it).
enum Checkpoint {
    static func save(_ state: RunState, to path: String, options: TrainingOptions, ranks: Int = 1, classifier: Classifier, optimizer: any Optimizer,
                     lookahead: Lookahead?) throws {
        var tensors = classifier.namedTensors.map { ("model.\($0.name)", $0.tensor) }
        tensors += optimizer.state.map { ("optimizer.\($0.name)", $0.tensor) }
        tensors += (lookahead?.average ?? []).map { ("lookahead.\($0.name)", $0.tensor) }
        var metadata = classifier.metadata
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        metadata["options"] = String(decoding: try encoder.encode(options), as: UTF8.self)
        metadata["records"] = String(decoding: try encoder.encode(state.records), as: UTF8.self)
        metadata["epoch"] = "\(state.epoch)"
        metadata["step"] = "\(state.step)"
        metadata["global_step"] = "\(state.globalStep)"
        metadata["whitening_seconds"] = "\(state.whiteningSeconds)"
        metadata["evaluation_seconds"] = "\(state.evaluationSeconds)"
        metadata["trace"] = String(decoding: try encoder.encode(state.trace), as: UTF8.self)
        metadata["rng"] = state.rng.state.map(String.init).joined(separator: ",")
        metadata["loss_sum"] = "\(state.lossSum)"
        metadata["correct"] = "\(state.correct)"
        metadata["seen"] = "\(state.seen)"
        metadata["epoch_seconds"] = "\(state.epochSeconds)"
        metadata["training_seconds"] = "\(state.trainingSeconds)"
        metadata["last_learning_rate"] = "\(state.lastLearningRate)"
        metadata["ranks"] = "\(ranks)"
        try Safetensors.write(tensors: tensors, metadata: metadata, to: path)
    }

    static func restore(from path: String, options: TrainingOptions, ranks: Int = 1, classifier: Classifier, optimizer: any Optimizer,
                        lookahead: Lookahead?) throws -> RunState {
        try restore(Safetensors.decode(bytes(at: path), named: path), source: path, options: options, ranks: ranks, classifier: classifier,
                    optimizer: optimizer, lookahead: lookahead)
    }

    /// The checkpoint file's bytes (`TrainingError.noCheckpoint` when there is none).
    static func bytes(at path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw TrainingError.noCheckpoint(path: path)
        }
        do {
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw TrainingError.file(path: path, reason: "cannot be read (\(error.localizedDescription))")
        }
    }

    /// Restores from a checkpoint's decoded contents; `path` names it in errors. Separate from the
    /// file so the fuzz target (Fuzz/) can feed it bytes without writing a file per input.
    static func restore(_ contents: Safetensors.Contents, source path: String, options: TrainingOptions, ranks: Int = 1, classifier: Classifier,
                        optimizer: any Optimizer, lookahead: Lookahead?) throws -> RunState {
        let meta = contents.metadata
        guard let saved = meta["options"].flatMap({ savedOptions(from: $0) }) else {
            throw TrainingError.file(path: path, reason: "not a train-cifar checkpoint (no readable options)")
        }
        // Checkpoints from before data-parallel training were made by one process.
        guard let savedRanks = Int(meta["ranks"] ?? "1") else {
            throw TrainingError.file(path: path, reason: "checkpoint metadata has an unreadable process count (ranks)")
        }
        var mismatches = differences(saved, options)
        if savedRanks != ranks { mismatches.append(SettingDifference(name: "ranks", then: "\(savedRanks)", now: "\(ranks)")) }
        guard mismatches.isEmpty else {
            throw TrainingError.checkpointMismatch(path: path, differences: mismatches)
        }
        var model = [(name: String, tensor: Tensor)]()
        var optimizerState = [String: Tensor]()
        var lookaheadState = [String: Tensor]()
        for (name, tensor) in contents.tensors {
            if name.hasPrefix("model.") { model.append((String(name.dropFirst(6)), tensor)) }
            if name.hasPrefix("optimizer.") { optimizerState[String(name.dropFirst(10))] = tensor }
            if name.hasPrefix("lookahead.") { lookaheadState[String(name.dropFirst(10))] = tensor }
        }
        try classifier.load(Safetensors.Contents(tensors: model, metadata: [:]), source: path)
        do {
            try optimizer.restore(state: optimizerState)
            try lookahead?.restore(lookaheadState)
        } catch TrainingError.optimizerState(let reason) {
            throw TrainingError.file(path: path, reason: "optimiser state \(reason)")
        }
        let words = (meta["rng"] ?? "").split(separator: ",").compactMap { UInt64($0) }
        guard let rng = TrainingRandom(state: words),
              let epoch = meta["epoch"].flatMap({ Int($0) }), let step = meta["step"].flatMap({ Int($0) }),
              let records = meta["records"].flatMap({ try? JSONDecoder().decode([EpochRecord].self, from: Data($0.utf8)) }) else {
            throw TrainingError.file(path: path, reason: "checkpoint metadata incomplete (rng, epoch, step or records)")
        }
        var state = RunState(rng: rng)
        state.epoch = epoch
        state.step = step
        state.records = records
        state.lossSum = meta["loss_sum"].flatMap { Double($0) } ?? 0
        state.correct = meta["correct"].flatMap { Int($0) } ?? 0
        state.seen = meta["seen"].flatMap { Int($0) } ?? 0
        state.epochSeconds = meta["epoch_seconds"].flatMap { Double($0) } ?? 0
        state.trainingSeconds = meta["training_seconds"].flatMap { Double($0) } ?? 0
        state.lastLearningRate = meta["last_learning_rate"].flatMap { Double($0) } ?? 0
        state.whiteningSeconds = meta["whitening_seconds"].flatMap { Double($0) } ?? 0
        state.evaluationSeconds = meta["evaluation_seconds"].flatMap { Double($0) } ?? 0
        state.trace = meta["trace"].flatMap { try? JSONDecoder().decode([ValidationPoint].self, from: Data($0.utf8)) } ?? []
        guard let globalStep = meta["global_step"].flatMap({ Int($0) }) else {
            throw TrainingError.file(path: path, reason: "checkpoint metadata incomplete (global_step)")
        }
        state.globalStep = globalStep
        return state
    }

    /// The options a checkpoint's metadata records. Checkpoints written before the precision
    /// was recorded trained in fp32, the only precision there was, so a missing one reads as
    /// fp32; before synchronised batch norm, as false.
    private static func savedOptions(from json: String) -> TrainingOptions? {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] else { return nil }
        if object["precision"] == nil { object["precision"] = Precision.fp32.rawValue }
        // Likewise synchronised batch norm, which came with data-parallel training.
        if object["syncBatchNorm"] == nil { object["syncBatchNorm"] = false }
        guard let data = try? JSONSerialization.data(withJSONObject: object) else { return nil }
        return try? JSONDecoder().decode(TrainingOptions.self, from: data)
    }

    private static func differences(_ a: TrainingOptions, _ b: TrainingOptions) -> [SettingDifference] {
        zip(Mirror(reflecting: a).children, Mirror(reflecting: b).children).compactMap { x, y in
            let (then, now) = ("\(x.value)", "\(y.value)")
            return then == now ? nil : SettingDifference(name: x.label ?? "?", then: then, now: now)
        }
    }
}
