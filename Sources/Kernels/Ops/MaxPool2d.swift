import KernelsC

// 2-D max pooling (no padding), per image and channel.
//
//   x [N, C, H, W]  ->  y [N, C, Ho, Wo]      Ho = (H - k) / s + 1,  Wo = (W - k) / s + 1   (floor)
//
//   y[n,c,oy,ox]  = max_{i,j < k} x[n, c, oy*s + i, ox*s + j]
//   argmax[n,c,oy,ox] = the flat index (iy*W + ix) within the plane of the first maximum in row-major
//                       window order (a NaN counts as the maximum, so it propagates, as in PyTorch)
//
//   dx[n,c,iy,ix] = sum of dy[n,c,oy,ox] over the windows whose arg-max is (iy,ix)
//   (overlapping windows, s < k, can route several gradients to one pixel).

/// The pooled size of an `inSize` extent: floor((inSize - k) / s) + 1.
@inline(__always)
func pooledSize(_ inSize: Int, kernelSize k: Int, stride s: Int) -> Int {
    require(k >= 1 && s >= 1, "pooling: kernel size and stride must be >= 1")
    require(inSize >= k, "pooling: a \(k)x\(k) window does not fit an extent of \(inSize)")
    return (inSize - k) / s + 1
}

/// Max pooling of `x` [N,C,H,W] into `y` [N,C,Ho,Wo], recording each window's arg-max in
/// `argmax` (resized to y's element count; the index is within the input plane).
/// `applyingReLU` pools max(x, 0) instead (a ReLU followed by this pool): computed as
/// max(pool(x), 0) on the 4x smaller output, the same values (monotone; only a zero's sign can differ).
/// The 2x2 stride-2 window runs in C where the CPU has AVX2 or AVX-512 (the same values and arg-maxes).
public func maxPool2dForward(_ x: Tensor, kernelSize k: Int, stride s: Int, applyingReLU: Bool = false,
                             into y: inout Tensor, argmax: inout [Int32]) {
    maxPool2dForward(x, kernelSize: k, stride: s, applyingReLU: applyingReLU, into: &y, argmax: &argmax, cpu: .enabled)
}

/// `maxPool2dForward` on the paths `cpu` allows (tests compare the C and Swift forms; a
/// `package` overload so the public signature stays 0.1.0's).
package func maxPool2dForward(_ x: Tensor, kernelSize k: Int, stride s: Int, applyingReLU: Bool = false,
                              into y: inout Tensor, argmax: inout [Int32], cpu: CPUFeatures) {
    require(x.rank == 4, "max pool input must be [N,C,H,W], got \(x.shape)")
    let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
    require(h * w <= Int(Int32.max), "max pool: plane too large for 32-bit indices")
    let ho = pooledSize(h, kernelSize: k, stride: s), wo = pooledSize(w, kernelSize: k, stride: s)
    y.resize(n, c, ho, wo)
    if argmax.count != y.count { argmax = [Int32](repeating: 0, count: y.count) }
    x.withUnsafeBufferPointer { xp in
    y.withUnsafeMutableBufferPointer { yp in
    argmax.withUnsafeMutableBufferPointer { ap in
        let src = xp.baseAddress!, dst = yp.baseAddress!, arg = ap.baseAddress!
        parallelFor(n * c) { planes in
            if h == k && w == k && cpu.avx512 {
                // One window per plane: sixteen planes a vector step.
                let first = planes.lowerBound
                fm_max_pool_whole_planes_avx512(src + first * h * w, planes.count, h * w, dst + first, arg + first)
                if applyingReLU {
                    for i in planes { dst[i] = ReLUFunction.apply(dst[i]) }
                }
                return
            }
            for plane in planes {
                let xin = src + plane * h * w
                let yout = dst + plane * ho * wo, aout = arg + plane * ho * wo
                if k == 2 && s == 2 && cpu.avx512 {
                    fm_max_pool_2x2_planes_avx512(xin, 1, h, w, ho, wo, yout, aout)
                } else if k == 2 && s == 2 && cpu.avx2 {
                    // Swift's SIMD8 selects at the SSE2 baseline shuffle their masks about
                    // (no blend instruction), slower than the AVX2 build this replaces.
                    fm_max_pool_2x2_plane_avx2(xin, w, ho, wo, yout, aout)
                } else if k == 2 && s == 2 {
                    maxPool2x2Plane(xin, readable: (n * c - plane) * h * w, width: w, outHeight: ho, outWidth: wo, into: yout, argmax: aout)
                } else {
                    for oy in 0..<ho {
                        for ox in 0..<wo {
                            var best = oy * s * w + ox * s
                            var bestValue = xin[best]
                            for i in 0..<k {
                                let row = (oy * s + i) * w + ox * s
                                for j in 0..<k where beats(xin[row + j], bestValue) {
                                    bestValue = xin[row + j]
                                    best = row + j
                                }
                            }
                            yout[oy * wo + ox] = bestValue
                            aout[oy * wo + ox] = Int32(best)
                        }
                    }
                }
                // The plane's output is still in L1: the ReLU costs no pass over memory.
                if applyingReLU {
                    for i in 0..<(ho * wo) { yout[i] = ReLUFunction.apply(yout[i]) }
                }
            }
        }
    }}}
}

