// The parallel loop shared by the elementwise ops (ReLU, GELU, residual add): blocks of
// `elementBlock` elements split statically across threads, so small tensors run on one thread
// and the result never depends on the thread count.

/// Elementwise ops split their elements into blocks of this many for `parallelFor`.
let elementBlock = 1 << 15

/// y[i] = f(x[i]) for every element, into `y` (resized like `x`).
@inline(__always)
func mapElements(_ x: Tensor, into y: inout Tensor, _ f: (Float) -> Float) {
    y.resize(like: x)
    let count = x.count
    x.withUnsafeBufferPointer { xp in
    y.withUnsafeMutableBufferPointer { yp in
        let src = xp.baseAddress!, dst = yp.baseAddress!
        parallelFor((count + elementBlock - 1) / elementBlock) { blocks in
            for i in (blocks.lowerBound * elementBlock)..<min(count, blocks.upperBound * elementBlock) {
                dst[i] = f(src[i])
            }
        }
    }}
}

/// y[i] = f(a[i], b[i]) for every element of two tensors of one shape, into `y` (resized like `a`).
@inline(__always)
func zipElements(_ a: Tensor, _ b: Tensor, into y: inout Tensor, _ f: (Float, Float) -> Float) {
    require(a.shape == b.shape, "elementwise op: shapes \(a.shape) and \(b.shape) differ")
    y.resize(like: a)
    let count = a.count
    a.withUnsafeBufferPointer { ap in
    b.withUnsafeBufferPointer { bp in
    y.withUnsafeMutableBufferPointer { yp in
        let pa = ap.baseAddress!, pb = bp.baseAddress!, dst = yp.baseAddress!
        parallelFor((count + elementBlock - 1) / elementBlock) { blocks in
            for i in (blocks.lowerBound * elementBlock)..<min(count, blocks.upperBound * elementBlock) {
                dst[i] = f(pa[i], pb[i])
            }
        }
    }}}
}
