/// The training loss: softmax cross-entropy with optional label smoothing, averaged or summed
/// over the batch (PyTorch's `nn.CrossEntropyLoss(label_smoothing:, reduction:)`). Keeps the probabilities and the
/// arg-max of the last forward pass for accuracy, and reuses its buffers between steps.
public final class SoftmaxCrossEntropy {
    /// eps in q = (1 - eps) onehot + eps / K.
    public let labelSmoothing: Float
    /// Mean or sum over the batch.
    public let reduction: LossReduction
    /// softmax(logits) of the last forward pass, [N, K].
    public private(set) var probabilities = Tensor.empty
    /// The arg-max class of each row of the last forward pass (the first on ties).
    public private(set) var predictions: [Int] = []
    /// How many `predictions` equal their label.
    public private(set) var correctCount = 0

    private var labels: [Int] = []
    private var gradLogits = Tensor.empty

    /// A loss with label smoothing `labelSmoothing`, the mean over the batch unless `reduction` says otherwise.
    public init(labelSmoothing: Float = 0, reduction: LossReduction = .mean) {
        require(labelSmoothing >= 0 && labelSmoothing <= 1, "label smoothing must be in [0, 1]")
        self.labelSmoothing = labelSmoothing
        self.reduction = reduction
    }

    /// The loss (mean or sum by `reduction`) of `logits` [N, K] against `labels` (N values in 0..<K).
    public func forward(_ logits: Tensor, labels: [Int]) -> Float {
        let loss = softmaxCrossEntropyForward(logits: logits, labels: labels, labelSmoothing: labelSmoothing,
                                              reduction: reduction, probabilities: &probabilities)
        // Copied element by element into our own buffer: holding the caller's array would make
        // the caller's next in-place write to it copy.
        let n = labels.count, k = logits.shape[1]
        if self.labels.count != n {
            self.labels = [Int](repeating: 0, count: n)
            predictions = [Int](repeating: 0, count: n)
        }
        var correct = 0
        probabilities.withUnsafeBufferPointer { p in
            for row in 0..<n {
                var best = 0
                for j in 1..<k where p[row * k + j] > p[row * k + best] { best = j }
                predictions[row] = best
                self.labels[row] = labels[row]
                if best == labels[row] { correct += 1 }
            }
        }
        correctCount = correct
        return loss
    }

    /// Same as `forward(_:labels:)`.
    public func callAsFunction(_ logits: Tensor, labels: [Int]) -> Float {
        forward(logits, labels: labels)
    }

    /// dLoss/dLogits for the last forward pass, [N, K].
    public func backward() -> Tensor {
        softmaxCrossEntropyBackward(probabilities: probabilities, labels: labels, labelSmoothing: labelSmoothing,
                                    reduction: reduction, into: &gradLogits)
        return gradLogits
    }
}
