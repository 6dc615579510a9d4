import Kernels

/// Where a classifier looked in one image, for a set of classes: Grad-CAM maps at one layer
/// (Selvaraju et al. 2017) and plain gradient saliency maps (Simonyan et al. 2014).
///
/// Both come from one forward and one backward pass of the network's own layers (their
/// `backward`, in the evaluation-mode function: batch norms use their running statistics). The
/// score of class c is its logit y_c (before the softmax), as pytorch-grad-cam's
/// `ClassifierOutputTarget` takes it.
/// - Grad-CAM: A = the chosen module's output [C, H, W]; alpha_k = the mean over (i, j) of
///   dy_c/dA_k(i, j); map = ReLU(sum_k alpha_k A_k), [H, W], not normalised.
/// - Saliency: max over the input's channels of |dy_c/dx|, [H, W] of the network input (the
///   normalised tensor the classifier reads, not raw pixel values).
public struct GradCAM: Sendable {
    /// The module whose output is A.
    public let layer: String
    /// The classes explained, in the order asked.
    public let classes: [Int]
    /// A's shape without the batch: [C, H, W].
    public let activationShape: [Int]
    /// One Grad-CAM map per class, [H, W] at A's resolution, >= 0, not normalised.
    public let maps: [Tensor]
    /// One saliency map per class, [H, W] at the input's resolution, >= 0.
    public let saliency: [Tensor]
}

/// A module of a classifier whose output is a stack of maps [C, H, W]: a layer Grad-CAM can use.
public struct GradCAMLayer: Sendable, Equatable {
    /// Its name in the network (the top-level module's PyTorch name: "conv2", "20").
    public let name: String
    /// Its type ("Conv2d", "BatchNorm2d", "ReLU", "ConvGroup", ...).
    public let kind: String
    /// Its output shape for one 32x32 image, without the batch: [C, H, W].
    public let shape: [Int]
    /// Whether it is or holds a convolution.
    public let isConvolution: Bool
}

extension Classifier {
    /// The network's top-level modules whose output for a 32x32 image is a stack of maps, in order.
    /// (One evaluation-mode forward pass of a blank image finds their shapes.)
    public func gradCAMLayers() -> [GradCAMLayer] {
        guard let sequential = network as? Sequential else { return [] }
        let wasTraining = network.training
        network.training = false
        defer { network.training = wasTraining }
        var h = Tensor(shape: [1, 3, CIFAR10.side, CIFAR10.side])
        var layers = [GradCAMLayer]()
        for child in sequential.children {
            h = child.layer(h)
            if h.rank == 4 {
                layers.append(GradCAMLayer(name: child.name, kind: String(describing: type(of: child.layer)),
                                           shape: Array(h.shape.dropFirst()), isConvolution: holdsConvolution(child.layer)))
            }
        }
        return layers
    }

    /// The default Grad-CAM layer: the last convolution's output after the batch norm and
    /// activation that follow it (the module pytorch-grad-cam users hook, a ReLU's output on VGG),
    /// so A is what the next stage reads. Nil when the network has no convolution.
    public func defaultGradCAMLayer() -> String? {
        let layers = gradCAMLayers()
        guard var index = layers.lastIndex(where: \.isConvolution) else { return nil }
        let elementwise: Set<String> = ["BatchNorm2d", "ReLU", "GELU"]
        while index + 1 < layers.count, elementwise.contains(layers[index + 1].kind) { index += 1 }
        return layers[index].name
    }

    /// Grad-CAM at `layer` and saliency maps of one image `input` ([1, 3, H, W], normalised as
    /// `inputTensor(for:)` makes it) for each of `classes` (indices into `classNames`).
    ///
    /// The image is repeated once per class and each copy gets the one-hot gradient of its class,
    /// so one batched forward and backward pass gives every class's gradients. The network's
    /// modes are restored afterwards; its parameters' `grad` are overwritten (they are scratch
    /// outside training). Throws `TrainingError.unknownLayer` for a name `gradCAMLayers()` lacks.
    public func gradCAM(for input: Tensor, classes: [Int], layer: String) throws -> GradCAM {
        precondition(input.rank == 4 && input.shape[0] == 1 && input.shape[1] == 3, "gradCAM: input must be [1, 3, H, W], got \(input.shape)")
        precondition(!classes.isEmpty && classes.allSatisfy { classNames.indices.contains($0) }, "gradCAM: classes \(classes) out of range")
        guard let sequential = network as? Sequential, let target = sequential.children.firstIndex(where: { $0.name == layer }) else {
            throw TrainingError.unknownLayer(name: layer, available: gradCAMLayers().map(\.name))
        }
        // Training mode keeps what backward needs; running statistics keep it the evaluated function.
        let (wasTraining, hadRunningStatistics, hadInputGradient) =
            (network.training, network.usesRunningStatistics, network.computesInputGradient)
        network.training = true
        network.usesRunningStatistics = true
        network.computesInputGradient = true
        defer {
            network.training = wasTraining
            network.usesRunningStatistics = hadRunningStatistics
            network.computesInputGradient = hadInputGradient
        }

        let k = classes.count
        var h = Tensor(shape: [k] + input.shape.dropFirst(), storage: Array([[Float]](repeating: input.storage, count: k).joined()))
        var activation = Tensor.empty
        // The children one by one (the container's fused steps give the same values) to see A.
        for (index, child) in sequential.children.enumerated() {
            h = child.layer(h)
            if index == target { activation = h }
        }
        guard activation.rank == 4 else {
            throw TrainingError.unknownLayer(name: layer, available: gradCAMLayers().map(\.name))
        }
        require(h.rank == 2, "gradCAM: the network's output is \(h.shape), not class scores")
        var g = Tensor(shape: h.shape)
        for (row, c) in classes.enumerated() { g.storage[row * h.shape[1] + c] = 1 }
        var gradActivation = Tensor.empty
        for (index, child) in sequential.children.enumerated().reversed() {
            if index == target { gradActivation = g }
            g = child.layer.backward(g)
        }

        let (channels, height, width) = (activation.shape[1], activation.shape[2], activation.shape[3])
        let plane = height * width
        var maps = [Tensor]()
        for row in 0 ..< k {
            var cam = [Double](repeating: 0, count: plane)
            for c in 0 ..< channels {
                let base = (row * channels + c) * plane
                var alpha = 0.0
                for i in 0 ..< plane { alpha += Double(gradActivation.storage[base + i]) }
                alpha /= Double(plane)
                for i in 0 ..< plane { cam[i] += alpha * Double(activation.storage[base + i]) }
            }
            maps.append(Tensor(shape: [height, width], storage: cam.map { Float(max($0, 0)) }))
        }
        let (inputHeight, inputWidth) = (input.shape[2], input.shape[3])
        let inputPlane = inputHeight * inputWidth
        let saliency = (0 ..< k).map { row in
            Tensor(shape: [inputHeight, inputWidth], storage: (0 ..< inputPlane).map { i in
                (0 ..< 3).map { abs(g.storage[(row * 3 + $0) * inputPlane + i]) }.max() ?? 0
            })
        }
        return GradCAM(layer: layer, classes: classes, activationShape: [channels, height, width], maps: maps, saliency: saliency)
    }
}

/// Whether `layer` is a convolution or a container holding one.
private func holdsConvolution(_ layer: any Layer) -> Bool {
    layer.layerTree.contains { $0 is Conv2d }
}
