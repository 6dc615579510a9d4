// Flatten all but the batch dimension, in storage order (torch.flatten(x, 1) on NCHW).
//
//   x [N, C, H, W]  ->  y [N, C*H*W]      y[n, (c*H + h)*W + w] = x[n,c,h,w]
//   dx = dy reshaped to [N, C, H, W]
//
// Both directions are a change of shape over the same storage: no element moves, nothing is copied.

/// x viewed as [N, product of the other dimensions].
public func flatten(_ x: Tensor) -> Tensor {
    require(x.rank >= 1, "flatten: a scalar has no batch dimension")
    return x.reshaped(to: [x.shape[0], x.count / max(1, x.shape[0])])
}

/// The gradient of `flatten`: dy viewed with the input's shape.
public func flattenBackward(gradOutput dy: Tensor, inputShape: [Int]) -> Tensor {
    dy.reshaped(to: inputShape)
}