/// Whether `value` replaces `best` as a window's maximum: larger, or the first NaN.
@inline(__always)
private func beats(_ value: Float, _ best: Float) -> Bool {
    value > best || (value.isNaN && !best.isNaN)
}

/// The 2x2 stride-2 window (the nets' pools) over one plane, eight windows at a time (the
/// same eight-lane comparison for a row's last one to seven windows):
/// a row pair's even and odd columns are the four window positions, compared in the scalar
/// order (top-left, top-right, bottom-left, bottom-right) with `beats`' rule, so the values and
/// arg-maxes are those of the general loop. `readable`: how many floats from `xin` on belong to
/// the input (the rest of the tensor). Branch-free: the general loop's data-dependent
/// branches mispredicted on about half the windows (3.6 ms for a [128,32,32,32] input).
@inline(__always)
private func maxPool2x2Plane(_ xin: UnsafePointer<Float>, readable: Int, width w: Int, outHeight ho: Int, outWidth wo: Int,
                             into yout: UnsafeMutablePointer<Float>, argmax aout: UnsafeMutablePointer<Int32>) {
    let x = UnsafeRawPointer(xin), y = UnsafeMutableRawPointer(yout), a = UnsafeMutableRawPointer(aout)
    let w32 = Int32(w)
    for oy in 0..<ho {
        let top = 2 * oy * w, outRow = oy * wo
        var ox = 0
        while ox + 8 <= wo {
            let t = x.loadUnaligned(fromByteOffset: 4 * (top + 2 * ox), as: SIMD16<Float>.self)
            let b = x.loadUnaligned(fromByteOffset: 4 * (top + w + 2 * ox), as: SIMD16<Float>.self)
            let (best, offset) = windowMaxima(t.evenHalf, t.oddHalf, b.evenHalf, b.oddHalf, width: w32)
            let first = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14) &+ Int32(top + 2 * ox)
            y.storeBytes(of: best, toByteOffset: 4 * (outRow + ox), as: SIMD8<Float>.self)
            a.storeBytes(of: first &+ offset, toByteOffset: 4 * (outRow + ox), as: SIMD8<Int32>.self)
            ox += 8
        }
        // The last 1 to 7 windows of the row (an odd or short row: widths 15 and 7 in airbench)
        // still take one eight-lane step. The two input rows are read as full vectors where
        // they stay inside the tensor (`readable` floats from the plane's start; lanes past the
        // row read the next row or plane, and are dropped), else copied into zero-padded
        // vectors (the tensor's last row pair); the results are stored as a full vector where
        // the lanes past the row land on the next output row's places (which that row then
        // overwrites), else lane by lane.
        let rest = wo - ox
        if rest > 0 {
            let first = top + 2 * ox, second = first + w
            let t: SIMD16<Float>, b: SIMD16<Float>
            if second + 16 <= readable {
                t = x.loadUnaligned(fromByteOffset: 4 * first, as: SIMD16<Float>.self)
                b = x.loadUnaligned(fromByteOffset: 4 * second, as: SIMD16<Float>.self)
            } else {
                var top16 = SIMD16<Float>(), bottom16 = SIMD16<Float>()
                for j in 0..<(2 * rest) {
                    top16[j] = xin[first + j]
                    bottom16[j] = xin[second + j]
                }
                (t, b) = (top16, bottom16)
            }
            let (best, offset) = windowMaxima(t.evenHalf, t.oddHalf, b.evenHalf, b.oddHalf, width: w32)
            let index = SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14) &+ Int32(first) &+ offset
            if outRow + ox + 8 <= ho * wo {
                y.storeBytes(of: best, toByteOffset: 4 * (outRow + ox), as: SIMD8<Float>.self)
                a.storeBytes(of: index, toByteOffset: 4 * (outRow + ox), as: SIMD8<Int32>.self)
            } else {
                for j in 0..<rest {
                    yout[outRow + ox + j] = best[j]
                    aout[outRow + ox + j] = index[j]
                }
            }
        }
    }
}

