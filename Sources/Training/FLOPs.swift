import Kernels

/// Multiply-adds x 2 of the convolutions and linear layers of `network` for one 3x32x32 image,
/// found by running one image through the layers in order (so every layer's input size is
/// known) and counting from each convolution's and linear layer's output. Containers are
/// walked (a residual block also adds its input); other layers count nothing.
public func forwardFLOPs(of network: any Layer) -> Double {
    let wasTraining = network.training
    network.training = false
    defer { network.training = wasTraining }
    var flops = 0.0
    _ = countFLOPs(network, Tensor(shape: [1, 3, 32, 32]), &flops)
    return flops
}

private func countFLOPs(_ layer: any Layer, _ x: Tensor, _ flops: inout Double) -> Tensor {
    switch layer {
    case let residual as Residual:
        var y = countFLOPs(residual.body, x, &flops)
        for i in 0 ..< y.count { y.storage[i] += x.storage[i] }
        return y
    case let conv as Conv2d:
        let y = conv(x)
        flops += 2 * Double(y.count) * Double(conv.inChannels * conv.kernelSize * conv.kernelSize)
        return y
    case let linear as Linear:
        let y = linear(x)
        flops += 2 * Double(y.count) * Double(linear.inFeatures)
        return y
    case let container as any LayerContainer:
        return container.sublayers.reduce(x) { countFLOPs($1, $0, &flops) }
    default:
        return layer(x)
    }
}
