// 2-D convolution by direct loops: forward only, the same maths as Conv2d.swift
// (cross-correlation, zero padding, optional bias; x [N,C,H,W], weight [O,C,kh,kw] -> y [N,O,Ho,Wo]).
//
//   y[n,o,oy,:] = bias[o] + sum_{c,i,j} weight[o,c,i,j] * x[n, c, oy*s - p + i, (: )*s - p + j]
//
// Each output row is built in L1 by one scaled-row addition (axpy) per kernel tap, reading the
// input rows in place: no columns matrix. With few filters (the feature-map explorer's stacks:
// 1 to 3 filters on one photo) the im2col GEMM has only 1 to 3 rows, too few for the
// micro-kernel, and writing the columns matrix costs more than the arithmetic; see
// `conv2dPrefersDirect` for the measured crossover. Rows are split across threads.

/// Whether `conv2dForward` uses the direct loops: few output channels and long output rows.
/// Measured (Docs/KERNELS.md): direct is 1.3x to 5x faster with up to 8 filters on rows of 100
/// or more pixels, even at 16 input channels; as fast at 16 filters; 2x slower on rows of 28 to 62
/// pixels (CIFAR-sized maps), where the per-row loop overhead dominates.
func conv2dPrefersDirect(_ g: Conv2dGeometry) -> Bool {
    g.outChannels <= 8 && g.outWidth >= 96
}

/// Forward convolution by direct loops into `y` (resized to [N,O,Ho,Wo]).
public func conv2dDirect(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: Int, padding: Int, into y: inout Tensor) {
    let g = Conv2dGeometry(input: x.shape, weight: weight.shape, stride: stride, padding: padding)
    if let bias { require(bias.count == g.outChannels, "conv2d: bias has \(bias.count) elements, expected \(g.outChannels)") }
    y.resize(g.batch, g.outChannels, g.outHeight, g.outWidth)
    let biasValues = bias?.storage
    x.withUnsafeBufferPointer { xp in
    weight.withUnsafeBufferPointer { wp in
    y.withUnsafeMutableBufferPointer { yp in
        let src = xp.baseAddress!, w = wp.baseAddress!, out = yp.baseAddress!
        let rowsPerPlane = g.outHeight
        parallelFor(g.batch * g.outChannels * rowsPerPlane) { rows in
            for unit in rows {
                let plane = unit / rowsPerPlane, oy = unit % rowsPerPlane
                let n = plane / g.outChannels, o = plane % g.outChannels
                let dst = out + plane * g.outPlane + oy * g.outWidth
                dst.update(repeating: biasValues?[o] ?? 0, count: g.outWidth)
                for c in 0..<g.inChannels {
                    let inPlane = src + (n * g.inChannels + c) * g.height * g.width
                    let taps = w + (o * g.inChannels + c) * g.kernelHeight * g.kernelWidth
                    for i in 0..<g.kernelHeight {
                        let iy = oy * g.stride - g.padding + i
                        if iy < 0 || iy >= g.height { continue }
                        for j in 0..<g.kernelWidth {
                            let tap = taps[i * g.kernelWidth + j]
                            let (lo, hi) = validRange(tap: j, stride: g.stride, padding: g.padding,
                                                      inSize: g.width, outSize: g.outWidth)
                            let row = inPlane + iy * g.width - g.padding + j
                            if g.stride == 1 {
                                for ox in lo..<hi { dst[ox] += tap * row[ox] }
                            } else {
                                for ox in lo..<hi { dst[ox] += tap * row[ox * g.stride] }
                            }
                        }
                    }
                }
            }
        }
    }}}
}
