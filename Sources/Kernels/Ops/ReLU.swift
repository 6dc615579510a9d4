// Rectified linear unit, elementwise on any shape.
//
//   y = max(x, 0)                 dx = dy * [x > 0]
//
// The backward reads the forward's output (y > 0 exactly when x > 0), so a layer only keeps y.
// NaN inputs stay NaN (x > 0 is false for NaN, and max is written so NaN propagates, as in PyTorch).

/// y = max(x, 0), into `y` (resized like `x`).
public func reluForward(_ x: Tensor, into y: inout Tensor) {
    y.resize(like: x)
    x.withUnsafeBufferPointer { xp in
    y.withUnsafeMutableBufferPointer { yp in
        let src = xp.baseAddress!, dst = yp.baseAddress!
        parallelFor(elementChunks(x.count)) { chunks in
            for i in elementRange(chunks, count: x.count) {
                let v = src[i]
                dst[i] = v < 0 ? 0 : v
            }
        }
    }}
}

/// dx = dy where the forward output was positive, else 0 (into `dx`, resized like `dy`).
public func reluBackward(output y: Tensor, gradOutput dy: Tensor, into dx: inout Tensor) {
    precondition(y.shape == dy.shape, "relu backward: output \(y.shape) and gradient \(dy.shape) differ")
    dx.resize(like: dy)
    y.withUnsafeBufferPointer { yp in
    dy.withUnsafeBufferPointer { gp in
    dx.withUnsafeMutableBufferPointer { dp in
        let out = yp.baseAddress!, g = gp.baseAddress!, d = dp.baseAddress!
        parallelFor(elementChunks(dy.count)) { chunks in
            for i in elementRange(chunks, count: dy.count) {
                d[i] = out[i] > 0 ? g[i] : 0
            }
        }
    }}}
}

/// max(x, 0) elementwise. Allocating convenience over `reluForward`.
public func relu(_ x: Tensor) -> Tensor {
    var y = Tensor.empty
    reluForward(x, into: &y)
    return y
}

/// Elementwise ops split their elements into blocks of this many for `parallelFor`,
/// so small tensors run on one thread and large ones on all.
let elementBlock = 1 << 15

/// The number of `elementBlock`-sized blocks covering `count` elements.
@inline(__always) func elementChunks(_ count: Int) -> Int { (count + elementBlock - 1) / elementBlock }

/// The element indices covered by a range of blocks.
@inline(__always) func elementRange(_ blocks: Range<Int>, count: Int) -> Range<Int> {
    (blocks.lowerBound * elementBlock)..<min(count, blocks.upperBound * elementBlock)
}
