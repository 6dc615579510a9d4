/// Max pooling with a square window (PyTorch's `nn.MaxPool2d(kernelSize, stride)`, no padding):
/// [N,C,H,W] -> [N,C,floor((H-k)/s)+1,floor((W-k)/s)+1]. The backward pass routes each gradient to its window's arg-max.
public final class MaxPool2d: Layer {
    /// Window size and step.
    public let kernelSize: Int, stride: Int
    /// Training mode (see `Layer.training`).
    public var training = true
    private var inputShape: [Int] = []
    private var argmax: [Int32] = []
    private var output = Tensor.empty
    private var gradInput = Tensor.empty
    private var appliedReLU = false

    /// `stride` defaults to `kernelSize`, as in PyTorch.
    public init(kernelSize: Int, stride: Int? = nil) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        require(kernelSize > 0 && self.stride > 0, "MaxPool2d: kernel size and stride must be positive")
    }

    /// None: the layer has no parameters.
    public var namedParameters: [(name: String, parameter: Parameter)] { [] }

    /// Forward pass (see `Layer`).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        forward(x, applyingReLU: false)
    }

    /// The pool of max(x, 0) when `applyingReLU` (`Sequential` runs a ReLU and the MaxPool2d
    /// after it this way); the next `backward` then returns the gradient of the ReLU's input.
    func forward(_ x: Tensor, applyingReLU: Bool) -> Tensor {
        maxPool2dForward(x, kernelSize: kernelSize, stride: stride, applyingReLU: applyingReLU,
                         into: &output, argmax: &argmax)
        if x.shape != inputShape { inputShape = x.shape }
        appliedReLU = applyingReLU
        return output
    }

    /// Backward pass for the last forward pass (see `Layer`).
    public func backward(_ gradOutput: Tensor) -> Tensor {
        maxPool2dBackward(gradOutput: gradOutput, argmax: argmax, inputShape: inputShape,
                          kernelSize: kernelSize, stride: stride, reluOutput: appliedReLU ? output : nil,
                          into: &gradInput)
        return gradInput
    }
}

/// Average pooling with a square window (PyTorch's `nn.AvgPool2d(kernelSize, stride)`, no padding).
public final class AvgPool2d: Layer {
    /// Window size and step.
    public let kernelSize: Int, stride: Int
    /// Training mode (see `Layer.training`).
    public var training = true
    private var inputShape: [Int] = []
    private var output = Tensor.empty
    private var gradInput = Tensor.empty

    /// `stride` defaults to `kernelSize`, as in PyTorch.
    public init(kernelSize: Int, stride: Int? = nil) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        require(kernelSize > 0 && self.stride > 0, "AvgPool2d: kernel size and stride must be positive")
    }

    /// None: the layer has no parameters.
    public var namedParameters: [(name: String, parameter: Parameter)] { [] }

    /// Forward pass (see `Layer`).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        avgPool2dForward(x, kernelSize: kernelSize, stride: stride, into: &output)
        inputShape = x.shape
        return output
    }

    /// Backward pass for the last forward pass (see `Layer`).
    public func backward(_ gradOutput: Tensor) -> Tensor {
        avgPool2dBackward(gradOutput: gradOutput, kernelSize: kernelSize, stride: stride,
                          inputShape: inputShape, into: &gradInput)
        return gradInput
    }
}

/// The mean of each channel: [N,C,H,W] -> [N,C] (PyTorch's `AdaptiveAvgPool2d(1)` then `Flatten()`).
public final class GlobalAvgPool2d: Layer {
    /// Training mode (see `Layer.training`).
    public var training = true
    private var inputShape: [Int] = []
    private var output = Tensor.empty
    private var gradInput = Tensor.empty

    /// A layer without parameters.
    public init() {}

    /// None: the layer has no parameters.
    public var namedParameters: [(name: String, parameter: Parameter)] { [] }

    /// Forward pass (see `Layer`).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        globalAvgPool2dForward(x, into: &output)
        inputShape = x.shape
        return output
    }

    /// Backward pass for the last forward pass (see `Layer`).
    public func backward(_ gradOutput: Tensor) -> Tensor {
        globalAvgPool2dBackward(gradOutput: gradOutput, inputShape: inputShape, into: &gradInput)
        return gradInput
    }
}

/// [N, C, H, W] (or any [N, ...]) -> [N, C*H*W] in storage order, like `torch.flatten(x, 1)` on NCHW.
/// A change of shape only: the output shares the input's storage.
public final class Flatten: Layer {
    /// Training mode (see `Layer.training`).
    public var training = true
    private var inputShape: [Int] = []
    private var outputShape: [Int] = []

    /// A layer without parameters.
    public init() {}

    /// None: the layer has no parameters.
    public var namedParameters: [(name: String, parameter: Parameter)] { [] }

    /// Forward pass (see `Layer`).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        // The output shape is rebuilt only when the input shape changes: no array per step.
        if x.shape != inputShape {
            inputShape = x.shape
            outputShape = flatten(x).shape
        }
        return x.reshaped(to: outputShape)
    }

    /// Backward pass for the last forward pass (see `Layer`).
    public func backward(_ gradOutput: Tensor) -> Tensor {
        flattenBackward(gradOutput: gradOutput, inputShape: inputShape)
    }
}