/// Lane-wise maximum of four window positions in order, and the winner's offset from the
/// top-left one (0, 1, w, w + 1): a later position wins only if it `beats` the best so far.
@inline(__always)
private func windowMaxima(_ topLeft: SIMD8<Float>, _ topRight: SIMD8<Float>, _ bottomLeft: SIMD8<Float>,
                          _ bottomRight: SIMD8<Float>, width: Int32) -> (SIMD8<Float>, SIMD8<Int32>) {
    var best = topLeft
    var offset = SIMD8<Int32>()
    @inline(__always) func consider(_ value: SIMD8<Float>, _ position: Int32) {
        let wins = (value .> best) .| ((value .!= value) .& (best .== best))
        best.replace(with: value, where: wins)
        offset.replace(with: position, where: wins)
    }
    consider(topRight, 1)
    consider(bottomLeft, width)
    consider(bottomRight, width + 1)
    return (best, offset)
}

/// Routes `dy` [N,C,Ho,Wo] to the arg-max pixels recorded by the forward pass:
/// overwrites `dx` with shape `inputShape` [N,C,H,W]. Given the forward pass's `kernelSize` and
/// `stride`, the disjoint 2x2 stride-2 windows are written directly (each input pixel belongs to
/// at most one window) instead of zeroing `dx` and then adding. `reluOutput`: when the forward
/// pass applied ReLU, its output; a gradient then passes only where that output is positive.
public func maxPool2dBackward(gradOutput dy: Tensor, argmax: [Int32], inputShape: [Int],
                              kernelSize: Int? = nil, stride: Int? = nil, reluOutput: Tensor? = nil,
                              into dx: inout Tensor) {
    maxPool2dBackward(gradOutput: dy, argmax: argmax, inputShape: inputShape, kernelSize: kernelSize, stride: stride,
                      reluOutput: reluOutput, into: &dx, cpu: .enabled)
}

/// `maxPool2dBackward` on the paths `cpu` allows (the 2x2 stride-2 windows in C where it has
/// AVX-512, the same bits; tests compare the two).
package func maxPool2dBackward(gradOutput dy: Tensor, argmax: [Int32], inputShape: [Int],
                               kernelSize: Int? = nil, stride: Int? = nil, reluOutput: Tensor? = nil,
                               into dx: inout Tensor, cpu: CPUFeatures) {
    require(inputShape.count == 4 && dy.rank == 4 && argmax.count == dy.count,
                 "max pool backward: gradient \(dy.shape) does not match the forward pass")
    if dx.shape != inputShape { dx.resize(to: inputShape) }
    let planes = inputShape[0] * inputShape[1], h = inputShape[2], w = inputShape[3], inPlane = h * w
    let ho = dy.shape[2], wo = dy.shape[3], outPlane = ho * wo
    let disjoint2x2 = kernelSize == 2 && stride == 2, avx512 = cpu.avx512
    if let reluOutput { require(reluOutput.count == dy.count, "max pool backward: the ReLU output does not match the gradient") }
    if disjoint2x2 {
        require(ho == h / 2 && wo == w / 2, "max pool backward: gradient \(dy.shape) is not a 2x2/2 pool of \(inputShape)")
    }
    dy.withUnsafeBufferPointer { gp in
    argmax.withUnsafeBufferPointer { ap in
    dx.withUnsafeMutableBufferPointer { dp in
    withOptionalBuffer(reluOutput) { rp in
        let g = gp.baseAddress!, arg = ap.baseAddress!, d = dp.baseAddress!
        parallelFor(planes) { range in
            if disjoint2x2 && avx512 {
                let first = range.lowerBound
                fm_max_pool_2x2_backward_planes_avx512(g + first * outPlane, arg + first * outPlane,
                                                       rp.map { $0.baseAddress! + first * outPlane },
                                                       range.count, h, w, ho, wo, d + first * inPlane)
                return
            }
            for plane in range {
                let dxPlane = d + plane * inPlane
                let gPlane = g + plane * outPlane, argPlane = arg + plane * outPlane
                let reluPlane = rp.map { $0.baseAddress! + plane * outPlane }
                if disjoint2x2 {
                    maxPool2x2BackwardPlane(gPlane, argmax: argPlane, reluOutput: reluPlane, width: w, height: h,
                                            outHeight: ho, outWidth: wo, into: dxPlane)
                    continue
                }
                dxPlane.update(repeating: 0, count: inPlane)
                for o in 0..<outPlane {
                    dxPlane[Int(argPlane[o])] += reluPlane.map { $0[o] > 0 ? gPlane[o] : 0 } ?? gPlane[o]
                }
            }
        }
    }}}}
}

