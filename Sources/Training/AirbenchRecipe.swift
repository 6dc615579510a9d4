import Foundation
import Kernels

/// The training recipe a run follows besides its hyper-parameters.
public enum Recipe: String, Sendable, Codable, CaseIterable {
    /// The PyTorch reference recipe of the seed and VGG presets: mean loss, one SGD group with
    /// L2 decay, crop + flip, inputs normalised by the training images' statistics.
    case reference
    /// airbench94's recipe (`AirbenchRecipe`).
    case airbench
}

/// The fixed parts of airbench94's recipe (Keller Jordan's airbench, PyPI 0.1.8, `utils.train`),
/// the decisions `Recipe.airbench` stands for. The hyper-parameters a user may change (learning
/// rate, weight decay, momentum, batch, epochs, label smoothing, schedule) are `TrainingOptions`.
///
/// - Loss: cross-entropy with label smoothing, summed over the batch.
/// - Optimiser: SGD (Nesterov in the preset); the learning rate and weight decay are given per 1,024 examples
///   and converted as airbench does: with kilostep = 1024 (1 + 1 / (1 - momentum)),
///   lr = learningRate / kilostep and wd = weightDecay x batch / kilostep; each group's
///   PyTorch weight decay is wd / (its lr), so the decay per step, lr x schedule x (wd / lr) x p,
///   does not depend on the group's rate (decoupled). Batch-norm biases train at 64 x lr.
/// - The whitening layer's weights come from the first 5,000 training images before training
///   and never train; its bias trains in the first 3 epochs only. Batch-norm scales never train.
/// - Lookahead every 5 steps (`Lookahead`); the trained model is the average.
/// - Augmentation `AlternatingFlipTranslate`; only full batches (drop_last), and the run
///   stops after ceil(steps per epoch x epochs) steps, so epochs may be fractional.
/// - Inputs normalised by airbench's fixed CIFAR-10 statistics.
/// - Test-time augmentation `TestTimeAugmentation.mirrorTranslate`.
public enum AirbenchRecipe {
    /// Batch-norm biases train at this multiple of the learning rate.
    public static let biasLearningRateScale: Float = 64
    /// Epochs in which the whitening bias trains (then frozen).
    public static let whiteningBiasEpochs = 3
    /// Training images whose patches give the whitening weights.
    public static let whiteningImages = 5_000
    /// The examples the learning rate and weight decay are given per.
    public static let examplesPerRate: Float = 1024
    /// airbench's input normalisation (utils.CIFAR_MEAN, CIFAR_STD).
    public static let normalization = Normalization(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])

    /// lr and wd of the decoupled form (see the type's comment) for `options`.
    public static func rates(_ options: TrainingOptions) -> (learningRate: Float, weightDecay: Float) {
        let kilostep = examplesPerRate * (1 + 1 / (1 - options.momentum))
        return (options.learningRate / kilostep, options.weightDecay * Float(options.batchSize) / kilostep)
    }

    /// The optimiser over `ModelZoo.airbenchParameterGroups`: batch-norm biases at 64 x lr,
    /// every other trainable parameter at lr, each group's weight decay wd / its rate; frozen
    /// parameters are left out, as airbench leaves out those without requires_grad.
    public static func optimizer(for network: any Layer, options: TrainingOptions) -> SGD {
        let (lr, wd) = rates(options)
        let (normBiases, others) = ModelZoo.airbenchParameterGroups(network)
        let biasRate = lr * biasLearningRateScale
        return SGD(groups: [
            ParameterGroup(normBiases.map(\.parameter), learningRateScale: biasLearningRateScale, weightDecay: wd / biasRate),
            ParameterGroup(others.map(\.parameter), weightDecay: wd / lr),
        ], momentum: options.momentum, nesterov: options.nesterov)
    }

    /// The whitening layer of an airbench network (its first child).
    public static func whiteningLayer(of network: any Layer) -> Conv2d? {
        (network as? Sequential)?.children.first?.layer as? Conv2d
    }

    /// Sets the whitening weights from the first `whiteningImages` images of `train`,
    /// normalised by `assembler` as the network sees them.
    public static func whiten(_ network: any Layer, from train: CIFARSplit, assembler: BatchAssembler) {
        guard let layer = whiteningLayer(of: network) else { return }
        var images = Tensor(shape: [0])
        var labels = [Int]()
        assembler.fill(&images, labels: &labels, from: train, indices: Array(0 ..< min(whiteningImages, train.count))[...])
        layer.weight.value = whiteningWeights(images: images, kernelSize: layer.kernelSize)
    }
}
