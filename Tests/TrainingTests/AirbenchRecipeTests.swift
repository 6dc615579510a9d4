import Foundation
import Testing
import Kernels
import Training

@Suite struct AirbenchRecipeTests {
    @Test func presetIsAirbench94sHyperParameters() {
        let o = TrainingOptions.preset(for: "airbench")
        #expect(o.recipe == .airbench && o.batchSize == 1024 && o.epochs == 9.9)
        #expect(o.learningRate == 11.5 && o.weightDecay == 0.0153 && o.momentum == 0.85 && o.labelSmoothing == 0.2)
        #expect(o.schedule == .triangle && o.warmup == 0.23 && o.tta)
        #expect(o.validationEvery == 10 && o.validationLimit == 2_000)
        #expect(TrainingOptions.preset(for: "seed").recipe == .reference)
    }

    @Test func ratesAndGroupsAreAirbenchs() throws {
        // kilostep = 1024 (1 + 1/0.15) = 7850.67; lr = 11.5 / kilostep; wd = 0.0153 x 1024 / kilostep.
        let o = TrainingOptions.preset(for: "airbench")
        let (lr, wd) = AirbenchRecipe.rates(o)
        let kilostep = 1024 * (1 + 1 / 0.15)
        #expect(abs(Double(lr) - 11.5 / kilostep) < 1e-9)
        #expect(abs(Double(wd) - 0.0153 * 1024 / kilostep) < 1e-9)
        let net = ModelZoo.airbench(seed: 0)
        let sgd = AirbenchRecipe.optimizer(for: net, options: o)
        #expect(sgd.momentum == 0.85 && sgd.nesterov)
        let names = Dictionary(uniqueKeysWithValues: net.namedParameters.map { (ObjectIdentifier($0.parameter), $0.name) })
        let groups = sgd.groups.map { $0.parameters.map { names[ObjectIdentifier($0)]! } }
        #expect(groups[0] == (2 ... 4).flatMap { ["\($0).norm1.bias", "\($0).norm2.bias"] })
        #expect(groups[1] == ["0.bias"] + (2 ... 4).flatMap { ["\($0).conv1.weight", "\($0).conv2.weight"] } + ["7.weight"])
        // Decoupled: every group decays by lr x wd / lr = wd per unit of the schedule.
        #expect(sgd.groups[0].learningRateScale == 64 && sgd.groups[1].learningRateScale == 1)
        for g in sgd.groups { #expect(abs(lr * g.learningRateScale * g.weightDecay - wd) < 1e-9) }
    }

    @Test func settingsTheRecipeCannotUseAreRefused() {
        var o = TrainingOptions.preset(for: "airbench")
        o.optimizer = .adam
        #expect(Fixture.message { try o.validate() }.contains("optimizer"))
        o = TrainingOptions.preset(for: "airbench")
        o.momentum = 1
        #expect(Fixture.message { try o.validate() }.contains("momentum"))
        o = TrainingOptions.preset(for: "airbench")
        o.learningRate = 0
        #expect(Fixture.message { try o.validate() }.contains("learningRate"))
    }

    func smallOptions() -> TrainingOptions {
        var o = TrainingOptions.preset(for: "airbench")
        o.batchSize = 32
        o.epochs = 4.5           // 4 steps per epoch: 18 steps, the last epoch half
        o.validation = 32
        o.validationEvery = 3
        o.threads = 2
        o.seed = 3
        return o
    }

    @Test func shortRunFollowsTheRecipeAndReportsBothAccuracies() throws {
        let data = syntheticData(train: 160, test: 40)
        let o = smallOptions()
        let folder = try Fixture.temporaryFolder().path
        let result = try Trainer(options: o, data: data, outputFolder: folder).run()
        let report = try #require(result.report)
        #expect(result.records.count == 5 && report.steps == 18 && report.trainingImages == 128)
        // Validation every 3 steps and at each epoch end (step 18 is both: once).
        #expect(report.trace.map(\.step) == [3, 4, 6, 8, 9, 12, 15, 16, 18])
        #expect(report.whiteningSeconds > 0 && report.forwardFLOPsPerImage > 0 && report.testTimeAugmentation == .mirrorTranslate)
        let loaded = try Classifier.load(path: folder + "/model.safetensors")
        #expect(loaded.normalization == AirbenchRecipe.normalization)
        let (accuracy, plain, _) = evaluate(loaded, on: data.test, tta: .mirrorTranslate)
        #expect(accuracy == result.testAccuracy && plain == result.plainTestAccuracy)
        // Whitening weights are not the identity any more; batch-norm scales stayed 1.
        let whitening = try #require(loaded.network.namedParameters.first { $0.name == "0.weight" }?.parameter.value)
        #expect(whitening != ModelZoo.airbench(seed: 3).namedParameters[0].parameter.value)
        for (name, p) in loaded.network.namedParameters where name.hasSuffix("norm1.weight") {
            #expect(p.value.storage.allSatisfy { $0 == 1 })
        }
        let json = try String(contentsOfFile: folder + "/run.json", encoding: .utf8)
        #expect(json.contains("\"effective_gflops\"") && json.contains("\"training_seconds_to_94\""))
    }

    @Test func resumedRunEqualsUninterruptedRun() throws {
        // The lookahead average and the step count travel in the checkpoint.
        let data = syntheticData(train: 160, test: 40)
        let o = smallOptions()
        let straight = try Fixture.temporaryFolder().path
        let a = try Trainer(options: o, data: data, outputFolder: straight).run()
        let stopped = try Fixture.temporaryFolder().path
        let (result, sessions) = try StopAt([[2, 3], [4, 4]]).runResuming(o, data, stopped)
        #expect(sessions == 3)
        let modelA = try Safetensors.read(path: straight + "/model.safetensors")
        let modelB = try Safetensors.read(path: stopped + "/model.safetensors")
        for ((_, x), (_, y)) in zip(modelA.tensors, modelB.tensors) { #expect(x == y) }
        #expect(a.testAccuracy == result.testAccuracy && a.plainTestAccuracy == result.plainTestAccuracy)
        #expect(a.report?.trace.map(\.accuracy) == result.report?.trace.map(\.accuracy))
    }
}