/// One plane of the 2x2 stride-2 backward: each window's four pixels get its gradient or zero
/// (by the recorded arg-max), and the row and column an odd size leaves outside every window get zero.
@inline(__always)
private func maxPool2x2BackwardPlane(_ g: UnsafePointer<Float>, argmax arg: UnsafePointer<Int32>,
                                     reluOutput relu: UnsafePointer<Float>?, width w: Int, height h: Int,
                                     outHeight ho: Int, outWidth wo: Int, into dx: UnsafeMutablePointer<Float>) {
    for oy in 0..<ho {
        let top = 2 * oy * w
        let topRow = dx + top, bottomRow = topRow + w
        let gRow = g + oy * wo, argRow = arg + oy * wo
        var ox = 0
        while ox + 8 <= wo {
            var value = UnsafeRawPointer(gRow + ox).loadUnaligned(as: SIMD8<Float>.self)
            if let relu {
                let output = UnsafeRawPointer(relu + oy * wo + ox).loadUnaligned(as: SIMD8<Float>.self)
                value = SIMD8<Float>().replacing(with: value, where: output .> 0)
            }
            // Offsets within the window as Float (exact: they are below 2^24), so the
            // comparisons are the float ones that compile to vector compares and blends.
            let offset = SIMD8<Float>(UnsafeRawPointer(argRow + ox).loadUnaligned(as: SIMD8<Int32>.self)
                &- (SIMD8<Int32>(0, 2, 4, 6, 8, 10, 12, 14) &+ Int32(top + 2 * ox)))
            let zero = SIMD8<Float>()
            let topLeft = zero.replacing(with: value, where: offset .== SIMD8(repeating: 0))
            let topRight = zero.replacing(with: value, where: offset .== SIMD8(repeating: 1))
            let bottomLeft = zero.replacing(with: value, where: offset .== SIMD8(repeating: Float(w)))
            let bottomRight = zero.replacing(with: value, where: offset .== SIMD8(repeating: Float(w + 1)))
            UnsafeMutableRawPointer(topRow + 2 * ox).storeBytes(of: interleave(topLeft, topRight), as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(bottomRow + 2 * ox).storeBytes(of: interleave(bottomLeft, bottomRight), as: SIMD16<Float>.self)
            ox += 8
        }
        while ox < wo {
            topRow[2 * ox] = 0
            topRow[2 * ox + 1] = 0
            bottomRow[2 * ox] = 0
            bottomRow[2 * ox + 1] = 0
            dx[Int(argRow[ox])] = relu.map { $0[oy * wo + ox] > 0 ? gRow[ox] : 0 } ?? gRow[ox]
            ox += 1
        }
        if w > 2 * wo {
            topRow[w - 1] = 0
            bottomRow[w - 1] = 0
        }
    }
    if h > 2 * ho { (dx + 2 * ho * w).update(repeating: 0, count: w) }
}

/// (a0, b0, a1, b1, ..., a7, b7): even lanes from `a`, odd lanes from `b`.
@inline(__always)
private func interleave(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD16<Float> {
    SIMD16(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3], a[4], b[4], a[5], b[5], a[6], b[6], a[7], b[7])
}

/// Max pooling of `x` [N,C,H,W] with a k x k window and stride s: [N,C,floor((H-k)/s)+1,floor((W-k)/s)+1].
/// Allocating convenience over `maxPool2dForward`.
public func maxPool2d(_ x: Tensor, kernelSize: Int, stride: Int) -> Tensor {
    var y = Tensor.empty
    var argmax: [Int32] = []
    maxPool2dForward(x, kernelSize: kernelSize, stride: stride, into: &y, argmax: &argmax)
    return y
}
